import { cancelBackfill, cancelRun } from "../ops/cancel.ts";
import { openOps, targetOptions } from "./open.ts";
import { parseVerbArgs, UsageError, type Verb } from "./verb.ts";

const verb: Verb = {
  name: "cancel",
  summary: "Stop a whole backfill (driver, running children and their jobs) or one run",
  help: `Usage: tessera cancel --backfill ID | --run RUN_ID [--reason TEXT] [--json] [--project ID --region REGION]

--backfill stops the driver first (so nothing more starts), then every running child execution and its jobs,
and records the running attempts and the backfill as cancelled in the run ledger. --run stops one run's
execution and records its attempt as cancelled. Cancelled partitions rerun with --reprocess failed.

Examples:
  tessera cancel --backfill bf-mozaic-daily-1a2b3c4d5e6f
  tessera cancel --run mozaic-daily-2024-06-15-0a1b2c3d4e --reason "wrong parameters"
`,
  async run(argv, io) {
    const { values, positionals } = parseVerbArgs(
      argv,
      {
        backfill: { type: "string" },
        run: { type: "string" },
        reason: { type: "string" },
        json: { type: "boolean" },
        ...targetOptions,
      },
      false,
    );
    if (positionals.length || !values.backfill === !values.run)
      throw new UsageError("give exactly one of --backfill ID or --run RUN_ID");
    const ops = await openOps(io, values, { twin: false });
    try {
      const outcome = values.backfill
        ? await cancelBackfill(ops.ctx, values.backfill, values.reason)
        : await cancelRun(ops.ctx, values.run!, values.reason);
      io.stdout.write(
        values.json
          ? `${JSON.stringify(outcome, null, 2)}\n`
          : `cancelled ${outcome.cancelledExecutions.length} execution(s) and ${outcome.cancelledRuns.length} run(s)\n`,
      );
      return 0;
    } finally {
      await ops.close();
    }
  },
};
export default verb;
