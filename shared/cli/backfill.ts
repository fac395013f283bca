import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { BackfillRequest, parseContract } from "../contracts/v1/index.ts";
import type { BackfillPlan } from "../core/backfill.ts";
import { acceptBackfill, planRequest } from "../ops/backfill.ts";
import { type BackfillStatus, backfillStatus } from "../ops/status.ts";
import { TOPICS } from "../pipelines/platform.ts";
import { openOps, targetOptions } from "./open.ts";
import { type Io, keyValues, parseVerbArgs, table, UsageError, type Verb } from "./verb.ts";

const verb: Verb = {
  name: "backfill",
  summary: "Plan and run a backfill of a pipeline over a date range (or a dates file)",
  help: `Usage: tessera backfill PIPELINE FROM [TO] [--weekday DAY]... [--dates-file F]
                         [--reprocess missing|failed|all] [--max-concurrent N] [--order asc|desc]
                         [--param NAME=VALUE]... [--request-id ID] [--dry-run] [--json]
                         [--project ID --region REGION]

Plans first: every partition from FROM to TO (both included), with its weekday, its state in the run ledger,
the action (run, rerun, skip) and why. --dry-run prints that plan and changes nothing. Otherwise the request
is applied: on the local twin in this process, with progress (a bar on a terminal, JSON lines otherwise) and
a summary; against a deployed stack (--project) it is published to ${TOPICS.backfillRequests} and
\`tessera status PIPELINE --backfill ID\` follows it.

  --weekday DAY       only these days of the week (monday..sunday or mon..sun; repeatable)
  --dates-file F      partitions to add, one per line (# comments allowed); FROM may then be omitted with -
  --reprocess MODE    missing (default): only partitions that never ran; failed: also failed and cancelled
                      ones; all: everything not running now
  --max-concurrent N  at most N partitions at once (default 4)
  --order asc|desc    oldest first (default) or newest first
  --param NAME=VALUE  run parameters passed to every partition (repeatable)
  --request-id ID     idempotency key: the same id twice yields one backfill (default: a new one)

Examples:
  tessera backfill mozaic-daily 2024-06-01 2024-06-30 --dry-run
  tessera backfill mozaic-daily 2024-06-01 2024-06-30 --weekday monday --max-concurrent 2
  tessera backfill mozaggregator 2019-01-01 2019-12-31 --reprocess failed --order desc
  tessera backfill causemos - --dates-file runs.txt
`,
  async run(argv, io) {
    const { values, positionals } = parseVerbArgs(argv, {
      weekday: { type: "string", multiple: true },
      "dates-file": { type: "string" },
      reprocess: { type: "string" },
      "max-concurrent": { type: "string" },
      order: { type: "string" },
      param: { type: "string", multiple: true },
      "request-id": { type: "string" },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" },
      ...targetOptions,
    });
    const [pipeline, from, to, extra] = positionals;
    if (!pipeline || !from || extra) throw new UsageError("give PIPELINE FROM [TO]");
    const dates = values["dates-file"] ? readDates(values["dates-file"]) : undefined;
    const request = parseContract(
      BackfillRequest,
      {
        pipeline,
        ...(from === "-" ? {} : { from, to: to ?? from }),
        ...(dates ? { dates } : {}),
        ...(values.weekday ? { weekdays: values.weekday } : {}),
        ...(values.reprocess ? { reprocess: values.reprocess } : {}),
        ...(values["max-concurrent"] ? { maxConcurrent: Number(values["max-concurrent"]) } : {}),
        ...(values.order ? { order: values.order } : {}),
        params: keyValues(values.param, "--param"),
        dryRun: values["dry-run"] === true,
        requestId:
          values["request-id"] ??
          `cli-${new Date().toISOString().replace(/[-:.TZ]/g, "")}-${randomBytes(3).toString("hex")}`,
      },
      "backfill request",
    );
    const ops = await openOps(io, values);
    try {
      const plan = await planRequest(ops.ctx, request);
      if (request.dryRun) {
        printPlan(io, plan, values.json === true);
        return 0;
      }
      if (ops.mode === "gcp") {
        const id = await ops.ctx.messages.publish(TOPICS.backfillRequests, request);
        io.stdout.write(
          values.json
            ? `${JSON.stringify({ published: id, backfillId: plan.backfillId })}\n`
            : `published request ${request.requestId} (message ${id}); follow it with: tessera status ${pipeline} --backfill ${plan.backfillId} --project ${values.project}\n`,
        );
        return 0;
      }
      if (!values.json) printPlan(io, plan, false);
      const outcome = await acceptBackfill(ops.ctx, request);
      if (outcome.action !== "started" || !outcome.execution) {
        io.stdout.write(
          outcome.action === "duplicate"
            ? `backfill ${plan.backfillId} already exists (${outcome.state})\n`
            : "nothing to run: every partition is skipped\n",
        );
        return 0;
      }
      const final = await follow(
        io,
        ops.ctx,
        plan.backfillId,
        outcome.execution,
        values.json === true,
        ops.ctx.workflows,
      );
      const failed = (final.counts.failed ?? 0) + (final.counts.cancelled ?? 0);
      return failed > 0 || final.driver?.state !== "SUCCEEDED" ? 1 : 0;
    } finally {
      await ops.close();
    }
  },
};
export default verb;

function readDates(file: string): string[] {
  return readFileSync(file, "utf8")
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l.length > 0);
}

export function printPlan(io: Io, plan: BackfillPlan, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return;
  }
  io.stdout.write(
    `backfill ${plan.backfillId} of ${plan.pipeline}: ${plan.counts.run} to run, ${plan.counts.rerun} to rerun, ${plan.counts.skip} skipped (reprocess=${plan.reprocess}, max ${plan.maxConcurrent} at once, ${plan.order})\n`,
  );
  io.stdout.write(
    table(
      ["partition", "weekday", "state", "action", "reason"],
      plan.entries.map((e) => [e.partition, e.weekday ?? "", e.state, e.action, e.reason ?? ""]),
    ),
  );
}

async function follow(
  io: Io,
  ctx: Parameters<typeof backfillStatus>[0],
  backfillId: string,
  driver: string,
  json: boolean,
  workflows: { get(name: string): Promise<{ state: string }> },
): Promise<BackfillStatus> {
  const tty = io.stderr.isTTY === true && !json;
  let last = "";
  for (;;) {
    const status = (await backfillStatus(ctx, backfillId))!;
    const driverState = (await workflows.get(driver)).state;
    const total = status.partitions.filter((p) => p.action !== "skip").length;
    const c = status.counts;
    const done = (c.succeeded ?? 0) + (c.failed ?? 0) + (c.cancelled ?? 0);
    const line = `${done}/${total} done: ${c.succeeded ?? 0} succeeded, ${c.running ?? 0} running, ${c.failed ?? 0} failed, ${c.pending ?? 0} pending`;
    if (line !== last) {
      if (tty) {
        const width = 30;
        const filled = total === 0 ? width : Math.round((done / total) * width);
        io.stderr.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${line}   `);
      } else {
        io.stdout.write(`${JSON.stringify({ backfillId, done, total, counts: c })}\n`);
      }
      last = line;
    }
    if (driverState !== "ACTIVE") {
      const final = (await backfillStatus(ctx, backfillId))!;
      if (tty) io.stderr.write("\n");
      if (json) io.stdout.write(`${JSON.stringify(final, null, 2)}\n`);
      else {
        io.stdout.write(
          `\nbackfill ${backfillId}: driver ${driverState}; ${Object.entries(final.counts)
            .map(([k, v]) => `${v} ${k}`)
            .join(", ")}\n`,
        );
        const failures = final.partitions.filter((p) => p.state === "failed" || p.state === "cancelled");
        if (failures.length)
          io.stdout.write(
            table(
              ["partition", "state", "attempt", "reason"],
              failures.map((p) => [p.partition, p.state, p.attempt, p.reason ?? ""]),
            ),
          );
      }
      return final;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
