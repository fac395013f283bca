import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { ObjectStore, Row, Warehouse } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { Logger } from "../../shared/core/log.ts";
import { type ProphetOptions, runTask } from "../forecast/index.ts";
import { createMozaicPool } from "../forecast/mozaic/pool.ts";
import { DATA_SOURCES, type DataSource, type Metric, runtimeDates, TESTING_SCOPE } from "./config.ts";
import { fanCharts, forecastSource } from "./forecast.ts";
import {
  checkAvailability,
  type PackedRow,
  QUERY_SPECS,
  type QuerySpec,
  runQueryPacked,
  specKey,
} from "./queries.ts";
import { formatOutputTable, OUTPUT_COLUMNS, OUTPUT_TABLE, RUN_LOG_COLUMNS, RUN_LOG_TABLE } from "./tables.ts";
import { validateOutput } from "./validation.ts";

/**
 * The three steps of a mozaic-daily run, each one Cloud Run job (`main.ts` picks by MOZAIC_STEP):
 * - extract: dates, pre-flight availability check, the query specs in scope -> `raw/<key>.json`, `manifest.json`;
 * - forecast: task i of n forecasts the data sources i, i+n, ... -> `parts/<source>.json` and fan charts;
 * - publish: combine and format the 13 columns, validate every rule, replace the date's rows atomically, log
 *   the run.
 * Everything between steps lives under `mozaic-daily/<forecast_start_date>/` in the data bucket; a part carries
 * its run's id, so a part left by an earlier run of the date is never mixed in.
 */
export const PREFIX = "mozaic-daily/";
export const ENGINE = "tessera forecast engine (Prophet MAP + Mozaic reconciliation), 1000 samples, q=0.5";

export interface Manifest {
  runId: string;
  forecastStartDate: string;
  trainingEndDate: string;
  forecastEndDate: string;
  forecastRunTimestamp: string;
  mozaicHash: string;
  testingMode: boolean;
  keys: string[];
  sources: DataSource[];
}

export interface RunParams {
  forecastStartDate?: string;
  testingMode?: boolean;
}

const dirOf = (date: string) => `${PREFIX}${date}/`;

/**
 * SHA-1 over the forecast engine's sources (its "commit"), 40 hex. A bundled job has no sources beside it: it
 * hashes its own bundle, which holds the engine as shipped.
 */
export function engineHash(root = join(import.meta.dirname, "..", "forecast")): string {
  const h = createHash("sha1");
  if (!existsSync(root)) return h.update(readFileSync(import.meta.filename)).digest("hex");
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) {
        h.update(p.slice(root.length));
        h.update(readFileSync(p));
      }
    }
  };
  walk(root);
  return h.digest("hex");
}

export function specsInScope(testingMode: boolean): QuerySpec[] {
  return testingMode
    ? QUERY_SPECS.filter((s) => s.source === TESTING_SCOPE.source && s.metric === TESTING_SCOPE.metric)
    : [...QUERY_SPECS];
}

async function readJson<T>(store: ObjectStore, name: string): Promise<T> {
  return JSON.parse((await store.get(name)).toString("utf8")) as T;
}

export async function extractStep(input: {
  warehouse: Warehouse;
  store: ObjectStore;
  partition: string;
  params: RunParams;
  now: Date;
  log: Logger;
}): Promise<Manifest> {
  const { partition, params } = input;
  if (params.forecastStartDate && params.forecastStartDate !== partition)
    throw new NonRetriableError(
      `params.forecastStartDate ${params.forecastStartDate} differs from the partition ${partition}`,
      { field: "params.forecastStartDate", fix: "leave it out or make it equal to the partition" },
    );
  const dates = runtimeDates(input.now, partition);
  const testingMode = params.testingMode === true;
  input.log.notice("mozaic-daily dates (UTC)", { ...dates, testingMode });
  const specs = specsInScope(testingMode);
  const available = await checkAvailability(input.warehouse, dates.trainingEndDate, specs);
  input.log.info("pre-flight passed", { tables: available });
  const runId = `${dates.forecastRunTimestamp.replace(/[^0-9]/g, "")}-${process.pid}`;
  const keys: string[] = [];
  for (const s of specs) {
    const rows = await runQueryPacked(input.warehouse, s);
    await input.store.put(`${dirOf(partition)}raw/${specKey(s)}.json`, JSON.stringify({ runId, rows }));
    keys.push(specKey(s));
    input.log.info("query done", { key: specKey(s), rows: rows.length });
  }
  const manifest: Manifest = {
    runId,
    ...dates,
    mozaicHash: engineHash(),
    testingMode,
    keys,
    sources: DATA_SOURCES.filter((d) => specs.some((s) => s.source === d)),
  };
  await input.store.put(`${dirOf(partition)}manifest.json`, JSON.stringify(manifest, null, 2));
  return manifest;
}

export async function forecastStep(input: {
  store: ObjectStore;
  partition: string;
  taskIndex: number;
  taskCount: number;
  poolSize?: number;
  /** Tasks each worker holds at once (createMozaicPool's `depth`). */
  poolDepth?: number;
  /** Whether the other tasks run on this machine's cores (default true, as in the local twin). */
  sharedCores?: boolean;
  samples?: number;
  /** The Prophet optimizer of every tile (MOZAIC_OPTIMIZER); default the engine's ("auto": Stan's L-BFGS). */
  optimizer?: ProphetOptions["optimizer"];
  log: Logger;
}): Promise<DataSource[]> {
  const dir = dirOf(input.partition);
  const manifest = await readJson<Manifest>(input.store, `${dir}manifest.json`);
  const mine = manifest.sources.filter((_, i) => i % input.taskCount === input.taskIndex);
  if (mine.length === 0) return [];
  // Tasks that share this machine's cores (the local twin's child processes) split them; a Cloud Run task
  // has its own CPUs (`sharedCores: false`).
  const poolSize =
    input.poolSize ??
    (input.sharedCores === false
      ? availableParallelism()
      : Math.max(1, Math.floor(availableParallelism() / Math.min(input.taskCount, manifest.sources.length))));
  // The pool's workers load containers/forecast/mozaic/worker.ts; a bundled job without it fits on this thread.
  const workerSource = existsSync(join(import.meta.dirname, "..", "forecast", "mozaic", "worker.ts"));
  const pool =
    poolSize > 1 && workerSource ? createMozaicPool({ size: poolSize, depth: input.poolDepth }) : undefined;
  // The sources of this task run at once on the shared pool, so one source's main-thread work (tiles,
  // reconciliation, formatting, writing) overlaps the others' fits.
  const forecastOne = async (source: DataSource) => {
    const started = Date.now();
    const raw: Partial<Record<Metric, PackedRow[]>> = {};
    for (const s of QUERY_SPECS.filter((q) => q.source === source && manifest.keys.includes(specKey(q)))) {
      const part = await readJson<{ runId: string; rows: PackedRow[] }>(
        input.store,
        `${dir}raw/${specKey(s)}.json`,
      );
      if (part.runId !== manifest.runId)
        throw new NonRetriableError(`raw/${specKey(s)}.json belongs to another run of ${input.partition}`, {
          field: "manifest.runId",
          fix: "rerun the whole date",
        });
      raw[s.metric] = part.rows;
    }
    const result = await forecastSource(source, raw, manifest, {
      pool,
      logger: input.log,
      samples: input.samples,
      optimizer: input.optimizer,
    });
    const output = formatOutputTable([{ source, rows: result.rows }], manifest);
    await input.store.put(
      `${dir}parts/${source}.json`,
      JSON.stringify({
        runId: manifest.runId,
        fallbacks: result.fallbacks,
        quantileStep: result.quantileStep,
        newHolidays: result.newHolidays,
        rows: output.map(pack),
      }),
    );
    const plots = await fanCharts(source, result.rows, manifest.forecastStartDate, {
      pool,
      runTask: async (t) => runTask(t, input.log),
    });
    for (const p of plots)
      await input.store.put(`${dir}plots/${p.name}`, p.svg, { contentType: "image/svg+xml" });
    input.log.notice("source forecast", {
      source,
      tiles: result.tiles,
      fallbacks: result.fallbacks.length,
      rows: output.length,
      plots: plots.length,
      seconds: (Date.now() - started) / 1000,
    });
  };
  try {
    await Promise.all(mine.map(forecastOne));
    if (pool) {
      const st = pool.stats();
      input.log.notice("forecast pool", {
        workers: pool.size,
        tasks: st.tasks,
        busySeconds: st.busyMs / 1000,
        workerCpuSeconds: st.cpuMs / 1000,
        wallSeconds: st.ageMs / 1000,
        utilisation: st.busyMs / (pool.size * st.ageMs),
      });
    }
  } finally {
    await pool?.close();
  }
  return mine;
}

const PACKED = [
  "data_source",
  "target_date",
  "data_type",
  "country",
  "app_name",
  "segment",
  "dau",
  "new_profiles",
  "existing_engagement_dau",
  "existing_engagement_mau",
];
const pack = (r: Row) => PACKED.map((k) => r[k]);

export async function loadOutput(
  store: ObjectStore,
  partition: string,
): Promise<{ manifest: Manifest; rows: Row[] }> {
  const dir = dirOf(partition);
  const manifest = await readJson<Manifest>(store, `${dir}manifest.json`);
  const rows: Row[] = [];
  for (const source of manifest.sources) {
    const name = `${dir}parts/${source}.json`;
    if (!(await store.exists(name)))
      throw new NonRetriableError(`the forecast of ${source} for ${partition} is missing (${name})`, {
        field: "parts",
        fix: "rerun the forecast job",
      });
    const part = await readJson<{ runId: string; rows: unknown[][] }>(store, name);
    if (part.runId !== manifest.runId)
      throw new NonRetriableError(`${name} belongs to another run of ${partition}`, {
        field: "parts",
        fix: "rerun the whole date",
      });
    for (const p of part.rows) {
      const r: Row = {
        forecast_start_date: manifest.forecastStartDate,
        forecast_run_timestamp: manifest.forecastRunTimestamp,
        mozaic_hash: manifest.mozaicHash,
      };
      PACKED.forEach((k, i) => {
        r[k] = p[i];
      });
      rows.push(r);
    }
  }
  return { manifest, rows };
}

export async function publishStep(input: {
  warehouse: Warehouse;
  store: ObjectStore;
  partition: string;
  log: Logger;
  now?: Date;
}): Promise<{ rows: number; runId: string }> {
  const { manifest, rows: loaded } = await loadOutput(input.store, input.partition);
  // Column order as the table declares it.
  const rows = loaded.map((r) => Object.fromEntries(OUTPUT_COLUMNS.map((c) => [c.name, r[c.name] ?? null])));
  await input.warehouse.ensureTable(OUTPUT_TABLE, {
    columns: OUTPUT_COLUMNS,
    partitionBy: "forecast_start_date",
    clusterBy: ["data_source", "country"],
    description: "Daily Mozaic forecasts of Firefox Desktop and Mobile (mozaic-daily).",
  });
  const schema = await input.warehouse.getSchema(OUTPUT_TABLE);
  validateOutput(rows, {
    forecastStartDate: manifest.forecastStartDate,
    trainingEndDate: manifest.trainingEndDate,
    forecastEndDate: manifest.forecastEndDate,
    testingMode: manifest.testingMode,
    specs: specsInScope(manifest.testingMode),
    schema: schema?.columns,
  });
  input.log.info("validation passed", { rows: rows.length });
  const written = await input.warehouse.replacePartition(
    OUTPUT_TABLE,
    { column: "forecast_start_date", value: manifest.forecastStartDate },
    { rows },
  );
  await input.warehouse.ensureTable(RUN_LOG_TABLE, {
    columns: RUN_LOG_COLUMNS,
    partitionBy: "forecast_start_date",
    description: "One row per published mozaic-daily run.",
  });
  await input.warehouse.insertRows(RUN_LOG_TABLE, [
    {
      forecast_start_date: manifest.forecastStartDate,
      forecast_run_timestamp: manifest.forecastRunTimestamp,
      mozaic_hash: manifest.mozaicHash,
      engine: ENGINE,
      testing_mode: manifest.testingMode,
      data_sources: manifest.sources.join(","),
      rows: written.rows,
      published_at: (input.now ?? new Date()).toISOString(),
    },
  ]);
  await input.store.put(
    `${dirOf(input.partition)}published.json`,
    JSON.stringify({
      runId: manifest.runId,
      rows: written.rows,
      table: `${OUTPUT_TABLE.dataset}.${OUTPUT_TABLE.table}`,
    }),
  );
  input.log.notice("published", { forecastStartDate: manifest.forecastStartDate, rows: written.rows });
  return { rows: written.rows, runId: manifest.runId };
}
