import type { PartitionState } from "../core/backfill.ts";
import { NonRetriableError } from "../core/errors.ts";
import type { BackfillSummary, PartitionStatus, RunDetails, RunEventRecord } from "../ledger/ledger.ts";
import { runIsLive } from "../ops/backfill.ts";
import { BACKFILL_WORKFLOW_ID, type OpsContext } from "../ops/context.ts";
import { backfillStatus } from "../ops/status.ts";
import type { PipelineDefinition } from "../pipelines/types.ts";
import { uncached } from "./cache.ts";
import type { ExecutionRecords, ExecutionView } from "./records.ts";

/**
 * Read-only views of the run ledger for the console, each built from the same listings `tessera status`
 * uses: one listing of `runs/<pipeline>/` per pipeline and one of `backfills/` for all of them, never a read
 * per partition (except for partitions the ledger calls running, whose execution is checked so that a
 * killed run reads `interrupted`, as the backfill planner says).
 */

export interface PartitionRow {
  partition: string;
  state: PartitionState;
  attempt: number;
  updated: string;
  runId?: string;
  reason?: string;
  backfillId?: string;
}

export interface PipelineOverview {
  pipeline: string;
  title: string;
  partitionKind: string;
  counts: Record<string, number>;
  total: number;
  latest?: PartitionRow;
  activeBackfills: number;
}

export interface PartitionFilter {
  state?: string;
  /** Partitions from this one on (string order: days, months and keys alike). */
  from?: string;
  /** Partitions up to this one, included. */
  to?: string;
  /** A substring of the partition or the reason. */
  text?: string;
  limit?: number;
  offset?: number;
}

export interface PartitionPage {
  pipeline: string;
  counts: Record<string, number>;
  /** Rows matching the filter, before paging. */
  total: number;
  offset: number;
  rows: PartitionRow[];
}

const PARTITION_STATES = new Set(["running", "interrupted", "succeeded", "failed", "cancelled"]);

function rowOf(partition: string, s: PartitionStatus): PartitionRow {
  const row: PartitionRow = { partition, state: s.state, attempt: s.attempt, updated: s.updated };
  if (s.runId) row.runId = s.runId;
  if (s.reason) row.reason = s.reason;
  if (s.backfillId) row.backfillId = s.backfillId;
  return row;
}

function countOf(rows: PartitionRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.state] = (counts[r.state] ?? 0) + 1;
  return counts;
}

/** Every partition of a pipeline that has an attempt, newest partition first; running ones checked for life. */
export async function partitionRows(ctx: OpsContext, pipeline: string): Promise<PartitionRow[]> {
  const def = ctx.registry.get(pipeline);
  const rows: PartitionRow[] = [];
  for (const [partition, s] of await ctx.ledger.partitionStates(def.id)) {
    let row = rowOf(partition, s);
    if (
      s.state === "running" &&
      !(await runIsLive(ctx, { pipeline: def.id, partition, attempt: s.attempt }))
    ) {
      // The listing may be the console's last one: the run may have ended since. Read this partition afresh.
      const now = await ctx.ledger.partitionState(def.id, partition);
      if (now && now.state !== "running") row = rowOf(partition, now);
      else row.state = "interrupted";
    }
    rows.push(row);
  }
  return rows.sort((a, b) => (a.partition < b.partition ? 1 : a.partition > b.partition ? -1 : 0));
}

/** One line per registered pipeline: counts by state, the newest partition, backfills still going. */
export async function overview(ctx: OpsContext): Promise<PipelineOverview[]> {
  const backfills = await ctx.ledger.listBackfills();
  // The ledger keeps saying `running` after a driver ends (see effectiveState): active means its driver is.
  const driving = new Set(
    (await ctx.workflows.list({ workflow: BACKFILL_WORKFLOW_ID, state: "ACTIVE" })).map(
      (e) => e.labels.backfill_id,
    ),
  );
  // One listing per pipeline, all at once: the listings wait on storage, not on each other.
  const defs = ctx.registry.list();
  const all = await Promise.all(defs.map((def) => partitionRows(ctx, def.id)));
  const out: PipelineOverview[] = [];
  for (const [i, def] of defs.entries()) {
    const rows = all[i];
    out.push({
      pipeline: def.id,
      title: def.title,
      partitionKind: def.partition.kind,
      counts: countOf(rows),
      total: rows.length,
      latest: rows[0],
      activeBackfills: backfills.filter(
        (b) =>
          b.pipeline === def.id &&
          (b.state === "planned" || (b.state === "running" && driving.has(b.backfillId))),
      ).length,
    });
  }
  return out;
}

export function checkFilter(filter: PartitionFilter): PartitionFilter {
  if (filter.state && !PARTITION_STATES.has(filter.state))
    throw new NonRetriableError(`state "${filter.state}" is not a partition state`, {
      field: "state",
      fix: `use one of ${[...PARTITION_STATES].join(", ")}`,
    });
  if (filter.from && filter.to && filter.from > filter.to)
    throw new NonRetriableError(`from ${filter.from} is after to ${filter.to}`, {
      field: "from",
      fix: "swap the two dates",
    });
  for (const key of ["limit", "offset"] as const) {
    const v = filter[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 10_000))
      throw new NonRetriableError(`${key} must be an integer from 0 to 10000`, { field: key });
  }
  return filter;
}

/** The partitions of one pipeline matching a filter, one page of them, with the counts of all. */
export async function partitionPage(
  ctx: OpsContext,
  pipeline: string,
  filter: PartitionFilter = {},
): Promise<PartitionPage> {
  checkFilter(filter);
  const all = await partitionRows(ctx, pipeline);
  const text = filter.text?.toLowerCase();
  const matching = all.filter(
    (r) =>
      (!filter.state || r.state === filter.state) &&
      (!filter.from || r.partition >= filter.from) &&
      (!filter.to || r.partition <= filter.to || r.partition.startsWith(filter.to)) &&
      (!text || r.partition.toLowerCase().includes(text) || (r.reason ?? "").toLowerCase().includes(text)),
  );
  const offset = filter.offset ?? 0;
  const limit = filter.limit ?? 200;
  return {
    pipeline,
    counts: countOf(all),
    total: matching.length,
    offset,
    rows: matching.slice(offset, offset + limit),
  };
}

export interface BackfillRow extends BackfillSummary {
  /** Only for backfills still going: partitions done of those to run. */
  progress?: { done: number; total: number; counts: Record<string, number> };
}

/** Backfills newest first; the ones still going carry their progress (their plan joined with the ledger). */
export async function backfillRows(
  ctx: OpsContext,
  filter: { pipeline?: string; state?: string; limit?: number } = {},
): Promise<BackfillRow[]> {
  const all = await ctx.ledger.listBackfills({
    pipeline: filter.pipeline || undefined,
    state: (filter.state || undefined) as BackfillSummary["state"] | undefined,
  });
  const rows: BackfillRow[] = all.slice(0, filter.limit ?? 100);
  for (const row of rows) {
    if (row.state !== "running" && row.state !== "planned") continue;
    const s = await backfillStatus(ctx, row.backfillId);
    if (!s) continue;
    row.progress = progressOf(s.partitions);
    Object.assign(row, effectiveState(s, row.progress));
  }
  return rows;
}

/**
 * The backfill driver returns its summary but does not record its end in the ledger, which keeps saying
 * `running`; once the driver execution has ended, its end (and the partitions' outcome) is the state.
 */
export function effectiveState(
  s: { state: string; reason?: string; driver?: { state: string; error?: unknown } },
  progress: { counts: Record<string, number> },
): { state: BackfillSummary["state"]; reason?: string } {
  const state = s.state as BackfillSummary["state"];
  if ((state !== "running" && state !== "planned") || !s.driver || s.driver.state === "ACTIVE")
    return { state, reason: s.reason };
  if (s.driver.state === "CANCELLED")
    return { state: "cancelled", reason: "the driver execution was cancelled" };
  if (s.driver.state !== "SUCCEEDED")
    return {
      state: "failed",
      reason: `the driver execution ${s.driver.state.toLowerCase()}: ${
        typeof s.driver.error === "string" ? s.driver.error : JSON.stringify(s.driver.error ?? "")
      }`,
    };
  const bad = (progress.counts.failed ?? 0) + (progress.counts.cancelled ?? 0);
  return bad > 0
    ? { state: "failed", reason: `${bad} partition(s) failed or were cancelled` }
    : { state: "succeeded" };
}

export function progressOf(partitions: { state: string; action?: string }[]): {
  done: number;
  total: number;
  counts: Record<string, number>;
} {
  const planned = partitions.filter((p) => p.action !== "skip");
  const counts: Record<string, number> = {};
  for (const p of planned) counts[p.state] = (counts[p.state] ?? 0) + 1;
  const done = (counts.succeeded ?? 0) + (counts.failed ?? 0) + (counts.cancelled ?? 0);
  return { done, total: planned.length, counts };
}

/** A backfill's status (plan joined with the ledger), its request and its progress. */
export async function backfillDetail(ctx: OpsContext, backfillId: string) {
  let status = await backfillStatus(ctx, backfillId);
  if (!status) return undefined;
  // Its driver has ended: the last word on its partitions must not come from a cached listing.
  if (status.driver && status.driver.state !== "ACTIVE" && uncached(ctx.ledger) !== ctx.ledger)
    status = (await backfillStatus({ ...ctx, ledger: uncached(ctx.ledger) }, backfillId)) ?? status;
  const record = await ctx.ledger.getBackfill(backfillId);
  const progress = progressOf(status.partitions);
  return {
    ...status,
    ...effectiveState(status, progress),
    ledgerState: status.state,
    createdAt: record?.createdAt,
    request: record?.request,
    plan: record?.plan,
    progress,
  };
}

export interface AttemptView {
  attempt: number;
  state: string;
  reason?: string;
  claimedAt: string;
  startedAt?: string;
  updated: string;
  backfillId?: string;
  runId?: string;
  force: boolean;
  params?: Record<string, unknown>;
  events: RunEventRecord[];
  executions: ExecutionView[];
}

export interface RunTimeline {
  pipeline: string;
  partition: string;
  state: string;
  /** The latest attempt's failure or cancel reason, whole. */
  reason?: string;
  attempts: AttemptView[];
}

async function executionView(
  ctx: OpsContext,
  records: ExecutionRecords | undefined,
  def: PipelineDefinition,
  name: string,
  claimedAt: string,
): Promise<ExecutionView> {
  let view: ExecutionView;
  try {
    const e = await ctx.workflows.get(name);
    view = {
      name: e.name,
      workflow: e.workflow,
      state: e.state,
      startTime: e.startTime,
      endTime: e.endTime,
      error: e.error,
      steps: [],
      logs: [],
      jobs: [],
    };
  } catch (err) {
    return {
      name,
      workflow: "",
      state: "UNKNOWN",
      startTime: claimedAt,
      error: `the execution could not be read: ${(err as Error).message}`,
      steps: [],
      logs: [],
      jobs: [],
    };
  }
  const detail = records ? await records.detail(view, def) : undefined;
  return detail ? { ...view, ...detail } : view;
}

/**
 * Everything known about one partition: each attempt (newest first) with its ledger record and events, its
 * workflow execution(s) with the step history and logs, and the job executions they ran with their tasks,
 * retries and log tails (where the records reader can see them: the local twin).
 */
export async function runTimeline(
  ctx: OpsContext,
  records: ExecutionRecords | undefined,
  pipeline: string,
  partition: string,
): Promise<RunTimeline | undefined> {
  const def = ctx.registry.get(pipeline);
  const latest = await ctx.ledger.partitionState(def.id, partition);
  if (!latest) return undefined;
  const attempts: AttemptView[] = [];
  for (let n = latest.attempt; n >= 1; n--) {
    const key = { pipeline: def.id, partition, attempt: n };
    const run: RunDetails | undefined = await ctx.ledger.getRun(key);
    if (!run) continue;
    const events = await ctx.ledger.events(key);
    const names = [
      ...new Set(
        events
          .map((e) => (e.data as { execution?: unknown } | undefined)?.execution)
          .filter((x): x is string => typeof x === "string"),
      ),
    ];
    const executions: ExecutionView[] = [];
    for (const name of names) executions.push(await executionView(ctx, records, def, name, run.claimedAt));
    attempts.push({
      attempt: n,
      state: run.state,
      reason: run.reason,
      claimedAt: run.claimedAt,
      startedAt: run.startedAt,
      updated: run.updated,
      backfillId: run.backfillId,
      runId: run.runId,
      force: run.force,
      params: run.params,
      events,
      executions,
    });
  }
  let state: string = latest.state;
  if (
    latest.state === "running" &&
    !(await runIsLive(ctx, { pipeline: def.id, partition, attempt: latest.attempt }))
  )
    state = "interrupted";
  return { pipeline: def.id, partition, state, reason: attempts[0]?.reason, attempts };
}
