import { NonRetriableError } from "../../shared/core/errors.ts";
import { createLogger, type Logger } from "../../shared/core/log.ts";
import {
  type AggColumn,
  aggColumns,
  compareText,
  FUSED_KEYS,
  findSeries,
  type RegionIds,
  regionIdsByLevel,
  regionPeriodSums,
  rollUp,
  type Series,
  type Spatial,
  sameBody,
  spatialAggregation,
  type Temporal,
  temporalAggregation,
} from "./aggregate.ts";
import { scanColumns } from "./columns.ts";
import { csvDocument, csvText, intText, jsonText, pyFloat } from "./format.ts";
import { type DojoFrame, REGION_LEVELS, type RegionLevel, selectRows, type TextColumn } from "./frame.ts";
import { groupByKey, rowsByGroup } from "./group.ts";
import { CausemosParams, type CausemosParamsInput, OUTPUT_TASKS, type OutputTask } from "./params.ts";
import { scanDojo } from "./scan.ts";
import { takeSpareThread } from "./stream-decode.ts";
import {
  claimFeature,
  featureTiles,
  jobCells,
  shared,
  type TileFeature,
  type TileJob,
  type TileThread,
  tileFiles,
  tileThread,
} from "./tile-thread.ts";
import { seriesCells } from "./tiling.ts";
import { type ValidationCounters, validateAndFix } from "./validate.ts";
import type { OutputWriter } from "./writer.ts";

/**
 * The causemos job: Dojo model output -> validated -> raw outputs, monthly and yearly aggregates, regional
 * stats/timeseries/aggregations, grid stats and protobuf map tiles, the `all` summary and results.json, all
 * under `{model_id}/{run_id}/` of the writer's bucket, in the original's folder layout.
 */

export interface Shard {
  index: number;
  count: number;
}

export interface RunOptions {
  /** Use this frame instead of reading `data_paths` (the generator's in-memory form, tests). */
  frame?: DojoFrame;
  /** Process only the features of this shard (features sorted by name, dealt round-robin). */
  shard?: Shard;
  logger?: Logger;
  /** DuckDB threads for reading. */
  threads?: number;
  /**
   * How files are read: "columns" (default) decodes Parquet with our own reader and reduces in typed arrays,
   * falling back to DuckDB for files it cannot decode; "duckdb" always scans with DuckDB.
   */
  reader?: "columns" | "duckdb";
  /**
   * Tiles on a second thread (tile-thread.ts) from this many temporal rows (default 500,000; `threads: 1`
   * keeps them in the calling thread).
   */
  tileThreadRows?: number;
  /** Rows from which the one-pass read decodes on a second thread (`scanColumns`' option; default 500,000). */
  decodeThreadRows?: number;
}

const TILE_THREAD_ROWS = 500_000;

/** What results.json's data_info holds, plus the summary; also a shard's partial result. */
export interface RunResults {
  data_info: {
    num_rows: number;
    num_rows_per_feature: Record<string, number>;
    num_missing_ts: number;
    num_invalid_ts: number;
    num_missing_val: number;
    region_levels: string[];
    features: string[];
    raw_count_threshold: number;
    has_tiles: boolean;
    has_monthly: boolean;
    has_annual: boolean;
    has_weights: boolean;
    month_timeseries_size?: Record<string, number>;
    year_timeseries_size?: Record<string, number>;
  };
  output_agg_values?: Record<string, number | string | null>[];
}

export interface RunSummary {
  results: RunResults;
  /** Whether results.json was written (all output tasks selected, one shard). */
  recordedResults: boolean;
  files: number;
  bytes: number;
  tiles: number;
  bins: number;
  /** Milliseconds per step. */
  timings: Record<string, number>;
  /** CPU milliseconds per step (every thread of the process). */
  cpuTimings: Record<string, number>;
  /** Rows whose coordinates could not be placed on the map (no tiles for them). */
  rowsWithoutTile: number;
}

export function shardResultsName(params: { model_id: string; run_id: string }, shard: Shard): string {
  return `${params.model_id}/${params.run_id}/results/shards/${shard.index}-of-${shard.count}.json`;
}

export async function run(
  input: CausemosParamsInput,
  writer: OutputWriter,
  options: RunOptions = {},
): Promise<RunSummary> {
  const threads: Threads = {};
  try {
    return await runSteps(input, writer, options, threads);
  } catch (err) {
    await writer.abort?.();
    throw err;
  } finally {
    threads.tiles?.close();
  }
}

/** Helper threads a run started (closed when it ends). */
interface Threads {
  tiles?: TileThread;
}

async function runSteps(
  input: CausemosParamsInput,
  writer: OutputWriter,
  options: RunOptions,
  threads: Threads,
): Promise<RunSummary> {
  const params = CausemosParams.parse(input);
  const log =
    options.logger ??
    createLogger({ labels: { pipeline: "causemos", partition: `${params.model_id}/${params.run_id}` } });
  const timings: Record<string, number> = {};
  const cpuTimings: Record<string, number> = {};
  let mark = performance.now();
  let cpuMark = process.cpuUsage();
  const lap = (step: string) => {
    const now = performance.now();
    const cpu = process.cpuUsage(cpuMark);
    timings[step] = (timings[step] ?? 0) + (now - mark);
    cpuTimings[step] = (cpuTimings[step] ?? 0) + (cpu.user + cpu.system) / 1000;
    mark = now;
    cpuMark = process.cpuUsage();
  };
  const base = `${params.model_id}/${params.run_id}`;
  const selected = new Set<OutputTask>(
    params.selected_output_tasks && params.selected_output_tasks.length > 0
      ? params.selected_output_tasks
      : OUTPUT_TASKS,
  );
  const allSelected = OUTPUT_TASKS.every((t) => selected.has(t));
  // The writer thread starts loading during the read, once its first row group is in (whileReading); an
  // in-memory frame has no read to wait for.
  const prepareWriter = () => writer.prepare?.();
  if (options.frame) prepareWriter();

  // Two ways in, same results: an in-memory frame (generator, tests) is validated and grouped here; files are
  // scanned by DuckDB, which also does the monthly reduction (scan.ts).
  let frame: DojoFrame;
  let series: Series;
  let month: Temporal | undefined;
  let counters: ValidationCounters;
  let weighted: boolean;
  let numRows: number;
  let raw: DojoFrame | undefined;
  const rowsPerFeature: Record<string, number> = {};
  if (options.frame) {
    let input = options.frame;
    if (params.weight_column !== "" && !input.weight && input.qualifiers.has(params.weight_column)) {
      input = withWeightFromText(input, params.weight_column);
    }
    if (input.rows === 0) {
      throw new NonRetriableError("the data have no rows", {
        field: "params.data_paths",
        fix: "point data_paths at a run's output",
      });
    }
    if (options.shard && options.shard.count > 1) input = shardRows(input, options.shard);
    raw = input;
    numRows = input.rows;
    const counts = rowsByGroup(input.feature.codes, input.feature.values.length).start;
    const names = input.feature.values;
    for (const f of names.map((_, k) => k).sort((a, b) => compareText(names[a], names[b]))) {
      if (counts[f + 1] > counts[f]) rowsPerFeature[names[f]] = counts[f + 1] - counts[f];
    }
    lap("read");
    const validated = validateAndFix(input, {
      weightColumn: params.weight_column,
      fillTimestamp: params.fill_timestamp,
    });
    frame = validated.frame;
    weighted = validated.weightColumn !== "";
    counters = validated.counters;
    if (frame.rows === 0) throw noRowsLeft(counters);
    lap("validate");
    series = findSeries(frame);
  } else {
    const scanOptions = {
      weightColumn: params.weight_column,
      fillTimestamp: params.fill_timestamp,
      rawCountThreshold: params.raw_count_threshold,
      shard: options.shard,
      threads: options.threads,
      decodeThreadRows: options.decodeThreadRows,
      whileReading: prepareWriter,
    };
    const scan =
      (options.reader !== "duckdb" ? await scanColumns(params.data_paths, scanOptions) : undefined) ??
      (await scanDojo(params.data_paths, scanOptions));
    prepareWriter();
    ({ frame, series, counters, numRows, raw } = scan);
    month = scan.month;
    weighted = scan.weightColumn !== "";
    Object.assign(rowsPerFeature, scan.rowsPerFeature);
    if (month.rows === 0) throw noRowsLeft(counters);
    lap("read");
  }
  const features = frame.feature.values;
  const featureIds = features
    .map((_, k) => k)
    .filter((k) => series.feature.includes(k))
    .sort((a, b) => compareText(features[a], features[b]));

  // With the tiling thread, each resolution's tiles are made there while this thread makes the rest, and are
  // written at the end (the files are the same; only the order of puts differs). The month's job is posted as
  // soon as its table exists (here after a file read), so the thread starts on it once it is up.
  // The read's decoding thread, idle now, takes the tiles if there is one (no thread to start).
  const hasTiles = selected.has("compute_tiles") && frame.lat !== undefined && frame.lng !== undefined;
  const spare = takeSpareThread();
  if (
    hasTiles &&
    (options.threads ?? 2) > 1 &&
    (month?.rows ?? frame.rows) >= (options.tileThreadRows ?? TILE_THREAD_ROWS)
  )
    threads.tiles = tileThread(spare);
  else void spare?.terminate();
  const tileWorker = threads.tiles;
  // Each table's rows by feature, made once: for the steps below and, in shared memory, for the tiling thread.
  const rowsOfFeatures = new Map<Temporal, { start: Int32Array; rows: Int32Array }>();
  const tableByFeature = (t: Temporal) => {
    let made = rowsOfFeatures.get(t);
    if (!made) {
      made = rowsByGroup(featureOfRows(t, series), features.length, tileWorker !== undefined);
      rowsOfFeatures.set(t, made);
    }
    return made;
  };
  const tileJobs = new Set<string>();
  const postedJobs: TileJob[] = [];
  let tileAnswers = 0;
  const postTiles = (res: "month" | "year", t: Temporal) => {
    if (!tileWorker) return;
    const job: TileJob = {
      table: {
        res: t.res,
        rows: t.rows,
        periods: t.periods,
        series: shared(t.series),
        period: shared(t.period),
        tSum: shared(t.tSum),
        tMean: shared(t.tMean),
        count: shared(t.count),
      },
      byFeature: tableByFeature(t),
      features: featureIds,
      lat: shared(frame.lat as Float64Array),
      lng: shared(frame.lng as Float64Array),
      seriesRow: shared(series.row),
      ofRow: shared(series.ofRow),
      sameCells: tileJobs.size > 0,
      claims: new SharedArrayBuffer(4),
    };
    tileWorker.post(job);
    postedJobs.push(job);
    tileJobs.add(res);
    tileAnswers += featureIds.length;
  };
  if (month) postTiles("month", month);

  if (raw) {
    const rawFrame = raw;
    const byFeature = rowsByGroup(rawFrame.feature.codes, rawFrame.feature.values.length);
    for (let f = 0; f < rawFrame.feature.values.length; f++) {
      const from = byFeature.start[f];
      const to = byFeature.start[f + 1];
      if (to - from === 0 || to - from > params.raw_count_threshold) continue;
      writer.write(
        `${base}/raw/${rawFrame.feature.values[f]}/raw/raw.csv`,
        rawCsv(rawFrame, byFeature.rows.subarray(from, to)),
      );
    }
  }

  const regionLevels = REGION_LEVELS.filter((l) => frame.regions[l] !== undefined);
  const levelIds = regionIdsByLevel(frame, series, regionLevels);
  const seriesByFeature = rowsByGroup(series.feature, features.length);
  lap("series");

  // ---- region lists, qualifier lists and counts ----
  const qualifierNames = [...frame.qualifiers.keys()];
  const qualifierCounts: Record<string, Record<string, number>> = {};
  for (const f of featureIds) {
    const fs = seriesByFeature.rows.subarray(seriesByFeature.start[f], seriesByFeature.start[f + 1]);
    if (regionLevels.length > 0) {
      const lists: Record<string, string[]> = {};
      for (const level of REGION_LEVELS) {
        const ids = levelIds.get(level);
        lists[level] = ids ? uniqueInOrder(fs, (s) => ids.ofSeries[s], ids.ids) : [];
      }
      writer.write(`${base}/raw/${features[f]}/info/region_lists.json`, jsonText(lists));
    }
    const counts: Record<string, number> = {};
    for (const q of qualifierNames) {
      const col = frame.qualifiers.get(q) as TextColumn;
      const values = uniqueInOrder(fs, (s) => col.codes[series.row[s]], col.values);
      counts[q] = values.length;
      writer.write(`${base}/raw/${features[f]}/info/qualifiers/${q}.json`, jsonText(values));
    }
    qualifierCounts[features[f]] = counts;
    writer.write(
      `${base}/raw/${features[f]}/info/qualifier_counts.json`,
      jsonText({ thresholds: params.qualifier_thresholds, counts }),
    );
  }
  const limited = limitQualifiers(
    params.qualifier_map,
    qualifierNames,
    qualifierCounts,
    params.qualifier_thresholds.max_count,
  );
  const limitedRegional = limitQualifiers(
    limited.map,
    limited.columns,
    qualifierCounts,
    params.qualifier_thresholds.regional_timeseries_count,
  );
  lap("info");

  const cells =
    hasTiles && !tileWorker
      ? seriesCells(frame.lat as Float64Array, frame.lng as Float64Array, series.row)
      : undefined;
  let rowsWithoutTile = 0;
  if (cells && cells.invalid > 0) {
    for (let i = 0; i < frame.rows; i++) if (cells.x[series.ofRow[i]] < 0) rowsWithoutTile++;
    warnWithoutTile(log, rowsWithoutTile);
  }
  const timeseriesSize: Record<string, Record<string, number>> = { month: {}, year: {} };
  let tiles = 0;
  let bins = 0;
  const ctx: Ctx = { base, frame, series, features, weighted, levelIds, regionLevels, writer };

  if (!month) month = temporalAggregation(frame, series, "month");
  lap("temporal:month");
  const year = rollUp(month, series, "year");
  lap("temporal:year");
  // When each year holds one month of the data (or the months map one to one onto years), the year table is the
  // month table with other period starts: the year reuses the month's aggregates, and re-writes under the
  // year's names the files whose contents hold no timestamp (tiles, grid stats, regional aggregations).
  const yearReuses = sameBody(year, month);
  // A year that reuses the month's outputs gets the month's tile files under its names at the end, not in its
  // replay.
  if (!tileJobs.has("month")) postTiles("month", month);
  if (!yearReuses) postTiles("year", year);
  // The thread's answers are written as they come (looked for after each feature's steps), so the writer
  // thread has them early; the rest are waited for after the summary.
  let warnedWithoutTile = false;
  // A month answer whose year reuses it goes under both names, file by file: the writer keeps one copy of a
  // body written twice in a row.
  const putTiles = (made: TileFeature, res: "month" | "year", alsoYear: boolean) => {
    const t = res === "month" ? month : year;
    const prefix = `${base}/${res}/${features[made.f]}`;
    const yearPrefix = `${base}/year/${features[made.f]}`;
    for (const { period, head, tail, body } of made.files) {
      writer.write(`${prefix}/${head}${t.periods[period]}${tail}`, body);
      if (alsoYear) writer.write(`${yearPrefix}/${head}${year.periods[period]}${tail}`, body);
    }
    const times = alsoYear ? 2 : 1;
    tiles += made.tiles * times;
    bins += made.bins * times;
  };
  const tookTiles = (made: TileFeature) => {
    tileAnswers--;
    putTiles(made, made.res === "year" ? "year" : "month", made.res === "month" && yearReuses);
    if (made.invalid > 0 && !warnedWithoutTile) {
      warnedWithoutTile = true;
      rowsWithoutTile = made.rowsWithoutTile;
      warnWithoutTile(log, rowsWithoutTile);
    }
  };
  const collectTiles = (wait: boolean) => {
    while (tileWorker && tileAnswers > 0) {
      const made = wait ? tileWorker.take() : tileWorker.poll();
      if (!made) return;
      tookTiles(made);
    }
  };
  // At the end, the features the tiling thread has not started are made here while it finishes the others
  // (with the series' cells computed here too, once).
  const stealTiles = () => {
    let mine: ReturnType<typeof jobCells> | undefined;
    for (const job of postedJobs) {
      if (!job.sameCells) mine = undefined;
      for (let f = claimFeature(job); f !== undefined; f = claimFeature(job)) {
        mine ??= jobCells(job);
        tookTiles(featureTiles(job, mine.cells, mine.rowsWithoutTile, f));
        collectTiles(false);
      }
    }
  };
  const memos = new Map<number, Map<string, Aggregated>>();
  const replays = new Map<number, { files: PeriodFile[]; tiles: number; bins: number }>();
  for (const res of ["month", "year"] as const) {
    const t = res === "month" ? month : year;
    const reuse = res === "year" && yearReuses;
    const tByFeature = tableByFeature(t);
    for (const f of featureIds) {
      const rows = tByFeature.rows.subarray(tByFeature.start[f], tByFeature.start[f + 1]);
      const fname = features[f];
      const quals = (limited.map[fname] ?? []).filter((q) => limited.columns.includes(q));
      const regionalQuals = (limitedRegional.map[fname] ?? []).filter((q) =>
        limitedRegional.columns.includes(q),
      );
      const prefix = `${base}/${res}/${fname}`;
      const memo = (reuse ? memos.get(f) : undefined) ?? new Map<string, Aggregated>();
      if (res === "month" && yearReuses) memos.set(f, memo);
      const replay = reuse ? replays.get(f) : undefined;
      const recorded: PeriodFile[] | undefined = res === "month" && yearReuses ? [] : undefined;
      const put: PeriodWrite = (period, head, tail, body) => {
        writer.write(`${prefix}/${head}${t.periods[period]}${tail}`, body);
        recorded?.push({ period, head, tail, body });
      };
      if (selected.has("compute_global_timeseries")) {
        timeseriesSize[res][fname] = globalTimeseries(ctx, t, rows, memo, prefix, quals);
        lap(`global:${res}`);
      }
      if (selected.has("compute_regional_stats")) {
        for (const level of regionLevels) regionalStats(ctx, t, rows, memo, prefix, level);
        lap(`regional-stats:${res}`);
      }
      if (selected.has("compute_regional_timeseries")) {
        regionLevels.forEach((level, index) => {
          const q = index > params.qualifier_thresholds.regional_timeseries_max_level ? [] : regionalQuals;
          regionalTimeseries(ctx, t, rows, memo, prefix, level, q);
        });
        lap(`regional-timeseries:${res}`);
      }
      if (replay) {
        for (const file of replay.files) put(file.period, file.head, file.tail, file.body);
        tiles += replay.tiles;
        bins += replay.bins;
        lap(`replay:${res}`);
      } else {
        if (selected.has("compute_regional_aggregation")) {
          for (const level of regionLevels) regionalAggregation(ctx, t, rows, memo, put, level, quals);
          lap(`regional-aggs:${res}`);
        }
        let made = { tiles: 0, bins: 0 };
        if (cells) {
          made = tileFiles(t, rows, cells, put);
          tiles += made.tiles;
          bins += made.bins;
          lap(`tiles:${res}`);
        }
        if (recorded) replays.set(f, { files: recorded, ...made });
      }
      collectTiles(false);
      await writer.drain();
      lap("write-wait");
    }
    if (res === "year") {
      memos.clear();
      replays.clear();
    }
  }

  let summary: RunResults["output_agg_values"];
  if (!params.is_indicator) {
    summary = outputSummary(ctx, rollUp(month as Temporal, series, "all"), featureIds);
    lap("summary");
  }
  if (tileWorker) {
    stealTiles();
    lap("tiles:main");
  }
  collectTiles(true);
  if (tileWorker) lap("tiles-wait");
  const results: RunResults = {
    data_info: {
      num_rows: numRows,
      num_rows_per_feature: rowsPerFeature,
      num_missing_ts: counters.num_missing_ts,
      num_invalid_ts: counters.num_invalid_ts,
      num_missing_val: counters.num_missing_val,
      region_levels: hasTiles ? [...regionLevels, "grid data"] : [...regionLevels],
      features: featureIds.map((f) => features[f]),
      raw_count_threshold: params.raw_count_threshold,
      has_tiles: hasTiles,
      has_monthly: true,
      has_annual: true,
      has_weights: weighted,
    },
  };
  if (summary) results.output_agg_values = summary;
  if (selected.has("compute_global_timeseries")) {
    results.data_info.month_timeseries_size = timeseriesSize.month;
    results.data_info.year_timeseries_size = timeseriesSize.year;
  }
  let recordedResults = false;
  if (options.shard && options.shard.count > 1) {
    writer.write(shardResultsName(params, options.shard), jsonText({ allSelected, results }));
  } else if (allSelected) {
    writer.write(`${base}/results/results.json`, jsonText(results));
    recordedResults = true;
  }
  await writer.close();
  lap("write-wait");
  log.info("causemos run finished", { files: writer.files, bytes: writer.bytes, tiles, bins });
  return {
    results,
    recordedResults,
    files: writer.files,
    bytes: writer.bytes,
    tiles,
    bins,
    timings,
    cpuTimings,
    rowsWithoutTile,
  };
}

function warnWithoutTile(log: Logger, rows: number): void {
  log.warn("rows with missing or invalid coordinates are left out of tiles and grid stats", { rows });
}

/**
 * The feature of each temporal row. Kept out of runSteps: a hot loop there makes V8 compile (on-stack
 * replacement) the whole orchestration function with everything inlined into it, several hundred ms of CPU.
 */
function featureOfRows(t: Temporal, series: Series): Int32Array {
  const out = new Int32Array(t.rows);
  for (let k = 0; k < t.rows; k++) out[k] = series.feature[t.series[k]];
  return out;
}

/** Merge shard partial results into one results.json (sums of counts, union of features, summary rows by name). */
export function mergeResults(parts: RunResults[]): RunResults {
  if (parts.length === 0) throw new Error("no shard results to merge");
  const first = parts[0].data_info;
  const merged: RunResults = {
    data_info: {
      num_rows: 0,
      num_rows_per_feature: {},
      num_missing_ts: 0,
      num_invalid_ts: 0,
      num_missing_val: 0,
      region_levels: [],
      features: [],
      raw_count_threshold: first.raw_count_threshold,
      has_tiles: false,
      has_monthly: first.has_monthly,
      has_annual: first.has_annual,
      has_weights: false,
    },
  };
  const info = merged.data_info;
  const summary: Record<string, number | string | null>[] = [];
  for (const part of parts) {
    const d = part.data_info;
    info.num_rows += d.num_rows;
    Object.assign(info.num_rows_per_feature, d.num_rows_per_feature);
    info.num_missing_ts += d.num_missing_ts;
    info.num_invalid_ts += d.num_invalid_ts;
    info.num_missing_val += d.num_missing_val;
    for (const l of d.region_levels) if (!info.region_levels.includes(l)) info.region_levels.push(l);
    info.features.push(...d.features);
    info.has_tiles ||= d.has_tiles;
    info.has_weights ||= d.has_weights;
    if (d.month_timeseries_size)
      info.month_timeseries_size = { ...info.month_timeseries_size, ...d.month_timeseries_size };
    if (d.year_timeseries_size)
      info.year_timeseries_size = { ...info.year_timeseries_size, ...d.year_timeseries_size };
    if (part.output_agg_values) summary.push(...part.output_agg_values);
  }
  const levelOrder = [...REGION_LEVELS, "grid data"] as string[];
  info.region_levels.sort((a, b) => levelOrder.indexOf(a) - levelOrder.indexOf(b));
  info.features.sort(compareText);
  info.num_rows_per_feature = Object.fromEntries(
    Object.entries(info.num_rows_per_feature).sort(([a], [b]) => compareText(a, b)),
  );
  if (parts.some((p) => p.output_agg_values)) {
    merged.output_agg_values = summary.sort((a, b) => compareText(String(a.name), String(b.name)));
  }
  return merged;
}

// ---------------------------------------------------------------- steps

interface Ctx {
  base: string;
  frame: DojoFrame;
  series: Series;
  features: string[];
  weighted: boolean;
  levelIds: Map<RegionLevel, RegionIds>;
  regionLevels: RegionLevel[];
  writer: OutputWriter;
}

function fmt(column: AggColumn, s: Spatial, g: number): string {
  const v = column.value(s, g);
  return column.integer ? intText(v) : pyFloat(v);
}

/** A file whose name holds a period start: `{prefix}/{head}{start}{tail}`. */
interface PeriodFile {
  period: number;
  head: string;
  tail: string;
  body: string | Uint8Array;
}

type PeriodWrite = (period: number, head: string, tail: string, body: string | Uint8Array) => void;

/** Temporal rows grouped by a key built from (period, and more), with each group's key and aggregates. */
interface Aggregated {
  groups: number;
  groupKey: Float64Array;
  s: Spatial;
}

/**
 * Group the temporal rows by `keyOf` and aggregate them. `memo` holds the results of one feature by `name`
 * (which names the key): a step grouping the same way again, or the same feature at a resolution whose table
 * has the same body ({@link sameBody}: only the period start times differ), gets them back.
 */
function aggregateBy(
  t: Temporal,
  rows: Int32Array,
  memo: Map<string, Aggregated>,
  name: string,
  keysOf: (() => Float64Array) | RegionPeriod,
  maxKey: number,
): Aggregated {
  const known = memo.get(name);
  if (known) return known;
  if (typeof keysOf !== "function") {
    const { ofSeries, np } = keysOf;
    if (!t.weight && maxKey < FUSED_KEYS) {
      const fused = regionPeriodSums(t, rows, ofSeries, np, maxKey + 1);
      memo.set(name, fused);
      return fused;
    }
    return aggregateBy(t, rows, memo, name, () => regionPeriodKeys(t, rows, ofSeries, np), maxKey);
  }
  const keys = keysOf();
  const g = groupByKey(keys, maxKey);
  const groupKey = new Float64Array(g.groups);
  for (let k = 0; k < g.groups; k++) groupKey[k] = keys[g.firstRow[k]];
  const out = { groups: g.groups, groupKey, s: spatialAggregation(t, rows, g.groupOf, g.groups, false) };
  memo.set(name, out);
  return out;
}

function globalTimeseries(
  ctx: Ctx,
  t: Temporal,
  rows: Int32Array,
  memo: Map<string, Aggregated>,
  prefix: string,
  quals: string[],
): number {
  const np = t.periods.length;
  const cols = aggColumns(["sum", "mean"], ctx.weighted);
  const g = aggregateBy(t, rows, memo, "period", { ofSeries: undefined, np: 1 }, np - 1);
  const s = g.s;
  const order = sortedGroups(g.groups, (a, b) => g.groupKey[a] - g.groupKey[b]);
  ctx.writer.write(
    `${prefix}/timeseries/global/global.csv`,
    csvDocument(
      ["timestamp", ...cols.map((c) => c.name)],
      order.map((k) => [String(t.periods[g.groupKey[k]]), ...cols.map((c) => fmt(c, s, k))]),
    ),
  );
  for (const q of quals) {
    const col = ctx.frame.qualifiers.get(q) as TextColumn;
    const nq = col.values.length;
    const gq = aggregateBy(
      t,
      rows,
      memo,
      `period,${q}`,
      () => keysBy(rows, (r) => t.period[r] * nq + col.codes[ctx.series.row[t.series[r]]]),
      np * nq - 1,
    );
    const sq = gq.s;
    const periodsPresent = [...new Set(Array.from(gq.groupKey, (key) => Math.floor(key / nq)))].sort(
      (a, b) => a - b,
    );
    const qvalues = [...new Set(Array.from(gq.groupKey, (key) => key % nq))].sort((a, b) =>
      compareText(col.values[a], col.values[b]),
    );
    const cell = new Map<number, number>();
    for (let k = 0; k < gq.groups; k++) cell.set(gq.groupKey[k], k);
    for (const c of cols) {
      // pandas turns an integer column with a gap into floats.
      const gaps = qvalues.map((qv) => periodsPresent.some((p) => !cell.has(p * nq + qv)));
      const body = csvDocument(
        ["timestamp", ...qvalues.map((qv) => col.values[qv])],
        periodsPresent.map((p) => [
          String(t.periods[p]),
          ...qvalues.map((qv, j) => {
            const k = cell.get(p * nq + qv);
            if (k === undefined) return "";
            const v = c.value(sq, k);
            return c.integer && !gaps[j] ? intText(v) : pyFloat(v);
          }),
        ]),
      );
      ctx.writer.write(`${prefix}/timeseries/qualifiers/${q}/${c.name}.csv`, body);
    }
  }
  return g.groups;
}

function regionalStats(
  ctx: Ctx,
  t: Temporal,
  rows: Int32Array,
  memo: Map<string, Aggregated>,
  prefix: string,
  level: RegionLevel,
): void {
  const ids = ctx.levelIds.get(level) as RegionIds;
  const np = t.periods.length;
  const g = aggregateBy(
    t,
    rows,
    memo,
    `${level},period`,
    { ofSeries: ids.ofSeries, np },
    ids.ids.length * np - 1,
  );
  const s = g.s;
  const cols = aggColumns(["sum", "mean"], ctx.weighted).filter((c) => c.name !== "s_count");
  const result: { min: Record<string, unknown[]>; max: Record<string, unknown[]> } = { min: {}, max: {} };
  for (const c of cols) {
    let lo = Number.NaN;
    let hi = Number.NaN;
    for (let k = 0; k < g.groups; k++) {
      const v = c.value(s, k);
      if (Number.isNaN(v)) continue;
      if (!(lo <= v)) lo = v;
      if (!(hi >= v)) hi = v;
    }
    for (const [which, target] of [
      ["min", lo],
      ["max", hi],
    ] as const) {
      const hits: { region_id: string; timestamp: number; value: number }[] = [];
      for (let k = 0; k < g.groups; k++) {
        if (c.value(s, k) !== target) continue;
        const key = g.groupKey[k];
        const region = Math.floor(key / np);
        hits.push({ region_id: ids.ids[region], timestamp: t.periods[key - region * np], value: target });
      }
      hits.sort((a, b) => b.timestamp - a.timestamp || compareText(a.region_id, b.region_id));
      result[which][c.name] = hits.slice(0, 20);
    }
  }
  ctx.writer.write(`${prefix}/regional/${level}/stats/default/extrema.json`, jsonText(result));
}

function regionalTimeseries(
  ctx: Ctx,
  t: Temporal,
  rows: Int32Array,
  memo: Map<string, Aggregated>,
  prefix: string,
  level: RegionLevel,
  quals: string[],
): void {
  const ids = ctx.levelIds.get(level) as RegionIds;
  const np = t.periods.length;
  const cols = aggColumns(["sum", "mean"], ctx.weighted);
  const header = ["timestamp", ...cols.map((c) => c.name)];
  const g = aggregateBy(
    t,
    rows,
    memo,
    `${level},period`,
    { ofSeries: ids.ofSeries, np },
    ids.ids.length * np - 1,
  );
  const s = g.s;
  const byRegion = new Map<number, number[]>();
  for (let k = 0; k < g.groups; k++) {
    const region = Math.floor(g.groupKey[k] / np);
    const list = byRegion.get(region);
    if (list) list.push(k);
    else byRegion.set(region, [k]);
  }
  for (const [region, groups] of byRegion) {
    groups.sort((a, b) => g.groupKey[a] - g.groupKey[b]);
    ctx.writer.write(
      `${prefix}/regional/${level}/timeseries/default/${ids.ids[region]}.csv`,
      csvDocument(
        header,
        groups.map((k) => [String(t.periods[g.groupKey[k] % np]), ...cols.map((c) => fmt(c, s, k))]),
      ),
    );
  }
  for (const q of quals) {
    const col = ctx.frame.qualifiers.get(q) as TextColumn;
    const nq = col.values.length;
    const gq = aggregateBy(
      t,
      rows,
      memo,
      `${level},${q},period`,
      () =>
        keysBy(
          rows,
          (r) => (ids.ofSeries[t.series[r]] * nq + col.codes[ctx.series.row[t.series[r]]]) * np + t.period[r],
        ),
      ids.ids.length * nq * np - 1,
    );
    const sq = gq.s;
    const files = new Map<number, number[]>();
    for (let k = 0; k < gq.groups; k++) {
      const file = Math.floor(gq.groupKey[k] / np);
      const list = files.get(file);
      if (list) list.push(k);
      else files.set(file, [k]);
    }
    for (const [file, groups] of files) {
      groups.sort((a, b) => gq.groupKey[a] - gq.groupKey[b]);
      const region = Math.floor(file / nq);
      const qv = file - region * nq;
      ctx.writer.write(
        `${prefix}/regional/${level}/timeseries/qualifiers/${q}/${col.values[qv]}/${ids.ids[region]}.csv`,
        csvDocument(
          header,
          groups.map((k) => [String(t.periods[gq.groupKey[k] % np]), ...cols.map((c) => fmt(c, sq, k))]),
        ),
      );
    }
  }
}

function regionalAggregation(
  ctx: Ctx,
  t: Temporal,
  rows: Int32Array,
  memo: Map<string, Aggregated>,
  put: PeriodWrite,
  level: RegionLevel,
  quals: string[],
): void {
  const ids = ctx.levelIds.get(level) as RegionIds;
  const nr = ids.ids.length;
  const np = t.periods.length;
  const cols = aggColumns(["sum", "mean"], ctx.weighted);
  // The groups of the regional stats and timeseries (region, period), keyed period first: the same partition
  // of the rows, so the same sums; region ids are sorted, so key order within a period is the original's
  // region_id order.
  const byRegion = aggregateBy(t, rows, memo, `${level},period`, { ofSeries: ids.ofSeries, np }, nr * np - 1);
  const g = { groups: byRegion.groups, groupKey: periodFirst(byRegion.groupKey, np, nr), s: byRegion.s };
  const s = g.s;
  const order = sortedGroups(g.groups, (a, b) => g.groupKey[a] - g.groupKey[b]);
  let k0 = 0;
  while (k0 < order.length) {
    const period = Math.floor(g.groupKey[order[k0]] / nr);
    let k1 = k0;
    while (k1 < order.length && Math.floor(g.groupKey[order[k1]] / nr) === period) k1++;
    put(
      period,
      `regional/${level}/aggs/`,
      "/default/default.csv",
      csvDocument(
        ["id", ...cols.map((c) => c.name)],
        order
          .slice(k0, k1)
          .map((k) => [csvText(ids.ids[g.groupKey[k] - period * nr]), ...cols.map((c) => fmt(c, s, k))]),
      ),
    );
    k0 = k1;
  }
  for (const q of quals) {
    const col = ctx.frame.qualifiers.get(q) as TextColumn;
    const nq = col.values.length;
    // Qualifier values in text order.
    const rank = new Int32Array(nq);
    col.values
      .map((_, k) => k)
      .sort((a, b) => compareText(col.values[a], col.values[b]))
      .forEach((k, r) => {
        rank[k] = r;
      });
    const byRank = new Int32Array(nq);
    for (let k = 0; k < nq; k++) byRank[rank[k]] = k;
    const gq = aggregateBy(
      t,
      rows,
      memo,
      `period,${level},${q}`,
      () =>
        keysBy(
          rows,
          (r) =>
            (t.period[r] * nr + ids.ofSeries[t.series[r]]) * nq +
            rank[col.codes[ctx.series.row[t.series[r]]]],
        ),
      np * nr * nq - 1,
    );
    const sq = gq.s;
    const ordered = sortedGroups(gq.groups, (a, b) => gq.groupKey[a] - gq.groupKey[b]);
    let j0 = 0;
    while (j0 < ordered.length) {
      const period = Math.floor(gq.groupKey[ordered[j0]] / (nr * nq));
      let j1 = j0;
      while (j1 < ordered.length && Math.floor(gq.groupKey[ordered[j1]] / (nr * nq)) === period) j1++;
      put(
        period,
        `regional/${level}/aggs/`,
        `/qualifiers/${q}.csv`,
        csvDocument(
          ["id", "qualifier", ...cols.map((c) => c.name)],
          ordered.slice(j0, j1).map((k) => {
            const rest = gq.groupKey[k] - period * nr * nq;
            const region = Math.floor(rest / nq);
            return [
              csvText(ids.ids[region]),
              csvText(col.values[byRank[rest - region * nq]]),
              ...cols.map((c) => fmt(c, sq, k)),
            ];
          }),
        ),
      );
      j0 = j1;
    }
  }
}

function outputSummary(
  ctx: Ctx,
  t: Temporal,
  featureIds: number[],
): Record<string, number | string | null>[] {
  const cols = aggColumns(["min", "max", "sum", "mean"], ctx.weighted).filter((c) => c.name !== "s_count");
  const all = new Int32Array(t.rows);
  const groupOf = new Int32Array(t.rows);
  for (let k = 0; k < t.rows; k++) {
    all[k] = k;
    groupOf[k] = ctx.series.feature[t.series[k]];
  }
  const s = spatialAggregation(t, all, groupOf, ctx.features.length, true);
  return featureIds.map((f) => {
    const row: Record<string, number | string | null> = { name: ctx.features[f] };
    for (const c of cols) {
      const v = c.value(s, f);
      row[c.name] = Number.isFinite(v) ? v : null;
    }
    return row;
  });
}

// ---------------------------------------------------------------- helpers

function noRowsLeft(counters: ValidationCounters): NonRetriableError {
  return new NonRetriableError(
    `no rows left after validation (${counters.num_invalid_ts} had timestamps beyond pandas' range)`,
    {
      field: "timestamp",
      fix: "timestamps are epoch milliseconds below 9223372036854.775807",
    },
  );
}

/** keyOf(row) of each row (the qualifier groupings; the common keys have their own loops below). */
function keysBy(rows: Int32Array, keyOf: (r: number) => number): Float64Array {
  const keys = new Float64Array(rows.length);
  for (let k = 0; k < rows.length; k++) keys[k] = keyOf(rows[k]);
  return keys;
}

/** region x np + period of each row (region 0 without `ofSeries`): a loop of its own, no call per row. */
/** Keys region x np + period of the rows (the region of each row's series from `ofSeries`, else the period). */
interface RegionPeriod {
  ofSeries: Int32Array | undefined;
  np: number;
}

function regionPeriodKeys(
  t: Temporal,
  rows: Int32Array,
  ofSeries: Int32Array | undefined,
  np: number,
): Float64Array {
  const keys = new Float64Array(rows.length);
  const period = t.period;
  if (!ofSeries) {
    for (let k = 0; k < rows.length; k++) keys[k] = period[rows[k]];
    return keys;
  }
  const series = t.series;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    keys[k] = ofSeries[series[r]] * np + period[r];
  }
  return keys;
}

/** Keys region x np + period as period x nr + region. */
function periodFirst(keys: Float64Array, np: number, nr: number): Float64Array {
  const out = new Float64Array(keys.length);
  for (let k = 0; k < keys.length; k++) {
    const region = Math.floor(keys[k] / np);
    out[k] = (keys[k] - region * np) * nr + region;
  }
  return out;
}

function sortedGroups(n: number, compare: (a: number, b: number) => number): number[] {
  return Array.from({ length: n }, (_, k) => k).sort(compare);
}

/** Distinct labels over the series in order of first appearance. */
function uniqueInOrder(seriesIds: Int32Array, codeOf: (s: number) => number, labels: string[]): string[] {
  const seen = new Uint8Array(labels.length);
  const out: string[] = [];
  let ascending = true;
  for (let k = 1; k < seriesIds.length && ascending; k++) ascending = seriesIds[k - 1] <= seriesIds[k];
  const sorted = ascending ? seriesIds : Int32Array.from(seriesIds).sort();
  for (const s of sorted) {
    const c = codeOf(s);
    if (c >= 0 && !seen[c]) {
      seen[c] = 1;
      // Every label seen: the rest of the series add none (a feature usually covers a model's regions early).
      if (out.push(labels[c]) === labels.length) break;
    }
  }
  return out;
}

/** apply_qualifier_count_limit: per feature, keep the mapped qualifiers with at most `max` distinct values. */
export function limitQualifiers(
  map: Record<string, string[]>,
  columns: string[],
  counts: Record<string, Record<string, number>>,
  max: number,
): { map: Record<string, string[]>; columns: string[] } {
  const out: Record<string, string[]> = {};
  const small = new Set<string>();
  for (const [feature, qualifiers] of Object.entries(map)) {
    const c = counts[feature];
    if (!c) continue;
    out[feature] = qualifiers.filter((q) => q in c && c[q] <= max);
    for (const q of out[feature]) small.add(q);
  }
  return { map: out, columns: columns.filter((q) => small.has(q)) };
}

function rawCsv(frame: DojoFrame, rows: Int32Array): string {
  const cols = frame.columns.filter((c) => c !== "feature");
  const getters = cols.map((name): ((i: number) => string) => {
    if (name === "timestamp") return (i) => intText(frame.timestamp[i]);
    if (name === "value") return (i) => pyFloat(frame.value[i]);
    if (name === "lat" && frame.lat) return (i) => pyFloat((frame.lat as Float64Array)[i]);
    if (name === "lng" && frame.lng) return (i) => pyFloat((frame.lng as Float64Array)[i]);
    if (frame.weight && name === frame.weight.name)
      return (i) => pyFloat((frame.weight as { values: Float64Array }).values[i]);
    const text =
      (frame.regions as Record<string, TextColumn | undefined>)[name] ?? frame.qualifiers.get(name);
    if (text) return (i) => (text.codes[i] < 0 ? "" : csvText(text.values[text.codes[i]]));
    return () => "";
  });
  return csvDocument(
    cols,
    Array.from(rows, (i) => getters.map((get) => get(i))),
  );
}

function shardRows(frame: DojoFrame, shard: Shard): DojoFrame {
  const names = frame.feature.values
    .map((_, k) => k)
    .sort((a, b) => compareText(frame.feature.values[a], frame.feature.values[b]));
  const mine = new Uint8Array(frame.feature.values.length);
  names.forEach((k, r) => {
    if (r % shard.count === shard.index) mine[k] = 1;
  });
  const keep: number[] = [];
  for (let i = 0; i < frame.rows; i++) {
    const c = frame.feature.codes[i];
    if (c >= 0 && mine[c]) keep.push(i);
  }
  return selectRows(frame, Int32Array.from(keep));
}

/** A weight column given as text in an in-memory frame: parse it as numbers (non-numbers become NaN). */
function withWeightFromText(frame: DojoFrame, name: string): DojoFrame {
  const col = frame.qualifiers.get(name) as TextColumn;
  const parsed = col.values.map((v) => (v.trim() === "" ? Number.NaN : Number(v)));
  const values = new Float64Array(frame.rows);
  for (let i = 0; i < frame.rows; i++) values[i] = col.codes[i] < 0 ? Number.NaN : parsed[col.codes[i]];
  const qualifiers = new Map(frame.qualifiers);
  qualifiers.delete(name);
  return { ...frame, qualifiers, weight: { name, values } };
}
