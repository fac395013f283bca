import { NonRetriableError } from "../core/errors.ts";
import type { OpsContext } from "./context.ts";
import { publishRunEvent } from "./events.ts";

export interface CancelOutcome {
  cancelledExecutions: string[];
  cancelledRuns: { pipeline: string; partition: string; attempt: number }[];
}

/**
 * Stop a whole backfill: the driver first (so it starts nothing more), then every running child execution
 * (which stops their jobs), then mark the backfill's running attempts cancelled in the ledger (a cancelled
 * execution cannot run its own `except` branch) and the backfill itself.
 */
export async function cancelBackfill(
  ctx: OpsContext,
  backfillId: string,
  reason = "cancelled by an operator",
): Promise<CancelOutcome> {
  const record = await ctx.ledger.getBackfill(backfillId);
  if (!record)
    throw new NonRetriableError(`no backfill ${backfillId}`, {
      field: "backfill",
      fix: "`tessera status PIPELINE` lists the backfills",
    });
  const active = await ctx.workflows.list({ labels: { backfill_id: backfillId }, state: "ACTIVE" });
  active.sort((a, b) => Number(b.labels.role === "driver") - Number(a.labels.role === "driver"));
  const cancelledExecutions: string[] = [];
  for (const e of active) {
    await ctx.workflows.cancel(e.name);
    cancelledExecutions.push(e.name);
  }
  const cancelledRuns = [];
  for (const run of await ctx.ledger.listRuns({ pipeline: record.pipeline, backfillId, state: "running" })) {
    const key = { pipeline: run.pipeline, partition: run.partition, attempt: run.attempt };
    try {
      await ctx.ledger.cancel(key, reason);
    } catch (err) {
      // The run ended between the listing and now (its job finished as the driver stopped): it keeps the
      // state it ended with; only a run still running is an error to report.
      const now = await ctx.ledger.getRun(key);
      if (now && now.state !== "running") continue;
      throw err;
    }
    cancelledRuns.push(key);
    await publishRunEvent(ctx, {
      type: "run.cancelled",
      pipeline: run.pipeline,
      partition: run.partition,
      runId: run.runId ?? "",
      attempt: run.attempt,
      backfillId,
      reason,
    });
  }
  // A backfill that had already ended keeps its end (the ledger records one terminal state).
  const end = await ctx.ledger.setBackfillState(backfillId, "cancelled", reason);
  ctx.log.notice(
    end.recorded
      ? `backfill ${backfillId} cancelled: ${cancelledExecutions.length} execution(s), ${cancelledRuns.length} run(s)`
      : `backfill ${backfillId} had already ended ${end.state}; ${cancelledExecutions.length} execution(s), ${cancelledRuns.length} run(s) cancelled`,
  );
  return { cancelledExecutions, cancelledRuns };
}

/** Stop one run: its workflow execution (recorded at claim time) and its ledger attempt. */
export async function cancelRun(
  ctx: OpsContext,
  runId: string,
  reason = "cancelled by an operator",
): Promise<CancelOutcome> {
  const running = (await ctx.ledger.listRuns({ state: "running" })).filter((r) => r.runId === runId);
  if (running.length === 0)
    throw new NonRetriableError(`no running run ${runId}`, {
      field: "run",
      fix: "`tessera status PIPELINE` lists running partitions",
    });
  const cancelledExecutions: string[] = [];
  const cancelledRuns = [];
  for (const run of running) {
    const key = { pipeline: run.pipeline, partition: run.partition, attempt: run.attempt };
    for (const e of await ctx.ledger.events(key)) {
      const execution = (e.data as { execution?: string } | undefined)?.execution;
      if (e.type === "execution" && execution) {
        try {
          await ctx.workflows.cancel(execution);
          cancelledExecutions.push(execution);
        } catch (err) {
          ctx.log.warn(`could not cancel ${execution}: ${(err as Error).message}`);
        }
      }
    }
    await ctx.ledger.cancel(key, reason);
    cancelledRuns.push(key);
    await publishRunEvent(ctx, {
      type: "run.cancelled",
      pipeline: run.pipeline,
      partition: run.partition,
      runId,
      attempt: run.attempt,
      backfillId: run.backfillId,
      reason,
    });
  }
  return { cancelledExecutions, cancelledRuns };
}
