/**
 * mozaic-daily bench: a full run (all three data sources, four metrics, every country and segment) on the
 * default generated data, through the job's own steps in one process (extract -> forecast on a pool of
 * worker threads, one per core -> validate and publish to DuckDB), beside the testing-mode run (Desktop Glean
 * DAU only) as the baseline. Target: the full run under 3 minutes on 2 cores.
 *
 *   npx tsx test/bench/mozaic-daily.ts              # full run + testing mode
 *   BENCH_QUICK=1 npx tsx test/bench/mozaic-daily.ts  # testing mode only, 3 countries, 200 samples
 *   MOZAIC_BENCH_DIR=/tmp/x ...                      # reuse a seeded state directory
 *   MOZAIC_BENCH_ONLY=testing ...                    # full data, testing mode only
 *   MOZAIC_BENCH_ONLY=full ...                       # the full run only (no baseline)
 *   MOZAIC_OPTIMIZER=exact ...                       # the tiles' Prophet optimizer (default the engine's)
 * Progress goes to stderr step by step; the Markdown summary to stdout at the end, with the forecast step split
 * into worker-thread CPU and main-thread CPU and the workers' utilisation.
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { runtimeDates } from "../../containers/mozaic-daily/config.ts";
import { seedSources } from "../../containers/mozaic-daily/generate.ts";
import { extractStep, forecastStep, publishStep } from "../../containers/mozaic-daily/run.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import { createLogger, type LogRecord } from "../../shared/core/log.ts";

const quick = process.env.BENCH_QUICK === "1";
const dir = process.env.MOZAIC_BENCH_DIR ?? mkdtempSync(join(tmpdir(), "tessera-mozaic-bench-"));
mkdirSync(dir, { recursive: true });
const now = quick ? new Date("2023-09-13T08:00:00Z") : new Date();
const partition = runtimeDates(now).forecastStartDate;
// Warnings go to stderr; the forecast step's "forecast pool" notice (worker busy time and CPU) is kept for the table.
const captured: { pool?: LogRecord } = {};
const log = createLogger({
  minSeverity: "NOTICE",
  sink: {
    write: (r) => {
      if (r.message === "forecast pool") captured.pool = r;
      else if (r.severity !== "NOTICE") process.stderr.write(`${JSON.stringify(r)}\n`);
    },
  },
});
const warehouse = createLocalWarehouse({ path: join(dir, "warehouse.duckdb") });
const store = createLocalObjects({ root: join(dir, "objects") }).bucket("tessera-data");
const poolSize = Math.max(2, availableParallelism());

const secs = (ms: number) => (ms / 1000).toFixed(1);
const t0 = Date.now();
const seeded = await seedSources(warehouse, {
  to: runtimeDates(now).forecastStartDate,
  ...(quick ? { countries: ["US", "DE", "SE"], tables: ["glean_telemetry.active_users_aggregates"] } : {}),
});
const seedMs = Date.now() - t0;
const sourceRows = seeded.reduce((s, t) => s + t.rows, 0);

const loadAtStart = loadavg()[0];
const progress = (what: string, ms: number, cpu0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(cpu0);
  process.stderr.write(
    `mozaic-daily bench: ${what} ${secs(ms)} s wall, ${secs((c.user + c.system) / 1000)} CPU-s so far, load ${loadavg()[0].toFixed(1)}\n`,
  );
};

async function run(testingMode: boolean) {
  const name = testingMode ? "testing mode" : "full run";
  const times: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  let t = Date.now();
  await extractStep({ warehouse, store, partition, params: { testingMode }, now, log });
  times.extract = Date.now() - t;
  progress(`${name} extract`, times.extract, cpu0);
  t = Date.now();
  captured.pool = undefined;
  const cpuBeforeForecast = process.cpuUsage();
  await forecastStep({
    store,
    partition,
    taskIndex: 0,
    taskCount: 1,
    poolSize,
    samples: quick ? 200 : 1000,
    optimizer: (process.env.MOZAIC_OPTIMIZER || undefined) as "auto" | "stan" | "exact" | undefined,
    log,
  });
  times.forecast = Date.now() - t;
  const fc = process.cpuUsage(cpuBeforeForecast);
  times.forecastCpu = (fc.user + fc.system) / 1000;
  // Worker CPU from the pool's own count; the rest of the step's CPU is the main thread's.
  const notice = captured.pool as LogRecord | undefined;
  times.workerCpu = Number(notice?.workerCpuSeconds ?? Number.NaN) * 1000;
  times.utilisation = Number(notice?.utilisation ?? Number.NaN);
  progress(`${name} forecast`, times.forecast, cpu0);
  t = Date.now();
  const published = await publishStep({ warehouse, store, partition, log });
  times.publish = Date.now() - t;
  progress(`${name} validate + publish`, times.publish, cpu0);
  times.total = times.extract + times.forecast + times.publish;
  const cpu = process.cpuUsage(cpu0);
  // CPU of every thread of this process (main + forecast workers): robust to other load on the machine.
  times.cpu = (cpu.user + cpu.system) / 1000;
  return { times, rows: published.rows };
}

const only = process.env.MOZAIC_BENCH_ONLY;
const baseline = only === "full" ? undefined : await run(true);
const full = quick || only === "testing" ? undefined : await run(false);
await warehouse.close();

const line = (name: string, r: { times: Record<string, number>; rows: number }) =>
  `| ${name} | ${secs(r.times.extract)} | ${secs(r.times.forecast)} | ${secs(r.times.publish)} | **${secs(r.times.total)}** | ${secs(r.times.cpu)} | ${r.rows} |`;
const cpuLine = (name: string, r: { times: Record<string, number> }) =>
  `| ${name} | ${secs(r.times.forecastCpu)} | ${secs(r.times.workerCpu)} | ${secs(r.times.forecastCpu - r.times.workerCpu)} | ${(100 * r.times.utilisation).toFixed(0)} % |`;
const out = [
  "## mozaic-daily",
  "",
  `Forecast start ${partition}; ${sourceRows} source rows (${seeded.some((s) => !s.skipped) ? `generated in ${secs(seedMs)} s` : "reused"}); ${poolSize} worker threads; ${quick ? "quick mode: 3 countries, 200 samples" : "1000 samples per tile"}; Prophet optimizer ${process.env.MOZAIC_OPTIMIZER || "the engine's default"}. Times in seconds.`,
  "",
  `Machine load average (1 min) at the start ${loadAtStart.toFixed(1)}, at the end ${loadavg()[0].toFixed(1)}, on ${availableParallelism()} cores (wall times stretch with it; CPU seconds do not, and CPU-s / ${availableParallelism()} is the wall time the run needs on idle cores if it keeps them all busy).`,
  "",
  "| run | extract | forecast | validate + publish | total (wall) | CPU (all threads) | rows |",
  "|---|---|---|---|---|---|---|",
  ...(baseline ? [line("testing mode (Desktop Glean DAU; baseline)", baseline)] : []),
  ...(full ? [line("full (3 sources x 4 metrics)", full)] : []),
  "",
  "Forecast step by CPU: the worker threads' CPU for their fits (the pool's own count) and the rest (main thread: tiles, reconciliation, formatting, writing), and how busy the workers were (time on tasks / (workers x step wall); under load this reads low, as a worker's task takes longer than its CPU).",
  "",
  "| run | forecast CPU-s | workers | main thread | worker utilisation |",
  "|---|---|---|---|---|",
  ...(baseline ? [cpuLine("testing mode", baseline)] : []),
  ...(full ? [cpuLine("full", full)] : []),
  "",
  ...(full && baseline
    ? [
        `Full run / testing mode: ${(full.times.total / baseline.times.total).toFixed(1)}x (wall), ${(full.times.cpu / baseline.times.cpu).toFixed(1)}x (CPU).`,
      ]
    : []),
  full
    ? `Target: full run < 180 s on ${availableParallelism()} cores: ${full.times.total < 180_000 ? "met" : "NOT met"} by the wall clock; ${full.times.cpu / availableParallelism() < 180_000 ? "within" : "over"} it by CPU-s / cores (${secs(full.times.cpu / availableParallelism())} s).`
    : "This run measured the testing-mode baseline only.",
];
console.log(out.join("\n"));
