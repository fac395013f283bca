import type { BackfillPlan, PartitionState } from "../core/backfill.ts";
import type { BackfillSummary, PartitionStatus } from "../ledger/ledger.ts";
import { settleBackfill } from "./backfill.ts";
import { BACKFILL_WORKFLOW_ID, type OpsContext } from "./context.ts";

export interface PartitionRow {
  partition: string;
  state: PartitionState;
  attempt?: number;
  updated?: string;
  reason?: string;
  backfillId?: string;
  /** For a backfill: what the plan said to do. */
  action?: string;
}

export interface PipelineStatus {
  pipeline: string;
  counts: Record<string, number>;
  partitions: PartitionRow[];
  backfills: BackfillSummary[];
}

export interface BackfillStatus {
  backfillId: string;
  pipeline: string;
  state: string;
  reason?: string;
  counts: Record<string, number>;
  partitions: PartitionRow[];
  driver?: { name: string; state: string; result?: unknown; error?: unknown };
}

function row(partition: string, s: PartitionStatus | undefined): PartitionRow {
  if (!s) return { partition, state: "missing" };
  return {
    partition,
    state: s.state,
    attempt: s.attempt,
    updated: s.updated,
    reason: s.reason,
    backfillId: s.backfillId,
  };
}

function count(rows: PartitionRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.state] = (counts[r.state] ?? 0) + 1;
  return counts;
}

/** Counts by state and every partition that ran (one ledger listing per pipeline), newest partition first. */
export async function pipelineStatus(
  ctx: OpsContext,
  pipeline: string,
  options: { since?: string } = {},
): Promise<PipelineStatus> {
  const def = ctx.registry.get(pipeline);
  const states = await ctx.ledger.partitionStates(def.id);
  let rows = [...states].map(([p, s]) => row(p, s));
  if (options.since)
    rows = rows.filter((r) => r.partition >= options.since! || (r.updated ?? "") >= options.since!);
  rows.sort((a, b) => (a.partition < b.partition ? 1 : a.partition > b.partition ? -1 : 0));
  const backfills = await ctx.ledger.listBackfills({ pipeline: def.id });
  // A backfill still marked running whose driver has ended is settled here (see settleBackfill).
  for (const b of backfills) {
    if (b.state !== "running") continue;
    const end = await settleBackfill(ctx, b.backfillId);
    if (end) Object.assign(b, { state: end.state, reason: end.reason });
  }
  return { pipeline: def.id, counts: count(rows), partitions: rows, backfills };
}

/** A backfill's plan joined with the current state of each of its partitions. */
export async function backfillStatus(
  ctx: OpsContext,
  backfillId: string,
): Promise<BackfillStatus | undefined> {
  let record = await ctx.ledger.getBackfill(backfillId);
  if (!record) return undefined;
  if (record.state === "running" && (await settleBackfill(ctx, backfillId)))
    record = (await ctx.ledger.getBackfill(backfillId)) ?? record;
  const plan = record.plan as BackfillPlan;
  const states = await ctx.ledger.partitionStates(record.pipeline);
  const partitions = plan.entries.map((e) => {
    const r = row(e.partition, states.get(e.partition));
    // A skipped partition keeps the state it had; a planned one that has not started yet is "pending".
    if (
      e.action !== "skip" &&
      (r.state === "missing" ||
        (r.backfillId !== backfillId && r.state === e.state && !(r.updated && r.updated > record.createdAt)))
    ) {
      return { ...r, state: "pending" as PartitionState, action: e.action };
    }
    return { ...r, action: e.action, reason: r.reason ?? e.reason };
  });
  const drivers = await ctx.workflows.list({
    workflow: BACKFILL_WORKFLOW_ID,
    labels: { backfill_id: backfillId, role: "driver" },
  });
  const d = drivers[0] ? await ctx.workflows.get(drivers[0].name) : undefined;
  return {
    backfillId,
    pipeline: record.pipeline,
    state: record.state,
    reason: record.reason,
    counts: count(partitions),
    partitions,
    driver: d ? { name: d.name, state: d.state, result: d.result, error: d.error } : undefined,
  };
}
