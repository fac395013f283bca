/**
 * mozaggregator conversion bench: a generated day in a throwaway PostgreSQL, dumped by the real pg_dump, then
 * converted to Parquet (gunzip + COPY parsing + row conversion + Parquet writing, worker threads) beside the
 * floor no parser beats, `gzip -dc FILES | wc -c` over the same files in the same run.
 *
 * The conversion runs as the deployed job does: the convert job bundled by scripts/build.ts (`index.js` and
 * its worker entry), in its own process, with the machine's cores as threads; the job reports its CPU time
 * (all threads) and peak RSS. Rounds alternate gzip and the conversion so that both see the same load; the
 * ratio is MB per CPU-second (per core) of the conversion over gzip's, per round and as the median; the job
 * also runs on one thread, gzip's own concurrency, for the per-core figure without two threads' contention.
 * gzip runs once serially (the issue's baseline) and once as one `gzip -dc | wc -c` per core over halves of
 * the files (the same concurrency as the job's threads).
 * The job runs with the environment the registry gives the convert job (shared/pipelines/mozaggregator.ts,
 * `env`), as Cloud Run and the local runner start it; each round also runs it on 2 threads with the other glibc
 * malloc setting (GLIBC_TUNABLES of containers/mozaggregator/runtime.ts, or default malloc when the registry
 * sets it), so that both figures stay visible.
 * Targets: >= 0.5 of gunzip per core; peak RSS < 300 MB.
 * Run: npx tsx test/bench/mozaggregator.ts  (BENCH_QUICK=1: a ~40 MB day, one round; BENCH_BASELINE=<dir>: an
 * earlier bundle of the job, built with scripts/build.ts's bundle(), also runs in every round, for before/after)
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { dump } from "../../containers/mozaggregator/dump.ts";
import { generate } from "../../containers/mozaggregator/generator.ts";
import { MALLOC_TUNABLES } from "../../containers/mozaggregator/runtime.ts";
import { AGGREGATE_TYPES } from "../../containers/mozaggregator/tables.ts";
import { bundle } from "../../scripts/build.ts";
import { mozaggregator } from "../../shared/pipelines/mozaggregator.ts";
import { postgresAvailable, startPostgres } from "../helpers/postgres.ts";

const quick = process.env.BENCH_QUICK === "1";
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DAY = "2019-12-01";
// ~255 bytes of COPY text per generated row.
const tablesPerDay = quick ? 4 : 16;
const rowsPerTable = quick ? 20_000 : 64_000;
const rounds = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 3));
const baselineDir = process.env.BENCH_BASELINE;

const mb = (bytes: number) => bytes / 1e6;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The convert job's environment as deployed (the registry's `env`), and the other malloc setting. */
const deployedEnv: Record<string, string> = mozaggregator.jobs.find((j) => j.name === "convert")?.env ?? {};
const deployedTuned = deployedEnv.GLIBC_TUNABLES !== undefined;
const otherEnv: Record<string, string> = deployedTuned
  ? Object.fromEntries(Object.entries(deployedEnv).filter(([k]) => k !== "GLIBC_TUNABLES"))
  : { ...deployedEnv, GLIBC_TUNABLES: MALLOC_TUNABLES };
const otherLabel = deployedTuned ? "default malloc" : "GLIBC_TUNABLES (not yet on the job)";

if (!postgresAvailable()) {
  console.log("## mozaggregator conversion\n\nskipped: PostgreSQL server binaries are not installed");
  process.exit(0);
}

interface Timing {
  wall: number;
  cpu: number;
}

/** `gzip -dc FILES | wc -c`, `parallel` at once over interleaved shares of the files; bash times it. */
function gunzip(files: string[], parallel: number): Timing & { bytes: number } {
  const script =
    parallel === 1
      ? `TIMEFORMAT="%R %U %S"; { time (gzip -dc "$@" | wc -c); } 2>&1`
      : `TIMEFORMAT="%R %U %S"; { time (printf '%s\\n' "$@" | xargs -P ${parallel} -n ${Math.ceil(files.length / parallel)} sh -c 'gzip -dc "$@" | wc -c' sh | awk '{ s += $1 } END { print s }'); } 2>&1`;
  // Interleave so that each share holds large and small tables alike.
  const order = Array.from({ length: parallel }, (_, k) =>
    files.filter((_f, i) => i % parallel === k),
  ).flat();
  const out = execFileSync("bash", ["-c", script, "bash", ...order], { encoding: "utf8" });
  const [bytesLine, timeLine] = out.trim().split("\n");
  const [wall, user, sys] = timeLine.split(" ").map(Number);
  return { bytes: Number(bytesLine), wall, cpu: user + sys };
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
  await cluster.stop();
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

  // The job as deployed: scripts/build.ts's bundle of the entrypoint and its worker. It lives in the
  // repository's state directory so that its external packages resolve from node_modules.
  const jobDir = join(repo, ".tessera", "bench", "mozaggregator-convert");
  await bundle(join(repo, "containers/mozaggregator/main.ts"), jobDir, "mozaggregator-convert");
  const threads = availableParallelism();

  async function convertOnce(
    bundleDir = jobDir,
    jobThreads = threads,
    jobEnv = deployedEnv,
  ): Promise<Timing & { rows: number; copyBytes: number; maxRss: number; parquetBytes: number }> {
    const output = join(dir, "parquet");
    await rm(output, { recursive: true, force: true });
    const args = {
      pipeline: "mozaggregator",
      partition: DAY,
      runId: "bench",
      params: {},
      step: "convert",
      input: dumps,
      output,
      ingestDate: "2026-11-24",
      threads: jobThreads,
    };
    const start = performance.now();
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [join(bundleDir, "index.js")],
        {
          env: {
            ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "GLIBC_TUNABLES")),
            ...jobEnv,
            TESSERA_JOB_ARGS: JSON.stringify(args),
            TESSERA_LOG_LEVEL: "WARNING",
          },
          maxBuffer: 16 << 20,
        },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    const wall = (performance.now() - start) / 1000;
    const result = JSON.parse(stdout.trim().split("\n").at(-1) as string) as {
      rows: number;
      copyBytes: number;
      outputs: { files: string[] }[];
      usage: { cpuSeconds: number; maxRssMb: number };
    };
    let parquetBytes = 0;
    for (const o of result.outputs) for (const f of o.files) parquetBytes += (await stat(f)).size;
    return {
      wall,
      cpu: result.usage.cpuSeconds,
      rows: result.rows,
      copyBytes: result.copyBytes,
      maxRss: result.usage.maxRssMb,
      parquetBytes,
    };
  }

  const load = loadavg()[0];
  const lines: string[] = [];
  const ratios: number[] = [];
  const parallelRatios: number[] = [];
  const singleRatios: number[] = [];
  const otherRatios: number[] = [];
  const baselineLines: string[] = [];
  let maxRss = 0;
  let last: Awaited<ReturnType<typeof convertOnce>> | undefined;
  for (let r = 1; r <= rounds; r++) {
    const serial = gunzip(files, 1);
    const parallel = gunzip(files, threads);
    const ours = await convertOnce();
    // The same job on one thread: per-core efficiency at gzip's own concurrency.
    const single = threads > 1 ? await convertOnce(jobDir, 1) : ours;
    // The same job with the other malloc setting (see the module comment).
    const other = await convertOnce(jobDir, threads, otherEnv);
    if (
      ours.copyBytes !== serial.bytes ||
      parallel.bytes !== serial.bytes ||
      single.copyBytes !== serial.bytes ||
      other.copyBytes !== serial.bytes
    ) {
      throw new Error(`converted ${ours.copyBytes} bytes, gzip saw ${serial.bytes} and ${parallel.bytes}`);
    }
    const bytes = mb(serial.bytes);
    if (baselineDir !== undefined) {
      const before = await convertOnce(baselineDir);
      baselineLines.push(
        `| ${r} | ${(bytes / before.cpu).toFixed(0)} (${(bytes / before.wall).toFixed(0)}) | ${(bytes / before.cpu / (bytes / serial.cpu)).toFixed(2)} | ${(bytes / ours.cpu).toFixed(0)} (${(bytes / ours.wall).toFixed(0)}) | ${(bytes / ours.cpu / (bytes / serial.cpu)).toFixed(2)} | ${before.maxRss} / ${ours.maxRss} |`,
      );
    }
    const ratio = bytes / ours.cpu / (bytes / serial.cpu);
    const parallelRatio = bytes / ours.cpu / (bytes / parallel.cpu);
    const singleRatio = bytes / single.cpu / (bytes / serial.cpu);
    const otherRatio = bytes / other.cpu / (bytes / serial.cpu);
    otherRatios.push(otherRatio);
    ratios.push(ratio);
    parallelRatios.push(parallelRatio);
    singleRatios.push(singleRatio);
    maxRss = Math.max(maxRss, ours.maxRss, single.maxRss, other.maxRss);
    last = ours;
    lines.push(
      `| ${r} | ${(bytes / serial.cpu).toFixed(0)} (${(bytes / serial.wall).toFixed(0)}) | ${(bytes / parallel.cpu).toFixed(0)} (${(bytes / parallel.wall).toFixed(0)}) | ${(bytes / ours.cpu).toFixed(0)} (${(bytes / ours.wall).toFixed(0)}) | ${ratio.toFixed(2)} | ${parallelRatio.toFixed(2)} | ${(bytes / single.cpu).toFixed(0)} (${(bytes / single.wall).toFixed(0)}) | ${singleRatio.toFixed(2)} | ${(bytes / other.cpu).toFixed(0)} (${(bytes / other.wall).toFixed(0)}) | ${otherRatio.toFixed(2)} | ${ours.maxRss} / ${single.maxRss} / ${other.maxRss} |`,
    );
  }
  const ratio = median(ratios);
  const run = last as Awaited<ReturnType<typeof convertOnce>>;
  console.log(`## mozaggregator conversion${quick ? " (BENCH_QUICK)" : ""}

A generated day: ${files.length} tables, ${run.rows.toLocaleString("en")} rows, ${mb(run.copyBytes).toFixed(0)} MB of COPY text (${mb(gzBytes).toFixed(0)} MB gzipped, ${mb(run.parquetBytes).toFixed(0)} MB of Parquet out). Generated in ${generateSeconds.toFixed(1)} s, dumped in ${dumpSeconds.toFixed(1)} s. The bundled convert job on ${threads} threads, with the convert job's environment from the registry (${deployedTuned ? "GLIBC_TUNABLES set: glibc malloc keeps freed memory, containers/mozaggregator/runtime.ts" : "no GLIBC_TUNABLES: default malloc"}); load average ${load.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end.

MB of COPY text per CPU-second (per core), wall MB/s in brackets:

| round | \`gzip -dc FILES \\| wc -c\` | same, ${threads} at once | conversion to Parquet, ${threads} threads | ratio to gzip | ratio to ${threads} gzips | conversion, 1 thread | ratio to gzip | ${threads} threads, ${otherLabel} | ratio to gzip | peak RSS MB (${threads} threads / 1 / ${otherLabel}) |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${lines.join("\n")}

Median ratio per core: **${ratio.toFixed(2)}** against serial gzip (target >= 0.50: ${ratio >= 0.5 ? "met" : "not met"}), ${median(parallelRatios).toFixed(2)} against ${threads} gzips at once; on one thread, as gzip runs, **${median(singleRatios).toFixed(2)}** against serial gzip; on ${threads} threads with ${otherLabel}, ${median(otherRatios).toFixed(2)}. Peak RSS of the job (process.resourceUsage().maxRSS, all threads): ${maxRss} MB (target < 300 MB: ${maxRss < 300 ? "met" : "not met"}).
${
  baselineDir === undefined
    ? ""
    : `
Before/after in the same rounds (BENCH_BASELINE=${baselineDir}), MB per CPU-second (wall MB/s) and ratio to serial gzip:

| round | before | ratio | after | ratio | peak RSS MB before / after |
|---:|---:|---:|---:|---:|---:|
${baselineLines.join("\n")}
`
}`);
} finally {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
