import { parseContract, ScheduleTick } from "../contracts/v1/index.ts";
import { parsePartition } from "../core/dates.ts";
import { NonRetriableError } from "../core/errors.ts";
import { runIdFor } from "../core/runid.ts";
import { encodePartition } from "../ledger/layout.ts";
import { runIsLive, settleInterrupted } from "./backfill.ts";
import { type OpsContext, workflowIdOf } from "./context.ts";
import { claimMarker, recordStarted } from "./markers.ts";

export type DispatchOutcome =
  | { action: "started"; pipeline: string; partition: string; runId: string; execution: string }
  | {
      action: "skipped";
      pipeline: string;
      partition: string;
      runId: string;
      reason: string;
      execution?: string;
    };

/**
 * A schedule tick becomes one Workflows execution of the pipeline with `{partition, params, runId}`.
 * A redelivered tick (same message id) starts nothing new; a tick for a partition that is running or done is
 * reported and skipped.
 */
export async function dispatchTick(
  ctx: OpsContext,
  data: unknown,
  messageId: string,
): Promise<DispatchOutcome> {
  const tick = parseContract(ScheduleTick, data, "schedule tick");
  const def = ctx.registry.get(tick.pipeline);
  const now = ctx.now();
  let partition: string;
  if (tick.partition !== undefined) {
    partition = parsePartition(def.partition.kind, tick.partition, "partition");
  } else if (def.partition.fromTick) {
    partition = def.partition.fromTick(now);
  } else {
    throw new NonRetriableError(`${def.id} has no default partition; the tick must name one`, {
      field: "partition",
      fix: "publish {pipeline, partition}",
    });
  }
  const schedule = def.schedules.find((s) => s.name === tick.schedule);
  const params = parseContract(
    def.params,
    { ...(schedule?.params ?? {}), ...tick.params },
    `params of ${def.id}`,
  ) as Record<string, unknown>;
  const runId = runIdFor(def.id, partition);
  const log = ctx.log.child({ pipeline: def.id, partition, runId });

  const current = await ctx.ledger.partitionState(def.id, partition);
  const interrupted =
    current?.state === "running" &&
    !(await runIsLive(ctx, { pipeline: def.id, partition, attempt: current.attempt }));
  if (current && !interrupted && (current.state === "running" || current.state === "succeeded")) {
    const reason = `partition is ${current.state} (attempt ${current.attempt}); a tick does not rerun it (use tessera run --force)`;
    log.info(`tick skipped: ${reason}`);
    return { action: "skipped", pipeline: def.id, partition, runId, reason };
  }

  if (interrupted) await settleInterrupted(ctx, def.id, [partition]);
  const markerName = `dispatch/${def.id}/${encodePartition(partition)}/${encodeURIComponent(messageId)}.json`;
  const decision = await claimMarker(ctx.state, markerName, now, ctx.takeoverSeconds ?? 120, { runId });
  if (!decision.start) {
    const reason = `redelivered tick ${messageId}: execution ${decision.marker.execution} was already started`;
    log.info(reason);
    return {
      action: "skipped",
      pipeline: def.id,
      partition,
      runId,
      reason,
      execution: decision.marker.execution,
    };
  }
  const execution = await ctx.workflows.execute(
    workflowIdOf(def),
    { partition, params, runId },
    { labels: { pipeline: def.id, run_id: runId, trigger: "schedule" } },
  );
  await recordStarted(ctx.state, markerName, ctx.now(), execution.name, { runId });
  log.info(`started ${execution.name}`);
  return { action: "started", pipeline: def.id, partition, runId, execution: execution.name };
}
