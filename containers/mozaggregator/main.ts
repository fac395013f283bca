import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { NotFoundError } from "../../shared/adapters/ports.ts";
import { JobArgsBase, parseContract, parseJson } from "../../shared/contracts/v1/index.ts";
import { integer, parseConfig, port, setting, text } from "../../shared/core/config.ts";
import { parseDay } from "../../shared/core/dates.ts";
import { exitCode, NonRetriableError, reasonOf } from "../../shared/core/errors.ts";
import { createLogger, type Logger } from "../../shared/core/log.ts";
import { completeDay, convert, NO_DATA_FILE, SUCCESS_FILE } from "./convert.ts";
import { type DumpResult, dump, type PgConnection } from "./dump.ts";
import { type DayStatus, load } from "./load.ts";
import { download, type Location, localObjectsPath, parseLocation, upload } from "./locations.ts";
import { DSN_SECRET, findPgDump, type JobPorts, openJobPorts, parseDsn } from "./ports.ts";
import { AGGREGATE_TYPES, nodash } from "./tables.ts";

/**
 * The mozaggregator job entrypoint (one image, three steps):
 *
 * - `dump`: `pg_dump` per aggregate type of the day into `<output>/<type>/<ds_nodash>/`; a type with no
 *   tables gets `_NO_DATA.json` with the reason. Types are spread over the job's tasks.
 * - `convert`: the day's dumps under `<input>` -> Parquet under `<output>`, tables sharded over the tasks,
 *   worker threads inside each task (see convert.ts for publication and markers).
 * - `load`: the day's `_SUCCESS` manifests under `<input>` -> the day's warehouse partitions (load.ts), then
 *   the day status object under `<status>`.
 *
 * Locations are local paths, file:// URIs or `gs://bucket/prefix` (locations.ts: in place on the local twin,
 * staged through the objects port on Google Cloud). PostgreSQL's DSN comes from the secret `postgres-dsn`
 * (env `POSTGRES_DSN` when Cloud Run injects it, else the secrets port), else from the variables below. When
 * pg_dump is not installed and a `status` location is given, the dump step records the day as `skipped`.
 *
 * Arguments: JSON in `TESSERA_JOB_ARGS` or `--args '<json>'` (v1 JobArgsBase plus the fields below); the shard
 * from `CLOUD_RUN_TASK_INDEX`/`CLOUD_RUN_TASK_COUNT`; PostgreSQL from `POSTGRES_HOST`, `POSTGRES_PORT`,
 * `POSTGRES_DB`, `POSTGRES_USER` and the secret `POSTGRES_PASS` (the original's variable names). Exit 0 on
 * success, 3 on bad input (NonRetriableError), 1 on anything retryable. The result is one JSON line on stdout.
 */

export const MozaggregatorJobArgs = JobArgsBase.extend({
  step: z.enum(["dump", "convert", "load"]),
  aggregateTypes: z
    .array(z.enum(AGGREGATE_TYPES))
    .min(1)
    .default([...AGGREGATE_TYPES]),
  /** convert: the dump root (`<input>/<type>/<ds_nodash>/toc.dat`). A local path or file:// URI. */
  input: z.string().min(1).optional(),
  /** dump: the dump root; convert: the Parquet root. A local path, file:// URI or gs://bucket/prefix. */
  output: z.string().min(1).optional(),
  /** The day status objects' location (`gs://<bucket>/mozaggregator/status`): dump (skipped) and load. */
  status: z.string().min(1).optional(),
  /** The ingest_date column; default today (UTC), as the original's current_date(). */
  ingestDate: z.string().optional(),
  /** Worker threads per task; default the machine's parallelism. */
  threads: z.number().int().min(1).max(64).optional(),
  /** pg_dump --jobs. */
  dumpJobs: z.number().int().min(1).max(16).optional(),
});
export type MozaggregatorJobArgs = z.infer<typeof MozaggregatorJobArgs>;

const ENV = {
  taskIndex: setting("CLOUD_RUN_TASK_INDEX", { default: "0", parse: integer(0, 9999) }),
  taskCount: setting("CLOUD_RUN_TASK_COUNT", { default: "1", parse: integer(1, 10000) }),
  pgHost: setting("POSTGRES_HOST", { default: "127.0.0.1", parse: text }),
  pgPort: setting("POSTGRES_PORT", { default: "5432", parse: port }),
  pgDatabase: setting("POSTGRES_DB", { default: "aggregates", parse: text }),
  pgUser: setting("POSTGRES_USER", { default: "postgres", parse: text }),
  pgPassword: setting("POSTGRES_PASS", { optional: true, parse: text }),
};

/** A location as a local directory: itself, or the local twin's object tree; undefined when it must be staged. */
function inPlace(loc: Location, ports: JobPorts | undefined): string | undefined {
  if (loc.kind === "path") return loc.path;
  if (!ports) {
    throw new NonRetriableError("a gs:// location needs the objects port (TESSERA_MODE and its settings)", {
      field: "output",
    });
  }
  return ports.mode === "local" ? localObjectsPath(ports.stateDir, loc.bucket, loc.prefix) : undefined;
}

function statusLocation(args: MozaggregatorJobArgs): { bucket: string; name: string } | undefined {
  if (args.status === undefined) return undefined;
  const loc = parseLocation(args.status, "status");
  if (loc.kind !== "bucket") {
    throw new NonRetriableError("status must be a gs://bucket/prefix location", { field: "status" });
  }
  return { bucket: loc.bucket, name: `${loc.prefix}/${args.partition}.json` };
}

async function connectionOf(
  config: ReturnType<typeof parseConfig<typeof ENV>>,
  env: Record<string, string | undefined>,
  ports: JobPorts | undefined,
): Promise<PgConnection> {
  let dsn = env.POSTGRES_DSN;
  if (dsn === undefined && ports) {
    try {
      dsn = await ports.secrets.get(DSN_SECRET);
    } catch (err) {
      if (!(err instanceof NotFoundError) && (err as Error).name !== "NotFoundError") throw err;
    }
  }
  if (dsn !== undefined) return parseDsn(dsn);
  return {
    host: config.pgHost,
    port: config.pgPort,
    user: config.pgUser,
    database: config.pgDatabase,
    password: config.pgPassword,
  };
}

export function readJobArgs(argv: string[], env: Record<string, string | undefined>): MozaggregatorJobArgs {
  const i = argv.indexOf("--args");
  const raw = i >= 0 ? argv[i + 1] : env.TESSERA_JOB_ARGS;
  if (raw === undefined) {
    throw new NonRetriableError("no job arguments: set TESSERA_JOB_ARGS or pass --args '<json>'", {
      field: "TESSERA_JOB_ARGS",
      fix: 'pass {"pipeline":"mozaggregator","partition":"YYYY-MM-DD","runId":"...","step":"dump|convert","output":"..."}',
    });
  }
  const args = parseContract(
    MozaggregatorJobArgs,
    parseJson(raw, "job arguments"),
    "mozaggregator job arguments",
  );
  parseDay(args.partition, "partition");
  if (args.ingestDate !== undefined) parseDay(args.ingestDate, "ingestDate");
  if (args.step !== "load" && args.output === undefined) {
    throw new NonRetriableError(`mozaggregator job arguments: output is required for step ${args.step}`, {
      field: "output",
      fix: "pass the root the step writes (a path or gs://bucket/prefix)",
    });
  }
  if (args.step !== "dump" && args.input === undefined) {
    throw new NonRetriableError("mozaggregator job arguments: input is required for step convert", {
      field: "input",
      fix: "pass the root the previous step wrote",
    });
  }
  return args;
}

export async function runJob(
  args: MozaggregatorJobArgs,
  env: Record<string, string | undefined>,
  log: Logger,
): Promise<unknown> {
  const config = parseConfig(ENV, env);
  const usesObjects = [args.input, args.output, args.status].some((l) => l?.startsWith("gs://"));
  const ports = usesObjects ? await openJobPorts(env, log) : undefined;
  try {
    if (args.step === "dump") return await runDump(args, config, env, ports, log);
    if (args.step === "convert") return await runConvert(args, config, ports, log);
    return await runLoad(args, ports, log);
  } finally {
    await ports?.close();
  }
}

async function runDump(
  args: MozaggregatorJobArgs,
  config: ReturnType<typeof parseConfig<typeof ENV>>,
  env: Record<string, string | undefined>,
  ports: JobPorts | undefined,
  log: Logger,
): Promise<unknown> {
  const ds = args.partition;
  const status = statusLocation(args);
  const mine = args.aggregateTypes.filter((_, i) => i % config.taskCount === config.taskIndex);
  if (status && ports) {
    const store = ports.objects.bucket(status.bucket);
    if (findPgDump(env) === undefined) {
      const day: DayStatus = {
        ds,
        status: "skipped",
        reason:
          "skipped: PostgreSQL is not installed (no pg_dump; install postgresql-client or set TESSERA_PG_BIN)",
        at: new Date().toISOString(),
      };
      await store.put(status.name, `${JSON.stringify(day, null, 2)}\n`, { contentType: "application/json" });
      log.warn(day.reason as string);
      return { step: "dump", ...day };
    }
    await store.delete(status.name, { ignoreMissing: true });
  }
  const connection = await connectionOf(config, env, ports);
  const loc = parseLocation(args.output as string, "output");
  const local = inPlace(loc, ports);
  const root = local ?? (await mkdtemp(join(tmpdir(), "mozaggregator-dump-")));
  try {
    const results: DumpResult[] = [];
    for (const type of mine) {
      const outDir = join(root, type, nodash(ds));
      const result = await dump({ connection, ds, type, outDir, jobs: args.dumpJobs });
      if (result.status === "no-data") {
        await rm(outDir, { recursive: true, force: true });
        await mkdir(outDir, { recursive: true });
        await writeFile(join(outDir, NO_DATA_FILE), `${JSON.stringify(result, null, 2)}\n`);
        log.warn("no data for this day and type", { type, reason: result.reason });
      } else {
        log.info("dumped", { type, tables: result.tables.length, bytes: result.bytes });
      }
      if (local === undefined && loc.kind === "bucket" && ports) {
        const store = ports.objects.bucket(loc.bucket);
        const prefix = `${loc.prefix}/${type}/${nodash(ds)}`;
        for (const o of await store.list(`${prefix}/`)) await store.delete(o.name, { ignoreMissing: true });
        await upload(store, outDir, prefix, ["toc.dat", NO_DATA_FILE]);
      }
      results.push(result);
    }
    return { step: "dump", ds, taskIndex: config.taskIndex, taskCount: config.taskCount, results };
  } finally {
    if (local === undefined) await rm(root, { recursive: true, force: true });
  }
}

async function runConvert(
  args: MozaggregatorJobArgs,
  config: ReturnType<typeof parseConfig<typeof ENV>>,
  ports: JobPorts | undefined,
  log: Logger,
): Promise<unknown> {
  const ds = args.partition;
  const inLoc = parseLocation(args.input as string, "input");
  const outLoc = parseLocation(args.output as string, "output");
  const localIn = inPlace(inLoc, ports);
  const localOut = inPlace(outLoc, ports);
  const scratch = localIn && localOut ? undefined : await mkdtemp(join(tmpdir(), "mozaggregator-convert-"));
  try {
    const input = localIn ?? join(scratch as string, "in");
    const output = localOut ?? join(scratch as string, "out");
    if (localIn === undefined && inLoc.kind === "bucket" && ports) {
      for (const type of args.aggregateTypes) {
        const rel = `${type}/${nodash(ds)}`;
        await download(ports.objects.bucket(inLoc.bucket), `${inLoc.prefix}/${rel}`, join(input, rel));
      }
    }
    const outStore =
      localOut === undefined && outLoc.kind === "bucket" && ports
        ? ports.objects.bucket(outLoc.bucket)
        : undefined;
    if (outStore && outLoc.kind === "bucket") {
      for (const type of args.aggregateTypes) {
        await outStore.delete(`${outLoc.prefix}/${type}/${nodash(ds)}/${SUCCESS_FILE}`, {
          ignoreMissing: true,
        });
      }
    }
    const result = await convert({
      input,
      output,
      ds,
      types: args.aggregateTypes,
      taskIndex: config.taskIndex,
      taskCount: config.taskCount,
      threads: args.threads,
      ingestDate: args.ingestDate,
      log,
    });
    let completedDay = result.completedDay;
    if (outStore && outLoc.kind === "bucket") {
      // Parts, then this task's markers; then whichever task sees every marker in the bucket writes _SUCCESS.
      completedDay = true;
      for (const type of args.aggregateTypes) {
        const rel = `${type}/${nodash(ds)}`;
        const dir = join(output, rel);
        const prefix = `${outLoc.prefix}/${rel}`;
        await rm(join(dir, SUCCESS_FILE), { force: true });
        await upload(
          outStore,
          dir,
          prefix,
          (await readdir(dir)).filter((n) => n.startsWith("_task-")),
        );
        const marked = join(scratch as string, "markers", rel);
        await mkdir(marked, { recursive: true });
        for (const o of await outStore.list(`${prefix}/_task-`)) {
          await writeFile(join(marked, o.name.slice(prefix.length + 1)), await outStore.get(o.name));
        }
        if (await completeDay(marked, ds, type, config.taskCount)) {
          await outStore.put(`${prefix}/${SUCCESS_FILE}`, await readFile(join(marked, SUCCESS_FILE)));
        } else completedDay = false;
      }
    }
    log.info("converted", {
      rows: result.rows,
      copyBytes: result.copyBytes,
      seconds: result.seconds,
      completedDay,
    });
    return { step: "convert", ...result, completedDay };
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

async function runLoad(
  args: MozaggregatorJobArgs,
  ports: JobPorts | undefined,
  log: Logger,
): Promise<unknown> {
  const loc = parseLocation(args.input as string, "input");
  const status = statusLocation(args);
  if (loc.kind !== "bucket" || !ports || !status) {
    throw new NonRetriableError("load: input and status must be gs://bucket/prefix locations", {
      field: "input",
      fix: 'pass e.g. {"input":"gs://<data bucket>/mozaggregator/parquet","status":"gs://<data bucket>/mozaggregator/status"}',
    });
  }
  const day = await load({
    warehouse: await ports.warehouse(),
    store: ports.objects.bucket(loc.bucket),
    prefix: loc.prefix,
    statusObject: status.name,
    ds: args.partition,
    types: args.aggregateTypes,
    project: ports.project,
    log,
  });
  if (status.bucket !== loc.bucket) {
    await ports.objects.bucket(status.bucket).put(status.name, `${JSON.stringify(day, null, 2)}\n`);
  }
  return { step: "load", ...day };
}

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  if (argv.includes("--help")) {
    process.stdout.write(
      "Usage: node index.js [--args JSON]   (the mozaggregator Cloud Run jobs)\n" +
        "  --args JSON or TESSERA_JOB_ARGS: {pipeline, partition: YYYY-MM-DD, runId, step: dump | convert | load, input, output}\n" +
        "  TESSERA_MODE (local | gcp) and the bucket settings; the Postgres DSN from its secret\n" +
        "Prints the step's result as one JSON line. Exit 0 on success, 3 for bad input (not retried), 1 otherwise.\n",
    );
    return 0;
  }
  let log = createLogger({ labels: { pipeline: "mozaggregator" } });
  try {
    const args = readJobArgs(argv, env);
    log = log.child({ partition: args.partition, runId: args.runId, step: args.step });
    const result = await runJob(args, env, log);
    // The job's own footprint, for operators and the bench: CPU of all threads, peak resident memory.
    const cpu = process.cpuUsage();
    const usage = {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    process.stdout.write(`${JSON.stringify({ ...(result as object), usage })}\n`);
    return 0;
  } catch (err) {
    log.error(reasonOf(err), { exitCode: exitCode(err) });
    return exitCode(err);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
