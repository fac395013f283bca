/**
 * mozaggregator conversion bench: a generated day in a throwaway PostgreSQL, dumped by the real pg_dump, then
 * converted to Parquet (gunzip + COPY parsing + row conversion + Parquet writing, worker threads) beside the
 * floor no parser beats, `gzip -dc FILES | wc -c` over the same files in the same run.
 * Throughput is MB of uncompressed COPY data per second of wall time and per CPU-second (per core); target:
 * conversion >= 50% of gunzip per core, peak RSS (process.resourceUsage().maxRSS) under 300 MB.
 * Run: npx tsx test/bench/mozaggregator.ts  (BENCH_QUICK=1: a ~40 MB day instead of >= 500 MB)
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { dump } from "../../containers/mozaggregator/dump.ts";
import { generate } from "../../containers/mozaggregator/generator.ts";
import { AGGREGATE_TYPES } from "../../containers/mozaggregator/tables.ts";
import { postgresAvailable, startPostgres } from "../helpers/postgres.ts";

const quick = process.env.BENCH_QUICK === "1";
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DAY = "2019-12-01";
// ~255 bytes of COPY text per generated row.
const tablesPerDay = quick ? 4 : 16;
const rowsPerTable = quick ? 20_000 : 64_000;

const mb = (bytes: number) => bytes / 1e6;

if (!postgresAvailable()) {
  console.log("## mozaggregator conversion\n\nskipped: PostgreSQL server binaries are not installed");
  process.exit(0);
}

const dir = await mkdtemp(join(tmpdir(), "mozaggregator-bench-"));
const cluster = await startPostgres();
try {
  const connection = {
    host: cluster.host,
    port: cluster.port,
    user: cluster.user,
    database: cluster.database,
    password: cluster.password,
  };
  let t = performance.now();
  await generate(connection, { days: [DAY], tablesPerDay, rowsPerTable, seed: 42 });
  const generateSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const dumps = join(dir, "dumps");
  for (const type of AGGREGATE_TYPES) {
    await dump({ connection, ds: DAY, type, outDir: join(dumps, type, "20191201"), jobs: 2 });
  }
  const dumpSeconds = (performance.now() - t) / 1000;
  const files: string[] = [];
  let gzBytes = 0;
  for (const type of AGGREGATE_TYPES) {
    const d = join(dumps, type, "20191201");
    for (const f of await readdir(d)) {
      if (!f.endsWith(".dat.gz")) continue;
      files.push(join(d, f));
      gzBytes += (await stat(join(d, f))).size;
    }
  }

  // Baseline: gzip -dc | wc -c, timed by bash (wall, and gzip's own user+sys CPU).
  const script = `TIMEFORMAT="%R %U %S"; time (gzip -dc "$@" | wc -c)`;
  const out = execFileSync("bash", ["-c", `{ ${script}; } 2>&1`, "bash", ...files], { encoding: "utf8" });
  const [bytesLine, timeLine] = out.trim().split("\n");
  const copyBytes = Number(bytesLine);
  const [gzWall, gzUser, gzSys] = timeLine.split(" ").map(Number);
  const gzCpu = gzUser + gzSys;

  // The conversion runs as the real job would: the entrypoint in its own process (Node strips the types),
  // which reports its CPU time (all threads) and peak RSS.
  const threads = availableParallelism();
  const args = {
    pipeline: "mozaggregator",
    partition: DAY,
    runId: "bench",
    params: {},
    step: "convert",
    input: dumps,
    output: join(dir, "parquet"),
    ingestDate: "2026-11-24",
    threads,
  };
  t = performance.now();
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--disable-warning=ExperimentalWarning", join(repo, "containers/mozaggregator/main.ts")],
      {
        env: { ...process.env, TESSERA_JOB_ARGS: JSON.stringify(args), TESSERA_LOG_LEVEL: "WARNING" },
        maxBuffer: 16 << 20,
      },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
    );
  });
  const wall = (performance.now() - t) / 1000;
  const result = JSON.parse(stdout.trim().split("\n").at(-1) as string) as {
    rows: number;
    copyBytes: number;
    outputs: { files: string[] }[];
    usage: { cpuSeconds: number; maxRssMb: number };
  };
  const cpu = result.usage.cpuSeconds;
  const maxRss = result.usage.maxRssMb;
  if (result.copyBytes !== copyBytes)
    throw new Error(`converted ${result.copyBytes} bytes, gzip saw ${copyBytes}`);
  let parquetBytes = 0;
  for (const o of result.outputs) for (const f of o.files) parquetBytes += (await stat(f)).size;

  const oursWall = mb(copyBytes) / wall;
  const oursCore = mb(copyBytes) / cpu;
  const gzipWall = mb(copyBytes) / gzWall;
  const gzipCore = mb(copyBytes) / gzCpu;
  const ratio = oursCore / gzipCore;
  console.log(`## mozaggregator conversion${quick ? " (BENCH_QUICK)" : ""}

A generated day: ${files.length} tables, ${result.rows.toLocaleString("en")} rows, ${mb(copyBytes).toFixed(0)} MB of COPY text (${mb(gzBytes).toFixed(0)} MB gzipped, ${mb(parquetBytes).toFixed(0)} MB of Parquet out). Generated in ${generateSeconds.toFixed(1)} s, dumped in ${dumpSeconds.toFixed(1)} s. ${threads} worker threads.

| | wall MB/s | MB per CPU-second (per core) |
|---|---:|---:|
| \`gzip -dc FILES \\| wc -c\` (baseline) | ${gzipWall.toFixed(1)} | ${gzipCore.toFixed(1)} |
| conversion to Parquet | ${oursWall.toFixed(1)} | ${oursCore.toFixed(1)} |
| ratio | ${(oursWall / gzipWall).toFixed(2)} | **${ratio.toFixed(2)}** (target >= 0.50: ${ratio >= 0.5 ? "met" : "not met"}) |

Peak RSS of the conversion job (process.resourceUsage().maxRSS, all threads): ${maxRss} MB (target < 300 MB: ${maxRss < 300 ? "met" : "not met"}). CPU-seconds: conversion ${cpu.toFixed(1)}, gzip ${gzCpu.toFixed(1)}.
`);
} finally {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
