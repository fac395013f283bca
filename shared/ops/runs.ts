import { parseContract, RunClaim, RunFinish } from "../contracts/v1/index.ts";
import { parsePartition } from "../core/dates.ts";
import { reasonOf } from "../core/errors.ts";
import { runIdFor } from "../core/runid.ts";
import type { OpsContext } from "./context.ts";
import { publishRunEvent } from "./events.ts";

export type ClaimOutcome =
  | { claimed: true; pipeline: string; partition: string; runId: string; attempt: number }
  | {
      claimed: false;
      skipped: true;
      pipeline: string;
      partition: string;
      runId: string;
      state: string;
      attempt: number;
      reason: string;
    };

/**
 * A pipeline workflow's first step: claim the run in the ledger. Exactly one of many concurrent claimers
 * wins; the others are told the partition's state, and the workflow returns `{skipped: true, ...}`.
 */
export async function claimRun(ctx: OpsContext, data: unknown): Promise<ClaimOutcome> {
  const claim = parseContract(RunClaim, data, "run claim");
  const def = ctx.registry.get(claim.pipeline);
  const partition = parsePartition(def.partition.kind, claim.partition, "partition");
  parseContract(def.params, claim.params, `params of ${def.id}`);
  const runId = claim.runId ?? runIdFor(def.id, partition);
  const result = await ctx.ledger.claim({
    pipeline: def.id,
    partition,
    runId,
    force: claim.force,
    backfillId: claim.backfillId,
    params: claim.params,
    execution: claim.execution,
  });
  const log = ctx.log.child({ pipeline: def.id, partition, runId });
  if (!result.claimed) {
    log.info(`not claimed: ${result.reason}`);
    await publishRunEvent(ctx, {
      type: "run.skipped",
      pipeline: def.id,
      partition,
      runId,
      attempt: result.attempt,
      backfillId: claim.backfillId,
      reason: result.reason,
    });
    return {
      claimed: false,
      skipped: true,
      pipeline: def.id,
      partition,
      runId,
      state: result.state,
      attempt: result.attempt,
      reason: result.reason,
    };
  }
  await ctx.ledger.markRunning(result.run);
  if (claim.execution)
    await ctx.ledger.appendEvent(result.run, {
      type: "execution",
      message: claim.execution,
      data: { execution: claim.execution },
    });
  log.info(`claimed attempt ${result.attempt}`);
  await publishRunEvent(ctx, {
    type: "run.started",
    pipeline: def.id,
    partition,
    runId,
    attempt: result.attempt,
    backfillId: claim.backfillId,
  });
  return { claimed: true, pipeline: def.id, partition, runId, attempt: result.attempt };
}

/** A pipeline workflow's last step (or its `except` branch): record how the attempt ended. */
export async function finishRun(ctx: OpsContext, data: unknown): Promise<{ recorded: true }> {
  const finish = parseContract(RunFinish, data, "run finish");
  const def = ctx.registry.get(finish.pipeline);
  const partition = parsePartition(def.partition.kind, finish.partition, "partition");
  const run = { pipeline: def.id, partition, attempt: finish.attempt };
  const reason =
    finish.reason === undefined
      ? undefined
      : typeof finish.reason === "string"
        ? finish.reason
        : reasonOfWorkflowError(finish.reason);
  if (finish.state === "succeeded") await ctx.ledger.succeed(run);
  else if (finish.state === "failed") await ctx.ledger.fail(run, reason ?? "failed without a reason");
  else await ctx.ledger.cancel(run, reason);
  const runId = runIdFor(def.id, partition);
  ctx.log
    .child({ pipeline: def.id, partition, runId })
    .info(`attempt ${finish.attempt} ${finish.state}${reason ? `: ${reason}` : ""}`);
  await publishRunEvent(ctx, {
    type:
      finish.state === "succeeded"
        ? "run.succeeded"
        : finish.state === "failed"
          ? "run.failed"
          : "run.cancelled",
    pipeline: def.id,
    partition,
    runId,
    attempt: finish.attempt,
    backfillId: finish.backfillId,
    reason,
  });
  return { recorded: true };
}

/** A Workflows error map (`{message, tags, operation, ...}`) as one line. */
export function reasonOfWorkflowError(error: unknown): string {
  if (error && typeof error === "object") {
    const e = error as Record<string, unknown>;
    const tags = Array.isArray(e.tags) ? `[${e.tags.join(", ")}] ` : "";
    if (typeof e.message === "string") return `${tags}${e.message}`;
  }
  return reasonOf(error);
}
