import { backfillStatus, type PipelineStatus, pipelineStatus } from "../ops/status.ts";
import { openOps, targetOptions } from "./open.ts";
import { parseVerbArgs, table, UsageError, type Verb } from "./verb.ts";

const verb: Verb = {
  name: "status",
  summary: "Counts by state and a per-partition table (with failure reasons) for pipelines and backfills",
  help: `Usage: tessera status [PIPELINE] [--backfill ID] [--since DATE] [--json] [--project ID --region REGION]

Without PIPELINE: one line per registered pipeline with its counts by state.
With PIPELINE: counts by state, every partition that ran (newest first) with its attempt and failure reason,
and the pipeline's backfills. With --backfill: the backfill's plan joined with each partition's state now.
State is read from the run ledger with one listing per pipeline.

Examples:
  tessera status
  tessera status mozaic-daily --since 2024-06-01
  tessera status mozaic-daily --backfill bf-mozaic-daily-1a2b3c4d5e6f --json
`,
  async run(argv, io) {
    const { values, positionals } = parseVerbArgs(argv, {
      backfill: { type: "string" },
      since: { type: "string" },
      json: { type: "boolean" },
      ...targetOptions,
    });
    if (positionals.length > 1) throw new UsageError("give at most one PIPELINE");
    const ops = await openOps(io, values, { twin: false });
    try {
      const out = (v: unknown, text: () => string) =>
        io.stdout.write(values.json ? `${JSON.stringify(v, null, 2)}\n` : text());
      if (values.backfill) {
        const s = await backfillStatus(ops.ctx, values.backfill);
        if (!s) {
          io.stderr.write(`no backfill ${values.backfill}\n`);
          return 1;
        }
        out(
          s,
          () =>
            `backfill ${s.backfillId} of ${s.pipeline}: ${s.state}${s.driver ? ` (driver ${s.driver.state})` : ""}\n${counts(s.counts)}\n` +
            table(
              ["partition", "action", "state", "attempt", "reason"],
              s.partitions.map((p) => [p.partition, p.action, p.state, p.attempt, p.reason ?? ""]),
            ),
        );
        return 0;
      }
      const [pipeline] = positionals;
      if (!pipeline) {
        const all: PipelineStatus[] = [];
        for (const def of ops.ctx.registry.list())
          all.push(await pipelineStatus(ops.ctx, def.id, { since: values.since }));
        out(all, () =>
          all.length === 0
            ? "no pipelines are registered\n"
            : table(
                ["pipeline", "counts"],
                all.map((s) => [s.pipeline, counts(s.counts) || "nothing ran yet"]),
              ),
        );
        return 0;
      }
      const s = await pipelineStatus(ops.ctx, pipeline, { since: values.since });
      out(s, () => {
        let text = `${s.pipeline}: ${counts(s.counts) || "nothing ran yet"}\n`;
        if (s.partitions.length)
          text += table(
            ["partition", "state", "attempt", "updated", "reason"],
            s.partitions.map((p) => [p.partition, p.state, p.attempt, p.updated, p.reason ?? ""]),
          );
        if (s.backfills.length)
          text += `\nbackfills:\n${table(
            ["backfill", "state", "created", "reason"],
            s.backfills.map((b) => [b.backfillId, b.state, b.createdAt, b.reason ?? ""]),
          )}`;
        return text;
      });
      return 0;
    } finally {
      await ops.close();
    }
  },
};
export default verb;

function counts(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
}
