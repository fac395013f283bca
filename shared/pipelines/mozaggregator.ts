import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { tableSchema } from "../../containers/mozaggregator/load.ts";
import { MALLOC_TUNABLES } from "../../containers/mozaggregator/runtime.ts";
import { WAREHOUSE_TABLES } from "../../containers/mozaggregator/schema.ts";
import { AGGREGATE_TYPES } from "../../containers/mozaggregator/tables.ts";
import { addDays, formatDay, parseDay } from "../core/dates.ts";
import { definePipeline, type JobDefinition, type LocalSeedContext } from "./types.ts";

/**
 * mozaggregator: Firefox's historical telemetry aggregates, PostgreSQL -> pg_dump (one task per aggregate
 * type) -> Parquet (tasks share the day's tables) -> the day's partitions of `telemetry.submission_date_aggregates`
 * and `telemetry.build_id_aggregates`, replaced atomically from the `_SUCCESS` manifests only. The partition is
 * the aggregates' day; a tick at 05:00 UTC on day T runs T-1. PostgreSQL's DSN is the secret `postgres-dsn`.
 * On the local twin, `seed` starts a throwaway PostgreSQL with one generated day (stopped when the process
 * exits); without PostgreSQL installed the run ends as skipped with that reason.
 */
const yesterday = (now: Date) => formatDay(addDays(parseDay(now.toISOString().slice(0, 10)), -1));

const job = (name: string, o: Partial<JobDefinition>): JobDefinition => ({
  name,
  entrypoint: "containers/mozaggregator/main.ts",
  image: "mozaggregator",
  cpu: "1",
  memory: "1Gi",
  taskCount: 1,
  parallelism: 1,
  timeoutSeconds: 3600,
  // The workflow retries transient failures itself; a NonRetriableError (exit 3) must not be re-run.
  maxRetries: 0,
  // pg_dump, which the dump step runs against the source database.
  systemPackages: ["postgresql-client"],
  ...o,
});

/** Local sample size: one day, small enough that `npm start` runs the whole pipeline in seconds. */
const SEED_TABLES_PER_DAY = 3;
const SEED_ROWS_PER_TABLE = 400;

export const mozaggregator = definePipeline({
  id: "mozaggregator",
  title: "mozaggregator aggregates",
  description:
    "Firefox telemetry aggregates from PostgreSQL: pg_dump per aggregate type, Parquet conversion sharded by table, and the day's warehouse partitions replaced atomically.",
  partition: { kind: "daily", fromTick: yesterday, latest: yesterday, maxBackfill: 3660 },
  schedules: [{ name: "daily", cron: "0 5 * * *", timeZone: "UTC" }],
  workflow: "mozaggregator.workflows.yaml",
  jobs: [
    job("dump", {
      taskCount: AGGREGATE_TYPES.length,
      parallelism: AGGREGATE_TYPES.length,
      secrets: ["postgres-dsn"],
    }),
    job("convert", {
      cpu: "2",
      memory: "1Gi",
      taskCount: 2,
      parallelism: 2,
      env: { GLIBC_TUNABLES: MALLOC_TUNABLES },
    }),
    job("load", { memory: "512Mi", timeoutSeconds: 1800 }),
  ],
  functions: [],
  topics: [],
  tables: AGGREGATE_TYPES.map((type) => ({
    dataset: "telemetry",
    table: WAREHOUSE_TABLES[type],
    ...tableSchema(type),
  })),
  prefixes: [{ bucket: "data", prefix: "mozaggregator/" }],
  secrets: ["postgres-dsn"],
  params: z.strictObject({
    /** Convert tasks (Cloud Run taskCount of the convert job); default 2. */
    convertTasks: z.number().int().min(1).max(100).optional(),
    /** Worker threads per convert task; default the task's cores. */
    threads: z.number().int().min(1).max(64).optional(),
  }),
  local: {
    seed: (context) => seedLocal(context),
    async describe(context, partition) {
      const d = partition.replaceAll("-", "");
      const root = join(context.stateDir, "objects", context.buckets.data, "mozaggregator");
      let status = "(no status)";
      try {
        const s = JSON.parse(
          (
            await context.adapters.objects
              .bucket(context.buckets.data)
              .get(`mozaggregator/status/${partition}.json`)
          ).toString(),
        ) as { status: string; reason?: string; tables?: { table: string; rows: number }[] };
        status = `${s.status}${s.reason ? ` (${s.reason})` : ""}${(s.tables ?? []).map((t) => `; ${t.table}: ${t.rows} rows`).join("")}`;
      } catch {
        // the run did not get as far as the load or the skip
      }
      return [
        `  day ${partition}: ${status}`,
        `  tables telemetry.submission_date_aggregates and telemetry.build_id_aggregates (DuckDB ${join(context.stateDir, "warehouse.duckdb")}), partition ingest_date = ${partition}`,
        `  dumps: ${join(root, "dumps", "<type>", d)}; Parquet and _SUCCESS manifests: ${join(root, "parquet", "<type>", d)}`,
      ].join("\n");
    },
  },
});

let seeded: Promise<void> | undefined;

/**
 * Start a throwaway PostgreSQL on a free 127.0.0.1 port, generate one small day (the day a tick runs) and put
 * its DSN in the local secrets file, where the dump job reads it; the cluster is stopped (pg_ctl, else by PID)
 * when this process exits. Without PostgreSQL it only says so: the run then ends as skipped.
 */
function seedLocal(context: LocalSeedContext): Promise<void> {
  seeded ??= seedOnce(context);
  return seeded;
}

async function seedOnce(context: LocalSeedContext): Promise<void> {
  const [{ postgresAvailable, startPostgres, DEFAULT_PG_BIN }, { generate }, fs] = await Promise.all([
    import("../../containers/mozaggregator/postgres-local.ts"),
    import("../../containers/mozaggregator/generator.ts"),
    import("node:fs/promises"),
  ]);
  const binDir = process.env.TESSERA_PG_BIN ?? DEFAULT_PG_BIN;
  if (!postgresAvailable(binDir)) {
    context.log.warn(
      `mozaggregator: PostgreSQL is not installed (no initdb/pg_ctl in ${binDir}); its run will end as "skipped: PostgreSQL is not installed". Install postgresql (Debian: apt-get install postgresql) or set TESSERA_PG_BIN.`,
    );
    return;
  }
  const cluster = await startPostgres({ binDir, password: randomPassword() });
  process.once("exit", () => cluster.stopSync());
  const day = yesterday(context.now);
  const tables = await generate(
    {
      host: cluster.host,
      port: cluster.port,
      user: cluster.user,
      database: cluster.database,
      password: cluster.password,
    },
    { days: [day], tablesPerDay: SEED_TABLES_PER_DAY, rowsPerTable: SEED_ROWS_PER_TABLE, seed: 1 },
  );
  const file = join(context.stateDir, "secrets.json");
  let secrets: Record<string, unknown> = {};
  try {
    secrets = JSON.parse(await fs.readFile(file, "utf8")) as Record<string, unknown>;
  } catch {
    // no secrets file yet
  }
  secrets["postgres-dsn"] = cluster.url();
  await fs.mkdir(context.stateDir, { recursive: true });
  await fs.writeFile(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  context.log.info(
    `mozaggregator: throwaway PostgreSQL on 127.0.0.1:${cluster.port} (PID ${cluster.pid}), ${tables.length} tables of ${SEED_ROWS_PER_TABLE} rows for ${day}; DSN in ${file} (secret postgres-dsn); stopped when this process exits`,
  );
}

function randomPassword(): string {
  return randomBytes(18).toString("base64url");
}
