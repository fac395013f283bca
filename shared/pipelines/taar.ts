import { join } from "node:path";
import { TaarParams } from "../../containers/taar/params.ts";
import { BIGTABLE_TABLE, PROFILE_FAMILY, TELEMETRY_TABLES } from "../../containers/taar/tables.ts";
import { addDays, formatDay } from "../core/dates.ts";
import {
  definePipeline,
  type JobDefinition,
  type LocalSeedContext,
  type PipelineDefinition,
} from "./types.ts";

/**
 * TAAR / TAARlite ETL (README "taar"): `taar-daily` rebuilds the recommender's model files from AMO and the
 * day's telemetry; `taar-weekly` reloads the client profiles into Bigtable. Both run one job image whose
 * entrypoint picks the step from TAAR_STEP.
 */

const yesterday = (now: Date) => formatDay(addDays(now, -1));

function job(name: string, o: Partial<JobDefinition> = {}): JobDefinition {
  return {
    name,
    entrypoint: "containers/taar/main.ts",
    image: "taar",
    cpu: "1",
    memory: "1Gi",
    taskCount: 1,
    parallelism: 1,
    timeoutSeconds: 3600,
    maxRetries: 0,
    // bzip2 compresses the model files natively (the JavaScript fallback is ~100x slower).
    systemPackages: ["bzip2"],
    ...o,
    env: { TAAR_STEP: name, ...(o.env ?? {}) },
  };
}

const telemetryTables = TELEMETRY_TABLES.map((t) => ({ dataset: t.dataset, table: t.table, ...t.schema }));

let seeded: Promise<void> | undefined;

/** Seed the telemetry tables for the day before `now` (the partition a schedule tick runs); once per process. */
function seed(ctx: LocalSeedContext): Promise<void> {
  seeded ??= seedOnce(ctx);
  return seeded;
}

async function seedOnce(ctx: LocalSeedContext): Promise<void> {
  // The jobs open the DuckDB file themselves, so the seed takes its own connection and releases it.
  const [{ createLocalWarehouse }, { seedTelemetry }] = await Promise.all([
    import("../adapters/local/warehouse.ts"),
    import("../../containers/taar/seed-data.ts"),
  ]);
  const warehouse = createLocalWarehouse({ path: join(ctx.stateDir, "warehouse.duckdb"), releaseAfterMs: 0 });
  try {
    const rows = await seedTelemetry(warehouse, { day: yesterday(ctx.now) });
    ctx.log.info(`taar: seeded telemetry for ${yesterday(ctx.now)}`, rows);
  } finally {
    await warehouse.close();
  }
}

async function listFiles(ctx: LocalSeedContext, prefixes: string[], day: string): Promise<string[]> {
  const store = ctx.adapters.objects.bucket(ctx.buckets.data);
  const lines: string[] = [];
  for (const p of prefixes) {
    for (const o of await store.list(p)) {
      if (
        /\.\d{8}\.bz2$/.test(o.name) ||
        (o.name.startsWith("taar/runs/") && !o.name.startsWith(`taar/runs/${day}/`))
      )
        continue;
      lines.push(`  ${store.uri(o.name)} (${o.size} bytes)`);
    }
  }
  return lines;
}

export const taarDaily: PipelineDefinition<typeof TaarParams> = definePipeline({
  id: "taar-daily",
  title: "TAAR daily models",
  description:
    "AMO dump and whitelists, then the similarity, locale and TAARlite models from the day's telemetry, as bz2 JSON files.",
  partition: { kind: "daily", fromTick: yesterday, latest: yesterday, maxBackfill: 90 },
  schedules: [{ name: "daily", cron: "0 4 * * *", timeZone: "UTC" }],
  workflow: "taar-daily.workflows.yaml",
  jobs: [
    job("amodump", { memory: "2Gi", timeoutSeconds: 7200, maxRetries: 1 }),
    job("amowhitelist"),
    job("update-whitelist", { maxRetries: 1 }),
    // Waits for the day's telemetry up to params.telemetryWaitSeconds (at most 7200 s) and fails itself first.
    job("telemetry-ready", { cpu: "1", memory: "512Mi", timeoutSeconds: 7500 }),
    job("lite-guid-ranking"),
    job("similarity", { cpu: "2", memory: "4Gi" }),
    job("locale", { memory: "2Gi" }),
    job("lite", { memory: "2Gi" }),
  ],
  functions: [],
  topics: [],
  tables: telemetryTables,
  prefixes: [
    { bucket: "data", prefix: "addon_recommender/" },
    { bucket: "data", prefix: "taar/" },
  ],
  secrets: [],
  params: TaarParams,
  local: {
    seed,
    async describe(ctx, partition) {
      const lines = await listFiles(
        ctx,
        ["addon_recommender/", "taar/lite/", "taar/similarity/", "taar/locale/", `taar/runs/${partition}/`],
        partition,
      );
      return [
        `  model files (each also has a dated copy .${partition.replaceAll("-", "")}.bz2):`,
        ...lines,
      ].join("\n");
    },
  },
});

export const taarWeekly: PipelineDefinition<typeof TaarParams> = definePipeline({
  id: "taar-weekly",
  title: "TAAR weekly profiles",
  description:
    "Client profiles from clients_last_seen into Bigtable (temp table, Avro, load, cleanup) and deletion of opted-out clients.",
  partition: { kind: "daily", fromTick: yesterday, latest: yesterday, maxBackfill: 30 },
  schedules: [{ name: "weekly", cron: "0 6 * * 1", timeZone: "UTC" }],
  workflow: "taar-weekly.workflows.yaml",
  jobs: [
    job("profile-wipe", { memory: "512Mi", timeoutSeconds: 600 }),
    job("profile-fill", { timeoutSeconds: 1800 }),
    job("profile-export", { taskCount: 2, parallelism: 2, memory: "2Gi" }),
    job("profile-load", { taskCount: 2, parallelism: 2, memory: "2Gi" }),
    job("profile-delete-opt-out", { timeoutSeconds: 1800, maxRetries: 1 }),
  ],
  functions: [],
  topics: [],
  // The temp table taar_tmp.taar_tmp_profile is created and dropped by every run, so it is not declared here
  // (a declared table would be recreated by every deploy and fought over).
  tables: [],
  prefixes: [
    { bucket: "data", prefix: "taar-tmp/" },
    { bucket: "data", prefix: "taar/runs/" },
  ],
  secrets: [],
  wideTables: [{ table: BIGTABLE_TABLE, families: [PROFILE_FAMILY] }],
  params: TaarParams,
  local: {
    seed,
    async describe(ctx, partition) {
      let rows = 0;
      try {
        for await (const _ of ctx.adapters.wideRows.scan(BIGTABLE_TABLE)) rows++;
      } catch {
        rows = 0;
      }
      const lines = await listFiles(ctx, [`taar/runs/${partition}/`, "taar-tmp/"], partition);
      return [
        `  Bigtable ${BIGTABLE_TABLE}: ${rows} profile rows (family profile, qualifier payload)`,
        "  run summaries:",
        ...lines,
      ].join("\n");
    },
  },
});
