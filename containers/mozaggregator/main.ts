import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import { JobArgsBase, parseContract, parseJson } from "../../shared/contracts/v1/index.ts";
import { integer, parseConfig, port, setting, text } from "../../shared/core/config.ts";
import { parseDay } from "../../shared/core/dates.ts";
import { exitCode, NonRetriableError, reasonOf } from "../../shared/core/errors.ts";
import { createLogger, type Logger } from "../../shared/core/log.ts";
import { convert, NO_DATA_FILE } from "./convert.ts";
import { type DumpResult, dump } from "./dump.ts";
import { AGGREGATE_TYPES, nodash } from "./tables.ts";

/**
 * The mozaggregator job entrypoint (one Cloud Run Job, two steps):
 *
 * - `dump`: `pg_dump` per aggregate type of the day into `<output>/<type>/<ds_nodash>/`; a type with no
 *   tables gets `_NO_DATA.json` with the reason. Types are spread over the job's tasks.
 * - `convert`: the day's dumps under `<input>` -> Parquet under `<output>`, tables sharded over the tasks,
 *   worker threads inside each task (see convert.ts for publication and markers).
 *
 * Arguments: JSON in `TESSERA_JOB_ARGS` or `--args '<json>'` (v1 JobArgsBase plus the fields below); the shard
 * from `CLOUD_RUN_TASK_INDEX`/`CLOUD_RUN_TASK_COUNT`; PostgreSQL from `POSTGRES_HOST`, `POSTGRES_PORT`,
 * `POSTGRES_DB`, `POSTGRES_USER` and the secret `POSTGRES_PASS` (the original's variable names). Exit 0 on
 * success, 3 on bad input (NonRetriableError), 1 on anything retryable. The result is one JSON line on stdout.
 */

export const MozaggregatorJobArgs = JobArgsBase.extend({
  step: z.enum(["dump", "convert"]),
  aggregateTypes: z
    .array(z.enum(AGGREGATE_TYPES))
    .min(1)
    .default([...AGGREGATE_TYPES]),
  /** convert: the dump root (`<input>/<type>/<ds_nodash>/toc.dat`). A local path or file:// URI. */
  input: z.string().min(1).optional(),
  /** dump: the dump root; convert: the Parquet root. A local path or file:// URI. */
  output: z.string().min(1),
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

function localPath(location: string, field: string): string {
  if (location.startsWith("file://")) return fileURLToPath(location);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new NonRetriableError(
      `${field}: only local paths and file:// URIs are supported by this job, got ${location}`,
      {
        field,
        fix: "stage objects to a local directory (the objects port) and pass its path",
      },
    );
  }
  return resolve(location);
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
  if (args.step === "convert" && args.input === undefined) {
    throw new NonRetriableError("mozaggregator job arguments: input is required for step convert", {
      field: "input",
      fix: "pass the dump root the dump step wrote",
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
  const ds = args.partition;
  if (args.step === "dump") {
    const root = localPath(args.output, "output");
    const results: DumpResult[] = [];
    const mine = args.aggregateTypes.filter((_, i) => i % config.taskCount === config.taskIndex);
    for (const type of mine) {
      const outDir = join(root, type, nodash(ds));
      const result = await dump({
        connection: {
          host: config.pgHost,
          port: config.pgPort,
          user: config.pgUser,
          database: config.pgDatabase,
          password: config.pgPassword,
        },
        ds,
        type,
        outDir,
        jobs: args.dumpJobs,
      });
      if (result.status === "no-data") {
        await mkdir(outDir, { recursive: true });
        await writeFile(join(outDir, NO_DATA_FILE), `${JSON.stringify(result, null, 2)}\n`);
        log.warn("no data for this day and type", { type, reason: result.reason });
      } else {
        log.info("dumped", { type, tables: result.tables.length, bytes: result.bytes });
      }
      results.push(result);
    }
    return { step: "dump", ds, taskIndex: config.taskIndex, taskCount: config.taskCount, results };
  }
  const result = await convert({
    input: localPath(args.input as string, "input"),
    output: localPath(args.output, "output"),
    ds,
    types: args.aggregateTypes,
    taskIndex: config.taskIndex,
    taskCount: config.taskCount,
    threads: args.threads,
    ingestDate: args.ingestDate,
    log,
  });
  log.info("converted", {
    rows: result.rows,
    copyBytes: result.copyBytes,
    seconds: result.seconds,
    completedDay: result.completedDay,
  });
  return { step: "convert", ...result };
}

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
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
