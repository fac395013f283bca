import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { addDays, formatDay, parseDay } from "../core/dates.ts";
import { definePipeline } from "./types.ts";

/**
 * mozaic-daily: every morning, Mozaic forecasts of Firefox Desktop (Glean and legacy telemetry) and Mobile
 * daily users, new profiles and existing-user engagement by country and segment, through 31 December of next
 * year, into `forecasts_derived.mart_mozaic_daily_forecast_v2` (13 columns, one partition per
 * forecast_start_date, replaced atomically). The partition is the forecast start: a tick at 07:00 UTC on day T
 * runs T-1 (training through T-2), and T-1 is the newest date that may run.
 */
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be YYYY-MM-DD");

const outputColumns = [
  { name: "forecast_start_date", type: "DATE" },
  { name: "forecast_run_timestamp", type: "STRING" },
  { name: "mozaic_hash", type: "STRING" },
  { name: "data_source", type: "STRING" },
  { name: "target_date", type: "STRING" },
  { name: "data_type", type: "STRING" },
  { name: "country", type: "STRING" },
  { name: "app_name", type: "STRING" },
  { name: "segment", type: "STRING" },
  { name: "dau", type: "FLOAT64" },
  { name: "new_profiles", type: "FLOAT64" },
  { name: "existing_engagement_dau", type: "FLOAT64" },
  { name: "existing_engagement_mau", type: "FLOAT64" },
] as const;

const job = (
  name: string,
  step: string,
  cpu: string,
  memory: string,
  taskCount: number,
  timeoutSeconds: number,
) => ({
  name,
  entrypoint: "containers/mozaic-daily/main.ts",
  image: "mozaic-daily",
  cpu,
  memory,
  taskCount,
  parallelism: taskCount,
  timeoutSeconds,
  // The workflow retries transient failures itself; a NonRetriableError must not be re-run by Cloud Run.
  maxRetries: 0,
  env: { MOZAIC_STEP: step },
});

export const mozaicDaily = definePipeline({
  id: "mozaic-daily",
  title: "Mozaic daily forecasts",
  description:
    "Daily Mozaic forecasts of Firefox Desktop and Mobile DAU, new profiles and engagement by country and segment, validated and published per forecast_start_date.",
  partition: {
    kind: "daily",
    fromTick: (now) => formatDay(addDays(parseDay(now.toISOString().slice(0, 10)), -1)),
    latest: (now) => formatDay(addDays(parseDay(now.toISOString().slice(0, 10)), -1)),
    maxBackfill: 1000,
  },
  schedules: [{ name: "daily", cron: "0 7 * * *", timeZone: "UTC" }],
  workflow: "mozaic-daily.workflows.yaml",
  jobs: [
    job("extract", "extract", "1", "4Gi", 1, 1800),
    job("forecast", "forecast", "2", "8Gi", 3, 3600),
    job("publish", "publish", "2", "8Gi", 1, 1800),
  ],
  functions: [],
  topics: [],
  tables: [
    {
      dataset: "forecasts_derived",
      table: "mart_mozaic_daily_forecast_v2",
      columns: outputColumns.map((c) => ({ ...c })),
      partitionBy: "forecast_start_date",
      clusterBy: ["data_source", "country"],
      description: "Daily Mozaic forecasts of Firefox Desktop and Mobile (mozaic-daily).",
    },
    {
      dataset: "forecasts_derived",
      table: "mozaic_daily_run_log",
      columns: [
        { name: "forecast_start_date", type: "DATE" },
        { name: "forecast_run_timestamp", type: "STRING" },
        { name: "mozaic_hash", type: "STRING" },
        { name: "engine", type: "STRING" },
        { name: "testing_mode", type: "BOOL" },
        { name: "data_sources", type: "STRING" },
        { name: "rows", type: "INT64" },
        { name: "published_at", type: "TIMESTAMP" },
      ],
      partitionBy: "forecast_start_date",
      description: "One row per published mozaic-daily run.",
    },
  ],
  prefixes: [{ bucket: "data", prefix: "mozaic-daily/" }],
  secrets: [],
  params: z.strictObject({
    /** The original's backfill override; the partition is the forecast start, so it must equal it. */
    forecastStartDate: day.optional(),
    /** Desktop Glean DAU only, the 27-countries check relaxed (the original's ENABLE_TESTING_MODE). */
    testingMode: z.boolean().optional(),
  }),
  local: {
    // `npm start` runs yesterday in testing mode (Desktop Glean DAU, ~1-2 CPU-minutes); the full run of every
    // source and metric is `tessera run mozaic-daily` (see the README's mozaic-daily section for its cost).
    startParams: { testingMode: true },
    async seed(context) {
      const [{ createLocalWarehouse }, { seedSources }] = await Promise.all([
        import("../adapters/local/warehouse.ts"),
        import("../../containers/mozaic-daily/generate.ts"),
      ]);
      // Its own handle on the DuckDB file, closed at the end, so the job processes can open it afterwards.
      const warehouse = createLocalWarehouse({
        path: join(context.stateDir, "warehouse.duckdb"),
        releaseAfterMs: 50,
      });
      try {
        const to = formatDay(addDays(parseDay(context.now.toISOString().slice(0, 10)), -1));
        const done = await seedSources(warehouse, { to });
        const made = done.filter((t) => !t.skipped);
        context.log.info(
          made.length > 0
            ? `mozaic-daily: generated ${made.reduce((s, t) => s + t.rows, 0)} source rows in ${made.length} tables through ${to}`
            : `mozaic-daily: source tables already hold data through ${to}`,
        );
      } finally {
        await warehouse.close();
      }
    },
    async describe(context, partition) {
      const dir = join(context.stateDir, "objects", context.buckets.data, "mozaic-daily", partition);
      const plotsDir = join(dir, "plots");
      const plots = existsSync(plotsDir)
        ? readdirSync(plotsDir, { recursive: true }).filter((f) => String(f).endsWith(".svg")).length
        : 0;
      return [
        `  table forecasts_derived.mart_mozaic_daily_forecast_v2 (DuckDB ${join(context.stateDir, "warehouse.duckdb")}), partition forecast_start_date = ${partition}; run log forecasts_derived.mozaic_daily_run_log`,
        `  fan charts (${plots} SVG): ${plotsDir}`,
        `  run files (manifest, raw parts, per-source outputs): ${dir}`,
      ].join("\n");
    },
  },
});
