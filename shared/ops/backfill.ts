import { BackfillRequest, parseContract } from "../contracts/v1/index.ts";
import { type BackfillPlan, type PartitionState, partitionsToRun, planBackfill } from "../core/backfill.ts";
import { isNonRetriable, RetryableError, reasonOf } from "../core/errors.ts";
import type { BackfillRecord } from "../ledger/ledger.ts";
import { BACKFILL_WORKFLOW_ID, type OpsContext, workflowIdOf } from "./context.ts";

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
  const events = await ctx.ledger.events(run);
  const execution = events
    .map((e) => (e.data as { execution?: string } | undefined)?.execution)
    .find((x) => typeof x === "string");
  if (!execution) {
    const details = await ctx.ledger.getRun(run);
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

export type { BackfillRecord };
export { partitionsToRun };
