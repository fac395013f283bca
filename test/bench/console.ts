/**
 * Console bench: every read route of the console API (and a month's dry-run plan) over a local state
 * directory holding a year of runs (365 daily partitions per pipeline, retries, failures, 12 backfills each),
 * beside the bare ledger listing each route is built on. Target (issue #12): every API call under 300 ms on
 * the local twin. Prints wall and CPU milliseconds (median of the repetitions): CPU time survives the load of
 * a shared machine, wall time does not.
 */
import { rmSync } from "node:fs";
import { loadavg } from "node:os";
import { handleApi } from "../../functions/console/api.ts";
import { clearLedgerCache, FRESH_MS } from "../../shared/console/cache.ts";
import { registry } from "../../shared/pipelines/index.ts";
import { seedOutputs } from "../console/outputs-fixture.ts";
import { readOnlyConsole, seedYear } from "../console/year-fixture.ts";

const quick = process.env.BENCH_QUICK === "1";
const pipelines = quick ? ["mozaic-daily"] : ["mozaic-daily", "mozaggregator", "taar-daily"];
const reps = quick ? 3 : 9;
const NOW = new Date("2025-01-01T12:00:00Z");
const TARGET_MS = 300;

const c = readOnlyConsole(registry, NOW);
const seedStart = performance.now();
const seeded = await seedYear(c.ledger, pipelines, NOW, 365);
await seedOutputs(c.data, c.ledger);
const seedSeconds = (performance.now() - seedStart) / 1000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Cold: the console's ledger cache dropped before each call (one listing per pipeline each time). */
async function measure(fn: () => Promise<unknown>, cold = true): Promise<{ wall: number; cpu: number }> {
  await fn(); // module loads are not what a user waits for twice
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    if (cold) clearLedgerCache();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    walls.push(performance.now() - t0);
    const d = process.cpuUsage(cpu0);
    cpus.push((d.user + d.system) / 1000);
  }
  return { wall: median(walls), cpu: median(cpus) };
}

async function get(path: string, body?: unknown): Promise<void> {
  const [p, q = ""] = path.split("?");
  const r = await handleApi(c.deps, {
    method: body === undefined ? "GET" : "POST",
    path: p,
    query: Object.fromEntries(new URLSearchParams(q)),
    body,
    user: "bench",
  });
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.json)}`);
}

const p0 = pipelines[0];
const backfills = await c.ledger.listBackfills({ pipeline: p0 });
const routes: [string, () => Promise<void>][] = [
  ["GET /overview", () => get("/overview")],
  [`GET /partitions?pipeline=${p0}`, () => get(`/partitions?pipeline=${p0}`)],
  [
    `GET /partitions (state=failed, June, text)`,
    () => get(`/partitions?pipeline=${p0}&state=failed&from=2024-06-01&to=2024-06-30&q=dau`),
  ],
  ["GET /backfills", () => get("/backfills")],
  [`GET /backfill?id=(30 partitions)`, () => get(`/backfill?id=${backfills[0].backfillId}`)],
  [`GET /run (2 attempts)`, () => get(`/run?pipeline=${p0}&partition=2024-12-31`)],
  ["GET /pipelines", () => get("/pipelines")],
  ["GET /outputs", () => get("/outputs")],
  ["GET /outputs/mozaic-daily", () => get("/outputs/mozaic-daily?date=2024-06-30")],
  [
    "POST /backfill/plan (a month, dry run)",
    () => get("/backfill/plan", { pipeline: p0, from: "2024-06-01", to: "2024-06-30", reprocess: "failed" }),
  ],
];

const baseline = await measure(() => c.deps.ctx.state.list(`ledger/runs/${p0}/`));
const rows: string[] = [];
let worst = 0;
let worstCpu = 0;
let worstWarm = 0;
for (const [name, fn] of routes) {
  const m = await measure(fn);
  // An action (POST) always reads the ledger afresh, so it has no warm figure.
  const w = name.startsWith("POST") ? undefined : await measure(fn, false);
  worst = Math.max(worst, m.wall);
  worstCpu = Math.max(worstCpu, m.cpu);
  worstWarm = Math.max(worstWarm, w?.wall ?? 0);
  rows.push(
    `| ${name} | ${m.wall.toFixed(1)} | ${m.cpu.toFixed(1)} | ${(m.wall / TARGET_MS).toFixed(2)} | ${(m.wall / baseline.wall).toFixed(2)} | ${w ? w.wall.toFixed(1) : "-"} | ${w ? (w.wall / TARGET_MS).toFixed(2) : "-"} |`,
  );
}

console.log(`## Console API (${quick ? "quick" : "full"})

A year of runs: ${pipelines.length} pipeline(s) x 365 daily partitions (${seeded.attempts} attempts, ${seeded.backfills} backfills), seeded in ${seedSeconds.toFixed(1)} s; median of ${reps} calls each, load average ${loadavg()[0].toFixed(1)} on ${(await import("node:os")).cpus().length} cores.
Baseline side by side: the bare listing of \`ledger/runs/${p0}/\` (${baseline.wall.toFixed(1)} ms wall, ${baseline.cpu.toFixed(1)} ms CPU), the one call each status route is built on.

Cold: the console's ledger cache dropped before each call. Warm: answered from the console's last listing of the pipeline (what a page's second read and a polling page get: fresh for ${FRESH_MS} ms, then served stale while one refresh runs behind it).

| route | cold wall ms | cold CPU ms | cold / 300 ms target | cold / bare listing | warm wall ms | warm / target |
|---|---|---|---|---|---|---|
${rows.join("\n")}

Slowest route cold: ${worst.toFixed(1)} ms wall (${(worst / TARGET_MS).toFixed(2)} of the target), ${worstCpu.toFixed(1)} ms CPU (${(worstCpu / TARGET_MS).toFixed(2)}); warm: ${worstWarm.toFixed(1)} ms wall (${(worstWarm / TARGET_MS).toFixed(2)}).`);

await c.close();
rmSync(c.stateDir, { recursive: true, force: true });
