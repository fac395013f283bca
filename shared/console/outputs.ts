import type { ObjectStore } from "../adapters/ports.ts";
import { NonRetriableError } from "../core/errors.ts";
import type { Ledger } from "../ledger/ledger.ts";

/**
 * Read-only views of what the pipelines publish in the data bucket (see each pipeline's README section):
 *
 * - mozaic-daily: `mozaic-daily/<date>/plots/<source>/<metric>.<country>.svg` (fan charts) and `manifest.json`;
 * - causemos: `<model_id>/<run_id>/...` (results.json, `{month|year}/<feature>/timeseries/global/global.csv`,
 *   `.../tiles/<timestamp>-<z>-<x>-<y>.tile`);
 * - taar: model files under `addon_recommender/` and `taar/` and the per-step summaries `taar/runs/<date>/*.json`;
 * - mozaggregator: `mozaggregator/status/<date>.json` and `mozaggregator/parquet/<type>/<yyyymmdd>/_SUCCESS`.
 *
 * Each view is one or two listings of one prefix plus a few small reads, never a walk of the bucket.
 */

export const OUTPUT_PIPELINES = ["mozaic-daily", "causemos", "taar-daily", "taar-weekly", "mozaggregator"];

/** The partitions of a pipeline whose latest attempt succeeded, newest first (one ledger listing). */
export async function succeededPartitions(ledger: Ledger, pipeline: string, limit = 400): Promise<string[]> {
  const out: string[] = [];
  for (const [partition, s] of await ledger.partitionStates(pipeline))
    if (s.state === "succeeded") out.push(partition);
  return out.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)).slice(0, limit);
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const KEY = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/;

function checkDay(date: string, field = "date"): string {
  if (!DAY.test(date))
    throw new NonRetriableError(`${field} "${date}" is not YYYY-MM-DD`, {
      field,
      fix: "pick a date from the list of succeeded partitions",
    });
  return date;
}

function json(buf: Buffer): unknown {
  return JSON.parse(buf.toString("utf8"));
}

async function readJson(store: ObjectStore, name: string): Promise<unknown> {
  try {
    return json(await store.get(name));
  } catch {
    return undefined;
  }
}

export interface FanChartRef {
  source: string;
  metric: string;
  country: string;
  path: string;
}

/** The fan charts of one mozaic-daily run, by data source, metric and country. */
export async function mozaicCharts(data: ObjectStore, date: string) {
  checkDay(date);
  const prefix = `mozaic-daily/${date}/plots/`;
  const charts: FanChartRef[] = [];
  for (const o of await data.list(prefix)) {
    const m = /^([^/]+)\/([^/.]+)\.(.+)\.svg$/.exec(o.name.slice(prefix.length));
    if (m) charts.push({ source: m[1], metric: m[2], country: m[3], path: o.name });
  }
  return { date, manifest: await readJson(data, `mozaic-daily/${date}/manifest.json`), charts };
}

const TILE = /^(.*)\/(month|year)\/([^/]+)\/tiles\/(\d+)-(\d+)-(\d+)-(\d+)\.tile$/;

export interface CausemosTile {
  path: string;
  resolution: string;
  feature: string;
  timestamp: string;
  z: number;
  x: number;
  y: number;
}

/** A causemos run's tree: counts by kind, results.json, features and their timeseries, tiles. */
export async function causemosRun(data: ObjectStore, partition: string) {
  if (!KEY.test(partition))
    throw new NonRetriableError(`partition "${partition}" is not model_id/run_id`, {
      field: "partition",
      fix: "pick a run from the list of succeeded causemos partitions",
    });
  const names = (await data.list(`${partition}/`)).map((o) => o.name);
  const { outputTreeSummary } = await import("../../containers/causemos/preview.ts");
  const tiles: CausemosTile[] = [];
  const timeseries: { resolution: string; feature: string; path: string }[] = [];
  for (const name of names) {
    const t = TILE.exec(name);
    if (t)
      tiles.push({
        path: name,
        resolution: t[2],
        feature: t[3],
        timestamp: t[4],
        z: Number(t[5]),
        x: Number(t[6]),
        y: Number(t[7]),
      });
    const s = /\/(month|year)\/([^/]+)\/timeseries\/global\/global\.csv$/.exec(name);
    if (s) timeseries.push({ resolution: s[1], feature: s[2], path: name });
  }
  // Low zooms first: the whole map at a glance; a run has thousands of tiles, the page needs a few.
  tiles.sort(
    (a, b) => a.z - b.z || a.feature.localeCompare(b.feature) || a.timestamp.localeCompare(b.timestamp),
  );
  return {
    partition,
    files: names.length,
    summary: outputTreeSummary(names),
    results: await readJson(data, `${partition}/results/results.json`),
    timeseries,
    tiles: tiles.slice(0, 200),
    tileCount: tiles.length,
  };
}

/** A global timeseries CSV as columns and numeric rows (timestamps as numbers). */
export async function causemosTimeseries(data: ObjectStore, path: string) {
  checkOutputPath(path, [".csv"]);
  const text = (await data.get(path)).toString("utf8").trim();
  const [head, ...lines] = text.split(/\r?\n/);
  const columns = head.split(",");
  const rows = lines.map((l) => l.split(",").map((v) => (v === "" ? null : Number(v))));
  return { path, columns, rows };
}

export async function causemosTileSvg(data: ObjectStore, path: string, stat?: string): Promise<string> {
  checkOutputPath(path, [".tile"]);
  const stats = ["s_sum_t_sum", "s_sum_t_mean", "weight", "s_mean_t_mean"];
  if (stat !== undefined && !stats.includes(stat))
    throw new NonRetriableError(`stat "${stat}" is not one of ${stats.join(", ")}`, { field: "stat" });
  const { previewTile } = await import("../../containers/causemos/preview.ts");
  return previewTile(new Uint8Array(await data.get(path)), {
    stat: stat as "s_sum_t_mean" | undefined,
    title: path.split("/").slice(-4).join("/"),
  });
}

/** TAAR: the current model files (not the dated copies) and the run's per-step summaries. */
export async function taarRun(data: ObjectStore, date: string) {
  checkDay(date);
  const models = [];
  for (const prefix of ["addon_recommender/", "taar/lite/", "taar/similarity/", "taar/locale/"])
    for (const o of await data.list(prefix))
      if (!/\.\d{8}\.bz2$/.test(o.name)) models.push({ path: o.name, size: o.size, updated: o.updated });
  const steps = [];
  for (const o of await data.list(`taar/runs/${date}/`))
    if (o.name.endsWith(".json"))
      steps.push({
        step: o.name.slice(`taar/runs/${date}/`.length, -5),
        summary: await readJson(data, o.name),
      });
  return { date, models, steps };
}

/** mozaggregator: the day's status file and the `_SUCCESS` manifest of each aggregate type. */
export async function mozaggregatorDay(data: ObjectStore, date: string) {
  checkDay(date);
  const compact = date.replaceAll("-", "");
  const manifests = [];
  for (const o of await data.list("mozaggregator/parquet/")) {
    const m = /^mozaggregator\/parquet\/([^/]+)\/(\d{8})\/_SUCCESS$/.exec(o.name);
    if (m && m[2] === compact)
      manifests.push({ type: m[1], path: o.name, manifest: await readJson(data, o.name) });
  }
  return { date, status: await readJson(data, `mozaggregator/status/${date}.json`), manifests };
}

const SERVED = new Map([
  [".svg", "image/svg+xml"],
  [".json", "application/json"],
  [".csv", "text/csv; charset=utf-8"],
]);

/** An object name the console may read: no `..`, no leading `/`, one of the given extensions. */
export function checkOutputPath(path: string, extensions: string[]): string {
  if (
    typeof path !== "string" ||
    path.length === 0 ||
    path.startsWith("/") ||
    path.split("/").some((s) => s === ".." || s === "") ||
    !extensions.some((e) => path.endsWith(e))
  )
    throw new NonRetriableError(`path "${path}" is not an output file the console shows`, {
      field: "path",
      fix: `give an object name from an outputs listing ending in ${extensions.join(", ")}`,
    });
  return path;
}

/** One output file (SVG, JSON or CSV) with its content type, at most 5 MB. */
export async function outputFile(
  data: ObjectStore,
  path: string,
): Promise<{ body: Buffer; contentType: string }> {
  checkOutputPath(path, [...SERVED.keys()]);
  const info = await data.stat(path);
  if (info.size > 5 * 1024 * 1024)
    throw new NonRetriableError(`${path} is ${info.size} bytes, more than the console shows (5 MB)`, {
      field: "path",
    });
  const ext = [...SERVED.keys()].find((e) => path.endsWith(e)) as string;
  return { body: await data.get(path), contentType: SERVED.get(ext) as string };
}
