/**
 * Operations bench: building and printing the plan of a 3,650-partition daily backfill against a run ledger
 * that already holds 1,000 partitions (one listing), beside the bare ledger listing it needs. Target: < 1 s.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { printPlan } from "../../shared/cli/backfill.ts";
import { BackfillRequest, parseContract } from "../../shared/contracts/v1/index.ts";
import { addDays, formatDay, parseDay } from "../../shared/core/dates.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { createLedger } from "../../shared/ledger/ledger.ts";
import { planRequest } from "../../shared/ops/backfill.ts";
import type { OpsContext } from "../../shared/ops/context.ts";
import { createRegistry, type PipelineDefinition } from "../../shared/pipelines/types.ts";

const quick = process.env.BENCH_QUICK === "1";
const existing = quick ? 200 : 1000;
const state = createLocalObjects({
  root: join(mkdtempSync(join(tmpdir(), "tessera-bench-ops-")), "objects"),
}).bucket("state");
const ledger = createLedger(state);
const def: PipelineDefinition = {
  id: "bench",
  title: "bench",
  description: "bench",
  partition: { kind: "daily", latest: () => "2024-12-31", maxBackfill: 4000 },
  schedules: [],
  workflow: "bench.workflows.yaml",
  jobs: [],
  functions: [],
  topics: [],
  tables: [],
  prefixes: [],
  secrets: [],
  params: z.object({}),
};
const start = parseDay("2015-01-03");
for (let i = 0; i < existing; i++) {
  const partition = formatDay(addDays(start, i * 3));
  const c = await ledger.claim({ pipeline: "bench", partition, runId: `r${i}` });
  if (c.claimed && i % 7 !== 0) await ledger.succeed(c.run);
  else if (c.claimed) await ledger.fail(c.run, "bench failure");
}
const ctx = {
  registry: createRegistry([def]),
  ledger,
  workflows: { get: async () => ({ state: "SUCCEEDED" }) },
  now: () => new Date("2025-01-01T00:00:00Z"),
  log: createLogger({ sink: memorySink() }),
} as unknown as OpsContext;
const request = parseContract(
  BackfillRequest,
  { pipeline: "bench", from: "2015-01-01", to: "2024-12-31", reprocess: "failed", requestId: "bench" },
  "backfill request",
);

const t0 = performance.now();
await ledger.partitionStates("bench");
const listMs = performance.now() - t0;

const t1 = performance.now();
const plan = await planRequest(ctx, request);
let printed = 0;
printPlan(
  { stdout: { write: (s: string) => (printed += s.length) }, stderr: { write: () => 0 }, env: {}, cwd: "." },
  plan,
  false,
);
const planMs = performance.now() - t1;

console.log("## Operations: backfill plan\n");
console.log("| measure | value |\n|---|---|");
console.log(
  `| partitions planned | ${plan.entries.length} (${plan.counts.run} run, ${plan.counts.rerun} rerun, ${plan.counts.skip} skip) |`,
);
console.log(`| ledger listing alone (${existing} partitions recorded) | ${listMs.toFixed(0)} ms |`);
console.log(`| plan + print (${(printed / 1024).toFixed(0)} KiB of table) | ${planMs.toFixed(0)} ms |`);
console.log(
  `| against the 1 s target | ${(planMs / 1000).toFixed(2)}x of budget (${planMs < 1000 ? "met" : "MISSED"}) |`,
);
