import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { DEMO_CONFIG, JobConfig } from "../../containers/mmm/jobconfig.ts";
import { formatDay } from "../core/dates.ts";
import { TOPICS } from "./platform.ts";
import { definePipeline, type JobDefinition, type LocalSeedContext, repoRoot } from "./types.ts";

/**
 * mmm: Robyn-method marketing-mix model training (README "mmm"). Key-partitioned: the partition is the run id.
 * The mmm API (`functions/mmm`, `mmm-api`) validates a job config, queues the run and starts it with the
 * config as params; a tick without a partition (as `npm start` publishes) trains the small demo config as
 * `demo-<YYYYMMDD>`.
 */

const job = (name: string, o: Partial<JobDefinition> = {}): JobDefinition => ({
  name,
  entrypoint: "containers/mmm/main.ts",
  image: "mmm",
  cpu: "1",
  memory: "2Gi",
  taskCount: 1,
  parallelism: 1,
  timeoutSeconds: 1800,
  // The workflow retries transient failures itself.
  maxRetries: 0,
  ...o,
  env: { MMM_STEP: name, ...(o.env ?? {}) },
});

/** The run's job config; an empty params object means the demo config. */
export const MmmParams = z.preprocess(
  (v) =>
    v === undefined || (typeof v === "object" && v !== null && Object.keys(v).length === 0) ? DEMO_CONFIG : v,
  JobConfig,
);

export const DEMO_TABLE = "mmm.demo_weekly";

async function seed(ctx: LocalSeedContext): Promise<void> {
  const csv = join(repoRoot(), "..", "shared", "data", "robyn", "dt_simulated_weekly.csv");
  if (!existsSync(csv)) {
    ctx.log.warn(
      `mmm: demo data ${csv} is missing (the checkout needs ../shared/data beside it); not seeded`,
    );
    return;
  }
  const { createLocalWarehouse } = await import("../adapters/local/warehouse.ts");
  // Its own handle on the DuckDB file, closed at the end, so the job processes can open it afterwards.
  const warehouse = createLocalWarehouse({ path: join(ctx.stateDir, "warehouse.duckdb"), releaseAfterMs: 0 });
  try {
    await warehouse.query("CREATE SCHEMA IF NOT EXISTS mmm");
    await warehouse.query(
      `CREATE OR REPLACE TABLE ${DEMO_TABLE} AS SELECT 'DE' AS COUNTRY, * FROM read_csv_auto('${csv.replaceAll("'", "''")}', header = true)`,
    );
    const [{ n }] = await warehouse.query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM ${DEMO_TABLE}`);
    ctx.log.info(`mmm: loaded ${n} weeks of Robyn's simulated data into ${DEMO_TABLE}`);
  } finally {
    await warehouse.close();
  }
}

export const mmm = definePipeline({
  id: "mmm",
  title: "Marketing-mix models",
  description:
    "Robyn-method MMM training runs: data and Prophet baseline, parallel trials, Pareto merge, one-pagers, allocator and model summaries.",
  partition: {
    kind: "key",
    fromTick: (now) => `demo-${formatDay(now).replaceAll("-", "")}`,
  },
  schedules: [],
  workflow: "mmm.workflows.yaml",
  jobs: [
    job("prepare", { memory: "4Gi" }),
    job("trials", { cpu: "2", memory: "2Gi", taskCount: 5, parallelism: 5, timeoutSeconds: 3600 }),
    job("merge", { memory: "4Gi" }),
    job("report", { memory: "4Gi" }),
    job("fail", { memory: "512Mi", timeoutSeconds: 300 }),
  ],
  functions: [
    {
      name: "api",
      source: "mmm",
      target: "mmmApi",
      trigger: { kind: "http" },
      memory: "512Mi",
      timeoutSeconds: 60,
      // Training requests, queue items and the queue's lease; a queued run starts with a schedule tick.
      writes: ["mmm/"],
      publishes: [TOPICS.scheduleTicks],
    },
    {
      // Advances the training queue when a run ends (run events), so queued runs start without an API call.
      name: "queue",
      source: "mmm",
      target: "mmmQueue",
      trigger: { kind: "topic", topic: TOPICS.runEvents },
      memory: "256Mi",
      timeoutSeconds: 60,
      writes: ["mmm/"],
      publishes: [TOPICS.scheduleTicks],
    },
  ],
  topics: [],
  tables: [],
  prefixes: [
    { bucket: "data", prefix: "robyn/" },
    { bucket: "data", prefix: "model_summary/" },
    { bucket: "data", prefix: "mmm/" },
  ],
  secrets: ["snowflake-private-key"],
  // The console's workbench (functions/console/workbench): queues training runs like the API, previews
  // Snowflake (with the uploaded key) and warehouse tables, and stores an uploaded key as a new version.
  console: {
    writes: ["mmm/"],
    publishes: [TOPICS.scheduleTicks],
    secrets: ["snowflake-private-key"],
    addsSecretVersions: ["snowflake-private-key"],
    previewsTables: true,
  },
  params: MmmParams,
  local: {
    seed,
    async describe(ctx, partition) {
      const store = ctx.adapters.objects.bucket(ctx.buckets.data);
      const { readRunRecord, readStatus } = await import("../../containers/mmm/run.ts");
      try {
        const rec = await readRunRecord(store, partition);
        const status = await readStatus(store, rec.prefix);
        const svgs = (await store.list(rec.prefix)).filter((o) => /\.(svg|png)$/.test(o.name));
        return [
          `  run ${partition}: ${status?.state ?? "?"} (${status?.message ?? ""})`,
          `  summary: ${store.uri(`${rec.prefix}model_summary.json`)}`,
          ...svgs.map((o) => `  plot: ${store.uri(o.name)}`),
        ].join("\n");
      } catch {
        return `  run ${partition}: no run record under mmm/runs/`;
      }
    },
  },
});
