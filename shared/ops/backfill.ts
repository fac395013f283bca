import { z } from "zod";
import { BackfillRequest, parseContract } from "../contracts/v1/index.ts";
import { type BackfillPlan, type PartitionState, partitionsToRun, planBackfill } from "../core/backfill.ts";
import { isNonRetriable, NonRetriableError, RetryableError, reasonOf } from "../core/errors.ts";
import type { BackfillRecord, BackfillState } from "../ledger/ledger.ts";
import { BACKFILL_WORKFLOW_ID, type OpsContext, workflowIdOf } from "./context.ts";
import { reasonOfWorkflowError } from "./runs.ts";

export type BackfillOutcome =
  | { action: "planned"; plan: BackfillPlan }
  | { action: "started"; plan: BackfillPlan; execution?: string }
  | { action: "duplicate"; plan: BackfillPlan; state: string };

/**
 * The ledger's partition states of a pipeline as plan states (one listing). A partition the ledger calls
 * running is checked against its execution; if that ended without recording a result, it is `interrupted`.
 */
export async function planStates(ctx: OpsContext, pipeline: string): Promise<Map<string, PartitionState>> {
  const out = new Map<string, PartitionState>();
  for (const [partition, status] of await ctx.ledger.partitionStates(pipeline)) {
    out.set(
      partition,
      status.state === "running" && !(await runIsLive(ctx, { pipeline, partition, attempt: status.attempt }))
        ? "interrupted"
        : status.state,
    );
  }
  return out;
}

/** A claim with no execution recorded this long after it was made belongs to a process that died in between. */
const UNBOUND_CLAIM_SECONDS = 120;

/** Whether a running attempt's workflow execution (recorded at claim time) is still active. */
export async function runIsLive(
  ctx: OpsContext,
  run: { pipeline: string; partition: string; attempt: number },
): Promise<boolean> {
  const details = await ctx.ledger.getRun(run);
  // The claim names its execution; attempts claimed before it did have it in their events.
  const execution =
    details?.execution ??
    (await ctx.ledger.events(run))
      .map((e) => (e.data as { execution?: string } | undefined)?.execution)
      .find((x) => typeof x === "string");
  if (!execution) {
    return !details || (ctx.now().getTime() - Date.parse(details.claimedAt)) / 1000 < UNBOUND_CLAIM_SECONDS;
  }
  try {
    return (await ctx.workflows.get(execution)).state === "ACTIVE";
  } catch {
    return false;
  }
}

/**
 * Record the interrupted attempts of these partitions as cancelled (their executions ended without a word),
 * so that the next claim starts a fresh attempt. The ledger never lets a claim take over a running attempt.
 */
export async function settleInterrupted(
  ctx: OpsContext,
  pipeline: string,
  partitions: string[],
): Promise<void> {
  if (partitions.length === 0) return;
  const states = await ctx.ledger.partitionStates(pipeline);
  for (const partition of partitions) {
    const s = states.get(partition);
    if (s?.state !== "running") continue;
    await ctx.ledger.cancel(
      { pipeline, partition, attempt: s.attempt },
      "interrupted: its execution ended without recording a result",
    );
  }
}

/** Validate and plan a backfill request; nothing is written. */
export async function planRequest(ctx: OpsContext, data: unknown): Promise<BackfillPlan> {
  const request = parseContract(BackfillRequest, data, "backfill request");
  const def = ctx.registry.get(request.pipeline);
  const params = parseContract(def.params, request.params, `params of ${def.id}`) as Record<string, unknown>;
  const states = await planStates(ctx, def.id);
  return planBackfill(def, { ...request, params }, states, {
    now: ctx.now(),
    maxPartitions: ctx.maxPartitions,
  });
}

/** Deal partitions round-robin into `lanes` lanes, keeping the plan's order within and across lanes. */
export function lanesOf<T>(items: T[], lanes: number): T[][] {
  const n = Math.max(1, Math.min(lanes, items.length));
  const out: T[][] = Array.from({ length: n }, () => []);
  for (const [i, item] of items.entries()) out[i % n].push(item);
  return out;
}

/**
 * Accept a backfill request: plan it against the ledger, record it (the same requestId twice yields one
 * backfill), and start one driver execution of `backfill.workflows.yaml`. A dry run only plans.
 */
export async function acceptBackfill(ctx: OpsContext, data: unknown): Promise<BackfillOutcome> {
  const request = parseContract(BackfillRequest, data, "backfill request");
  const plan = await planRequest(ctx, data);
  const log = ctx.log.child({ pipeline: plan.pipeline, backfillId: plan.backfillId });
  if (request.dryRun) {
    log.info(
      `dry run: ${plan.counts.run} to run, ${plan.counts.rerun} to rerun, ${plan.counts.skip} skipped`,
    );
    return { action: "planned", plan };
  }
  const put = await ctx.ledger.putBackfill({
    backfillId: plan.backfillId,
    pipeline: plan.pipeline,
    request,
    plan,
    state: "planned",
  });
  let effective = plan;
  if (!put.created) {
    const existing = put.existing;
    effective = existing.plan as BackfillPlan;
    if (existing.state !== "planned") {
      log.info(
        `request ${request.requestId} was received before; backfill ${plan.backfillId} is ${existing.state}`,
      );
      return { action: "duplicate", plan: effective, state: existing.state };
    }
    const age = (ctx.now().getTime() - Date.parse(existing.updated)) / 1000;
    const takeover = ctx.takeoverSeconds ?? 120;
    if (age < takeover) {
      throw new RetryableError(`backfill ${plan.backfillId} is being started by another delivery`, {
        retryAfter: Math.ceil(takeover - age),
      });
    }
    log.warn(
      `backfill ${plan.backfillId} was recorded ${Math.round(age)} s ago but never started; starting it now`,
    );
  }
  try {
    return { action: "started", plan: effective, execution: await startDriver(ctx, effective) };
  } catch (err) {
    // A driver that can never start (an invalid workflow, a removed pipeline) fails the backfill for good;
    // a transient fault leaves it planned, and the redelivery takes it over.
    if (isNonRetriable(err))
      await ctx.ledger.setBackfillState(
        effective.backfillId,
        "failed",
        `the driver could not start: ${reasonOf(err)}`,
      );
    throw err;
  }
}

/** Start the driver execution of a recorded plan and mark the backfill running. */
export async function startDriver(ctx: OpsContext, plan: BackfillPlan): Promise<string | undefined> {
  const def = ctx.registry.get(plan.pipeline);
  const items = plan.entries
    .filter((e) => e.action !== "skip")
    .map((e) => ({ partition: e.partition, force: e.state === "succeeded" }));
  await settleInterrupted(
    ctx,
    plan.pipeline,
    plan.entries.filter((e) => e.state === "interrupted").map((e) => e.partition),
  );
  if (items.length === 0) {
    await ctx.ledger.setBackfillState(
      plan.backfillId,
      "succeeded",
      "nothing to run: every partition was skipped (see the plan)",
    );
    return undefined;
  }
  const execution = await ctx.workflows.execute(
    BACKFILL_WORKFLOW_ID,
    {
      backfillId: plan.backfillId,
      pipeline: plan.pipeline,
      workflow: workflowIdOf(def),
      lanes: lanesOf(items, plan.maxConcurrent),
      params: plan.params,
      pollSeconds: ctx.pollSeconds ?? 10,
    },
    { labels: { backfill_id: plan.backfillId, pipeline: plan.pipeline, role: "driver" } },
  );
  await ctx.ledger.setBackfillState(plan.backfillId, "running");
  ctx.log.info(
    `backfill ${plan.backfillId}: driver ${execution.name} runs ${items.length} partition(s) in ${Math.min(plan.maxConcurrent, items.length)} lane(s)`,
  );
  return execution.name;
}

/**
 * The driver's summary (what `backfill.workflows.yaml` returns and posts to the runs function's `/backfill-end`),
 * built on first use: a cold start that does not end a backfill does not build it.
 */
const buildDriverSummary = () =>
  z.object({
    backfillId: z.string().min(1),
    pipeline: z.string().optional(),
    succeeded: z.number().int().min(0),
    failed: z.number().int().min(0),
    cancelled: z.number().int().min(0),
    skipped: z.number().int().min(0).default(0),
    failures: z
      .array(
        z.object({ partition: z.string(), state: z.string().optional(), reason: z.unknown().optional() }),
      )
      .default([]),
    cancelledPartitions: z.array(z.string()).default([]),
  });
let driverSummary: ReturnType<typeof buildDriverSummary> | undefined;
const DriverSummary = z.lazy(() => (driverSummary ??= buildDriverSummary()));

export interface BackfillEnd {
  backfillId: string;
  state: BackfillState;
  reason?: string;
  /** false when the backfill had already ended: the earlier end holds and nothing was written. */
  recorded: boolean;
}

const NAMED_FAILURES = 20;

/** The terminal state a driver summary means: failed if any partition failed, else cancelled if any was, else succeeded. */
export function backfillEndOf(summary: z.infer<typeof DriverSummary>): {
  state: BackfillState;
  reason: string;
} {
  const done = `${summary.succeeded} succeeded, ${summary.skipped} skipped`;
  if (summary.failed > 0) {
    const named = summary.failures
      .slice(0, NAMED_FAILURES)
      .map((f) => {
        const why =
          typeof f.reason === "string" ? f.reason : f.reason === undefined ? "" : JSON.stringify(f.reason);
        return why ? `${f.partition} (${why.slice(0, 120)})` : f.partition;
      })
      .join(", ");
    const more =
      summary.failures.length > NAMED_FAILURES ? ` and ${summary.failures.length - NAMED_FAILURES} more` : "";
    return {
      state: "failed",
      reason: `${summary.failed} partition(s) failed: ${named}${more}; ${done}, ${summary.cancelled} cancelled`,
    };
  }
  if (summary.cancelled > 0) {
    const named = summary.cancelledPartitions.slice(0, NAMED_FAILURES).join(", ");
    return {
      state: "cancelled",
      reason: `${summary.cancelled} partition(s) cancelled${named ? `: ${named}` : ""}; ${done}`,
    };
  }
  return { state: "succeeded", reason: done };
}

/**
 * The backfill driver's last step (`POST /backfill-end` of the runs function): record the backfill's terminal
 * state from its summary, once. A redelivered or re-run driver, or a driver ending after an operator's cancel,
 * changes nothing: the first terminal state holds.
 */
export async function finishBackfill(ctx: OpsContext, data: unknown): Promise<BackfillEnd> {
  const parsed = DriverSummary.safeParse(data);
  if (!parsed.success)
    throw new NonRetriableError(
      `backfill end: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      {
        field: "backfill end",
        fix: "post the driver's summary {backfillId, succeeded, failed, cancelled, skipped, failures}",
      },
    );
  const summary = parsed.data;
  const end = backfillEndOf(summary);
  const r = await ctx.ledger.setBackfillState(summary.backfillId, end.state, end.reason);
  const log = ctx.log.child({ backfillId: summary.backfillId });
  if (r.recorded) log.info(`backfill ${summary.backfillId} ${end.state}: ${end.reason}`);
  else
    log.info(
      `backfill ${summary.backfillId} had already ended ${r.state}; its driver's end (${end.state}) changes nothing`,
    );
  return { backfillId: summary.backfillId, state: r.state, reason: r.reason, recorded: r.recorded };
}

/**
 * Settle a backfill whose ledger state is still planned or running although no driver is active any more
 * (the driver could not post its end: it was killed, failed, or the runs function was unreachable): record
 * the terminal state its last driver execution implies. Returns the end, or undefined when it is still going
 * (or was never started). Idempotent, like `finishBackfill`.
 */
export async function settleBackfill(ctx: OpsContext, backfillId: string): Promise<BackfillEnd | undefined> {
  const record = await ctx.ledger.getBackfill(backfillId);
  if (!record) return undefined;
  if (record.state !== "running" && record.state !== "planned") return undefined;
  const drivers = await ctx.workflows.list({
    workflow: BACKFILL_WORKFLOW_ID,
    labels: { backfill_id: backfillId, role: "driver" },
  });
  if (drivers.length === 0 || drivers.some((d) => d.state === "ACTIVE")) return undefined;
  const last = [...drivers].sort((a, b) =>
    (b.endTime ?? b.startTime).localeCompare(a.endTime ?? a.startTime),
  )[0];
  const d = await ctx.workflows.get(last.name);
  if (d.state === "SUCCEEDED") {
    const result = typeof d.result === "string" ? safeJson(d.result) : d.result;
    const summary = DriverSummary.safeParse({ backfillId, ...(result as object) });
    if (summary.success) return finishBackfill(ctx, { ...summary.data, backfillId });
  }
  const state: BackfillState = d.state === "CANCELLED" ? "cancelled" : "failed";
  const reason =
    d.state === "SUCCEEDED"
      ? `the driver ${d.name} ended without a readable summary`
      : `the driver ${d.name} ended ${d.state}${d.error ? `: ${reasonOfWorkflowError(d.error)}` : ""}`;
  const r = await ctx.ledger.setBackfillState(backfillId, state, reason);
  return { backfillId, state: r.state, reason: r.reason, recorded: r.recorded };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export type { BackfillRecord };
export { partitionsToRun };
