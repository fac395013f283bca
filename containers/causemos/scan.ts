import { NonRetriableError } from "../../shared/core/errors.ts";
import { compareText, findSeries, rollUp, type Series, type Temporal } from "./aggregate.ts";
import { type DojoFrame, REGION_LEVELS, type RegionLevel, type TextColumn } from "./frame.ts";
import { codeExpr, describe, type FileSchema, numericFiles, prepareSource, readDojo } from "./reader.ts";
import { MAX_TIMESTAMP, type ValidationCounters, validateAndFix } from "./validate.ts";

/**
 * The file path of the job: DuckDB reads the Parquet files, counts what validate_and_fix counts, and does the
 * one large reduction (rows -> monthly (series, month) sums) in SQL on its threads; JavaScript receives the
 * monthly rows only (about 1 row in 27 for scenario A) plus the raw rows of features small enough for raw.csv.
 * The result is what the in-memory path computes from a full frame, and the tests hold the two equal.
 */

export interface Scan {
  /** One row per monthly (series, month) group, text cleaned as validate_and_fix does. */
  frame: DojoFrame;
  series: Series;
  month: Temporal;
  counters: ValidationCounters;
  numRows: number;
  rowsPerFeature: Record<string, number>;
  /** The rows as read of the features with at most rawCountThreshold rows (for raw.csv). */
  raw?: DojoFrame;
  weightColumn: string;
  /** Which path read the files: one pass over the row groups (stream.ts), whole columns (columns.ts), DuckDB. */
  via?: "stream" | "columns" | "duckdb";
}

export interface ScanOptions {
  weightColumn: string;
  fillTimestamp: number;
  rawCountThreshold: number;
  /** Keep only the features of this shard (sorted by name, dealt round-robin). */
  shard?: { index: number; count: number };
  threads?: number;
  /** Rows from which the one-pass read decodes on a second thread (default 500,000; tests lower it). */
  decodeThreadRows?: number;
  /**
   * Called once the one-pass read has reduced its first row group: work the caller can start on the other
   * core by then (the writer thread's start), not while the decoding thread starts and decodes the first group.
   */
  whileReading?: () => void;
}

export async function scanDojo(paths: readonly string[], options: ScanOptions): Promise<Scan> {
  const { files } = numericFiles(paths);
  // Loaded on use: the job's usual path reads Parquet itself (columns.ts), without DuckDB.
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(":memory:", { threads: String(options.threads ?? 2) });
  const connection = await instance.connect();
  try {
    const schemas: FileSchema[] = [];
    for (const path of files) schemas.push(await describe(connection, path));
    let features: string[] | undefined;
    if (options.shard && options.shard.count > 1) {
      const probe = await prepareSource(connection, schemas, options.weightColumn);
      const all = probe.dicts[probe.textNames.indexOf("feature")].slice().sort(compareText);
      features = all.filter(
        (_, r) =>
          r % (options.shard as { count: number }).count === (options.shard as { index: number }).index,
      );
      await connection.run("DROP VIEW src");
      for (let k = 0; k < probe.textNames.length; k++)
        if (probe.dicts[k].length > 0) await connection.run(`DROP TYPE e${k}`);
    }
    const src = await prepareSource(connection, schemas, options.weightColumn, features);
    const fk = src.textNames.indexOf("feature");
    const num = (name: string) => `n${src.numeric.findIndex((n) => n.name === name)}`;
    const ts = `coalesce(${num("timestamp")}, ${Number(options.fillTimestamp)})`;
    const value = num("value");

    // validate_and_fix's counters and the per-feature row counts.
    const stats = await connection.runAndReadAll(`SELECT count(*),
        count(*) FILTER (WHERE ${num("timestamp")} IS NULL),
        count(*) FILTER (WHERE ${ts} >= ${MAX_TIMESTAMP}),
        count(*) FILTER (WHERE ${ts} < ${MAX_TIMESTAMP} AND (${value} IS NULL OR isnan(${value}) OR isinf(${value}))),
        count(*) FILTER (WHERE t${fk} IS NULL)
      FROM src`);
    const [numRows, missingTs, invalidTs, missingVal, nullFeature] = (stats.getRows()[0] as unknown[]).map(
      Number,
    );
    if (numRows === 0) {
      throw new NonRetriableError(`the data have no rows (${files.join(", ")})`, {
        field: "params.data_paths",
        fix: "check that Dojo wrote the run's output before requesting processing",
      });
    }
    if (nullFeature > 0) {
      throw new NonRetriableError(`feature is null in ${nullFeature} row(s)`, {
        field: "feature",
        fix: "every Dojo output row must name its feature",
      });
    }
    const perFeature = await connection.runAndReadAll(`SELECT t${fk}, count(*) FROM src GROUP BY 1`);
    const rowsPerFeature: Record<string, number> = {};
    for (const [f, n] of perFeature
      .getRows()
      .map((r) => [String(r[0]), Number(r[1])] as const)
      .sort((a, b) => compareText(a[0], b[0]))) {
      rowsPerFeature[f] = n;
    }

    // The monthly reduction: group by every non-value column's code (null = -1), lat, lng and the month.
    const weighted = src.hasWeight;
    const w = weighted ? `coalesce(${num(options.weightColumn)}, 0)` : "";
    const v = `CASE WHEN isnan(${value}) OR isinf(${value}) THEN NULL ELSE ${value} END`;
    const keys = src.textNames.map((_, k) => `${codeExpr(src, k)} AS t${k}`);
    const coords = src.hasLat
      ? [`coalesce(${num("lat")}, 'NaN'::DOUBLE) AS lat`, `coalesce(${num("lng")}, 'NaN'::DOUBLE) AS lng`]
      : [];
    // Month start as pandas computes it; times pandas cannot hold map to 0.
    const month = `CASE WHEN ${ts} > -${MAX_TIMESTAMP} THEN epoch_ms(date_trunc('month', epoch_ms(CAST(floor(${ts} / 86400000) * 86400000 AS BIGINT))))::DOUBLE ELSE 0 END`;
    const sums = ["coalesce(sum(v), 0) AS s", "count(v)::DOUBLE AS c"];
    if (weighted) sums.push("coalesce(sum(v * w), 0) AS wv", "sum(w) AS ws", "count(*)::DOUBLE AS rows_in");
    const grouped =
      await connection.stream(`SELECT min(rn)::DOUBLE AS first, ${src.textNames.map((_, k) => `t${k}`).join(", ")},
        ${src.hasLat ? "lat, lng," : ""} period, ${sums.join(", ")}
      FROM (SELECT rn, ${[...keys, ...coords].join(", ")}, ${month} AS period, ${v} AS v${weighted ? `, ${w} AS w` : ""}
            FROM src WHERE ${ts} < ${MAX_TIMESTAMP})
      GROUP BY ALL ORDER BY first`);
    const pieces: (Float64Array | Int32Array)[][] = [];
    let n = 0;
    for (;;) {
      const chunk = await grouped.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      for (let c = 0; c < chunk.columnCount; c++) {
        const copy = typedCopy(chunk.getColumnVector(c), chunk.rowCount, c >= 1 && c <= src.textNames.length);
        if (pieces[c]) pieces[c].push(copy);
        else pieces[c] = [copy];
      }
      n += chunk.rowCount;
    }
    const joined = (c: number) => {
      const ints = c >= 1 && c <= src.textNames.length;
      const out = ints ? new Int32Array(n) : new Float64Array(n);
      let o = 0;
      for (const p of pieces[c] ?? []) {
        out.set(p as never, o);
        o += p.length;
      }
      return out;
    };
    const col = (k: number) => joined(k) as Float64Array;
    const codes = (k: number) => joined(1 + k) as Int32Array;
    let c = 1 + src.textNames.length;
    const lat = src.hasLat ? col(c++) : undefined;
    const lng = src.hasLat ? col(c++) : undefined;
    const period = col(c++);
    const s = col(c++);
    const cnt = col(c++);
    const parts = weighted ? { wvSum: col(c++), wSum: col(c++), rows: col(c++) } : undefined;

    const text = (name: string): TextColumn => {
      const k = src.textNames.indexOf(name);
      return { values: src.dicts[k], codes: codes(k) };
    };
    const regions: Partial<Record<RegionLevel, TextColumn>> = {};
    for (const level of REGION_LEVELS) regions[level] = text(level);
    const qualifiers = new Map<string, TextColumn>();
    for (const name of src.textNames) if (!src.required.has(name)) qualifiers.set(name, text(name));
    const monthly: DojoFrame = {
      rows: n,
      timestamp: period,
      value: s,
      lat,
      lng,
      feature: text("feature"),
      regions,
      qualifiers,
      columns: src.columns.filter((name) => name !== options.weightColumn || !weighted),
    };
    // Column drops, "None" fills and "//" removal depend only on the distinct values, all present here.
    const frame = validateAndFix(monthly, {}).frame;
    if (frame.lat && !lat) frame.lat = undefined;
    const series = findSeries(frame);
    const periods = [...new Set(period)].sort((a, b) => a - b);
    const periodIndex = new Map(periods.map((p, k) => [p, k]));
    const pseudo: Temporal = {
      res: "month",
      rows: n,
      periods,
      series: series.ofRow,
      period: Int32Array.from(period, (p) => periodIndex.get(p) as number),
      tSum: s,
      tMean: new Float64Array(n),
      count: cnt,
      parts,
    };
    // Values that differed only by "//" or null/"None" merge into one series here.
    const monthTemporal = rollUp(pseudo, series, "month");

    let raw: DojoFrame | undefined;
    const small = Object.entries(rowsPerFeature)
      .filter(([, k]) => k <= options.rawCountThreshold)
      .map(([f]) => f);
    if (small.length > 0) {
      raw = (
        await readDojo(files, {
          weightColumn: options.weightColumn,
          threads: options.threads,
          features: small,
        })
      ).frame;
    }
    return {
      frame,
      series,
      month: monthTemporal,
      counters: { num_missing_ts: missingTs, num_invalid_ts: invalidTs, num_missing_val: missingVal },
      numRows,
      rowsPerFeature,
      raw,
      weightColumn: weighted ? options.weightColumn : "",
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Copy a result vector (no nulls) into a typed array. */
function typedCopy(vector: unknown, size: number, ints: boolean): Float64Array | Int32Array {
  const items = (vector as { items?: unknown }).items;
  if (ints && items instanceof Int32Array) return items.slice(0, size);
  if (!ints && items instanceof Float64Array) return items.slice(0, size);
  const v = vector as { getItem(i: number): number | bigint | null };
  const out = ints ? new Int32Array(size) : new Float64Array(size);
  for (let i = 0; i < size; i++) out[i] = Number(v.getItem(i) ?? Number.NaN);
  return out;
}
