import { Worker } from "node:worker_threads";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { compareText, periodStart, type Series, type Temporal } from "./aggregate.ts";
import {
  type DojoFrame,
  REGION_LEVELS,
  REQUIRED_COLUMNS,
  type RegionLevel,
  selectRows,
  type TextColumn,
} from "./frame.ts";
import { groupByKey } from "./group.ts";
import {
  type ParquetFile,
  readNumbers,
  readParquetMetadata,
  readText,
  UnsupportedParquet,
} from "./parquet.ts";
import { numericFiles } from "./reader.ts";
import type { Scan, ScanOptions } from "./scan.ts";
import { mixPoint, same, streamReduce } from "./stream.ts";
import { checkRowsAndFeatures, MAX_TIMESTAMP } from "./validate.ts";

/**
 * The columnar file path of the job: our own Parquet reader (parquet.ts) puts every column into a typed array
 * (text as dictionary codes), and one pass per step over those arrays does what validate_and_fix and the
 * monthly temporal aggregation do:
 * - text clean-up (nulls to "None", "//" removed, all-empty columns dropped) happens on the dictionaries and
 *   becomes a code -> code lookup;
 * - series (every non-value column but the timestamp) get integer ids: the text codes are packed into one
 *   number per row, then (that number, lat, lng) go through an open-addressing hash table on typed arrays;
 * - (series, month) groups index a flat table, sums and counts accumulate in input row order.
 * The rows of the result are the series themselves (one row per series), so later steps read each series'
 * text and coordinates directly. Returns undefined when a file uses a Parquet feature the reader does not
 * decode; the caller then scans with DuckDB (scan.ts). The outputs equal the in-memory path's, byte for byte.
 */
export async function scanColumns(paths: readonly string[], options: ScanOptions): Promise<Scan | undefined> {
  const { files } = numericFiles(paths);
  let metas: ParquetFile[];
  try {
    metas = files.map((f) => readParquetMetadata(f));
  } catch (err) {
    if (err instanceof UnsupportedParquet || err instanceof RangeError) return undefined;
    throw err;
  }
  try {
    return await reduce(metas, options);
  } catch (err) {
    if (err instanceof NonRetriableError) throw err;
    // Anything the reader could not decode (or a corrupt file): DuckDB reads it and names the problem.
    return undefined;
  }
}

/** Below this many rows a reader thread's start costs more than it saves. */
const PARALLEL_READ_ROWS = 500_000;

export interface ColumnRequest {
  name: string;
  kind: "numbers" | "text";
  /** Text of files without the column (null = null). */
  missing?: string | null;
}

export interface ColumnResult {
  name: string;
  numbers?: Float64Array;
  text?: { codes: Int32Array; values: string[] };
}

/**
 * Decode the requested columns; with `parallel`, every other one (heaviest first) on a reader thread while
 * this thread decodes the rest. Undefined when a file needs DuckDB.
 */
async function readColumns(
  metas: ParquetFile[],
  requests: ColumnRequest[],
  total: number,
  parallel: boolean,
): Promise<Map<string, ColumnResult> | undefined> {
  const out = new Map<string, ColumnResult>();
  const local = parallel ? requests.filter((_, k) => k % 2 === 0) : requests;
  const remote = parallel ? requests.filter((_, k) => k % 2 === 1) : [];
  let fromThread:
    | Promise<{ results?: ColumnResult[]; error?: { name: string; message: string } }>
    | undefined;
  if (remote.length > 0) {
    const worker = new Worker(new URL("./read-worker.ts", import.meta.url), {
      workerData: { paths: metas.map((m) => m.path), requests: remote },
    });
    fromThread = new Promise((resolve) => {
      worker.once("message", (m) => {
        resolve(m);
        void worker.terminate();
      });
      worker.once("error", (err) => resolve({ error: { name: err.name, message: err.message } }));
    });
  }
  let localError: unknown;
  try {
    for (const r of local) {
      if (r.kind === "numbers") out.set(r.name, { name: r.name, numbers: readNumbers(metas, r.name, total) });
      else out.set(r.name, { name: r.name, text: readText(metas, r.name, total, r.missing ?? null) });
    }
  } catch (err) {
    localError = err;
  }
  const reply = fromThread ? await fromThread : undefined;
  if (localError !== undefined) throw localError;
  if (reply?.error) {
    if (reply.error.name === "UnsupportedParquet" || reply.error.name === "RangeError") return undefined;
    throw Object.assign(new Error(reply.error.message), { name: reply.error.name });
  }
  for (const r of reply?.results ?? []) out.set(r.name, r);
  return out;
}

const REQUIRED = new Set<string>(REQUIRED_COLUMNS);

async function reduce(metas: ParquetFile[], options: ScanOptions): Promise<Scan | undefined> {
  const columns: string[] = [];
  for (const m of metas) for (const c of m.columns) if (!columns.includes(c.name)) columns.push(c.name);
  for (const need of ["timestamp", "feature", "value"])
    if (!metas.every((m) => m.columns.some((c) => c.name === need))) return undefined;
  const weightColumn = options.weightColumn;
  const numericNames = new Set(["timestamp", "value", "lat", "lng", weightColumn]);
  for (const m of metas) {
    for (const c of m.columns) {
      const numeric = numericNames.has(c.name);
      if (numeric && c.kind !== "number" && c.kind !== "integer") return undefined;
      if (!numeric && c.kind !== "text" && c.kind !== "integer") return undefined;
    }
  }
  const multi = metas.length > 1;
  let total = 0;
  for (const m of metas) total += m.rows;
  const textNames = columns.filter(
    (c) => c !== "timestamp" && c !== "value" && c !== "lat" && c !== "lng" && c !== weightColumn,
  );
  for (const level of REGION_LEVELS) if (!textNames.includes(level)) textNames.push(level);
  const hasLatColumns = columns.includes("lat") && columns.includes("lng");
  const hasWeight = weightColumn !== "" && columns.includes(weightColumn);

  // Every column needed, decoded on two threads when the files are large enough to pay a thread's start.
  const missingText = (name: string) => (multi && !REQUIRED.has(name) ? "" : null);
  const requests: ColumnRequest[] = [
    { name: "timestamp", kind: "numbers" },
    { name: "value", kind: "numbers" },
  ];
  if (hasLatColumns) requests.push({ name: "lat", kind: "numbers" }, { name: "lng", kind: "numbers" });
  if (hasWeight) requests.push({ name: weightColumn, kind: "numbers" });
  for (const name of textNames) requests.push({ name, kind: "text", missing: missingText(name) });
  const streamed = streamReduce(metas, options, {
    columns,
    textNames,
    hasLatColumns,
    weightColumn,
    hasWeight,
    multi,
    required: REQUIRED,
    decodeThread: (options.threads ?? 2) > 1 && total >= (options.decodeThreadRows ?? PARALLEL_READ_ROWS),
  });
  if (streamed) return streamed;
  const read = await readColumns(
    metas,
    requests,
    total,
    (options.threads ?? 2) > 1 && total >= PARALLEL_READ_ROWS,
  );
  if (!read) return undefined;
  const numbers = (name: string) => read.get(name)?.numbers as Float64Array;
  const texts = new Map<string, { codes: Int32Array; values: string[] }>();
  for (const name of textNames)
    texts.set(name, read.get(name)?.text as { codes: Int32Array; values: string[] });
  const feature = texts.get("feature") as { codes: Int32Array; values: string[] };

  // Shards keep the features dealt to them (sorted by name, round-robin).
  let keep: Uint8Array | undefined;
  if (options.shard && options.shard.count > 1) {
    const { index, count } = options.shard;
    const order = feature.values
      .map((_, k) => k)
      .sort((a, b) => compareText(feature.values[a], feature.values[b]));
    const mine = new Uint8Array(feature.values.length + 1);
    order.forEach((k, r) => {
      if (r % count === index) mine[k + 1] = 1;
    });
    keep = new Uint8Array(total);
    for (let i = 0; i < total; i++) keep[i] = mine[feature.codes[i] + 1];
  }

  const timestamp = numbers("timestamp");
  const value = numbers("value");
  const lat = hasLatColumns ? numbers("lat") : undefined;
  const lng = hasLatColumns ? numbers("lng") : undefined;
  const weight = hasWeight ? numbers(weightColumn) : undefined;

  // validate_and_fix's counters, per-feature row counts.
  const fill = Number(options.fillTimestamp);
  const nf = feature.values.length;
  const perFeature = new Float64Array(nf + 1);
  let numRows = 0;
  let missingTs = 0;
  let invalidTs = 0;
  let missingVal = 0;
  const valid = new Uint8Array(total);
  const fc = feature.codes;
  for (let i = 0; i < total; i++) {
    if (keep && !keep[i]) continue;
    numRows++;
    perFeature[fc[i] + 1]++;
    let t = timestamp[i];
    if (Number.isNaN(t)) {
      missingTs++;
      t = fill;
      timestamp[i] = t;
    }
    if (t >= MAX_TIMESTAMP) {
      invalidTs++;
      continue;
    }
    valid[i] = 1;
    const v = value[i];
    if (Number.isNaN(v) || v === Infinity || v === -Infinity) missingVal++;
  }
  checkRowsAndFeatures(numRows, perFeature[0], metas);
  const rowsPerFeature: Record<string, number> = {};
  for (const f of feature.values
    .map((_, k) => k)
    .filter((k) => perFeature[k + 1] > 0)
    .sort((a, b) => compareText(feature.values[a], feature.values[b])))
    rowsPerFeature[feature.values[f]] = perFeature[f + 1];

  // Text clean-up on the dictionaries: a lookup from raw code (+1, so null is 0) to clean code.
  interface Clean {
    name: string;
    values: string[];
    lookup: Int32Array;
    codes: Int32Array;
  }
  const cleaned: Clean[] = [];
  const dropped = new Set<string>();
  for (const name of textNames) {
    if (name === "feature") continue;
    const col = texts.get(name) as { codes: Int32Array; values: string[] };
    const used = new Uint8Array(col.values.length + 1);
    const codes = col.codes;
    for (let i = 0; i < total; i++) if (!keep || keep[i]) used[codes[i] + 1] = 1;
    let nonEmpty = false;
    for (let k = 0; k < col.values.length; k++) if (used[k + 1] && col.values[k] !== "") nonEmpty = true;
    if (!nonEmpty) {
      dropped.add(name);
      continue;
    }
    const isRegion = (REGION_LEVELS as readonly string[]).includes(name);
    const values: string[] = [];
    const index = new Map<string, number>();
    const add = (s: string) => {
      let k = index.get(s);
      if (k === undefined) {
        k = values.push(s) - 1;
        index.set(s, k);
      }
      return k;
    };
    const lookup = new Int32Array(col.values.length + 1);
    for (let k = 0; k < col.values.length; k++)
      lookup[k + 1] = add(isRegion ? col.values[k].replaceAll("//", "") : col.values[k]);
    lookup[0] = used[0] ? add("None") : -1;
    cleaned.push({ name, values, lookup, codes });
  }
  let hasLat = hasLatColumns;
  if (lat && lng && (allNaN(lat, keep) || allNaN(lng, keep))) hasLat = false;
  if (weight) for (let i = 0; i < total; i++) if (Number.isNaN(weight[i])) weight[i] = 0;

  // Series: the text columns combined one at a time into dense ids (first appearance order), then (text id,
  // lat, lng) hashed.
  let textOf: Int32Array = new Int32Array(total);
  let textCount = 1;
  for (let i = 0; i < total; i++) textOf[i] = valid[i] ? 0 : -1;
  const featureLookup = new Int32Array(nf + 1);
  for (let f = 0; f < nf; f++) featureLookup[f + 1] = f;
  const densifyScratch = { table: new Int32Array(0) };
  for (const c of [{ codes: fc, lookup: featureLookup, values: feature.values }, ...cleaned]) {
    const d = densify(textOf, textCount, c.codes, c.lookup, c.values.length, densifyScratch);
    textOf = d.ids;
    textCount = d.count;
  }
  const series = hasLat
    ? seriesByCoordinates(textOf, lat as Float64Array, lng as Float64Array)
    : seriesByText(textOf, textCount);
  const S = series.count;
  const ofRow = series.ofRow;

  // Months of the valid rows (recomputed only when the day changes), ascending.
  const DAY = 86_400_000;
  const periodIndex = new Map<number, number>();
  const starts: number[] = [];
  const periodOf = new Int32Array(total);
  let lastDay = Number.NaN;
  let last = -1;
  for (let i = 0; i < total; i++) {
    if (ofRow[i] < 0) continue;
    const t = timestamp[i];
    const day = Math.floor(t / DAY);
    if (day !== lastDay) {
      const start = periodStart(t, "month");
      let p = periodIndex.get(start);
      if (p === undefined) {
        p = starts.push(start) - 1;
        periodIndex.set(start, p);
      }
      last = p;
      lastDay = day;
    }
    periodOf[i] = last;
  }
  const order = starts.map((_, k) => k).sort((a, b) => starts[a] - starts[b]);
  const rank = new Int32Array(order.length);
  order.forEach((k, r) => {
    rank[k] = r;
  });
  const periods = order.map((k) => starts[k]);
  const np = periods.length;

  // (series, month) groups in order of first appearance; sums in input row order.
  const cellOf = new Int32Array(total).fill(-1);
  let G = 0;
  let firstOf: Int32Array;
  if (S * np <= Math.max(1 << 22, 4 * total)) {
    const table = new Int32Array(S * np).fill(-1);
    const first: number[] = [];
    for (let i = 0; i < total; i++) {
      const s = ofRow[i];
      if (s < 0) continue;
      const p = rank[periodOf[i]];
      periodOf[i] = p;
      const key = s * np + p;
      let g = table[key];
      if (g < 0) {
        g = G++;
        table[key] = g;
        first.push(i);
      }
      cellOf[i] = g;
    }
    firstOf = Int32Array.from(first);
  } else {
    const keys = new Float64Array(total);
    for (let i = 0; i < total; i++) {
      const s = ofRow[i];
      if (s < 0) {
        keys[i] = -1;
        continue;
      }
      periodOf[i] = rank[periodOf[i]];
      keys[i] = s * np + periodOf[i];
    }
    const g = groupByKey(keys);
    cellOf.set(g.groupOf);
    G = g.groups;
    firstOf = g.firstRow;
  }
  const tSum = new Float64Array(G);
  const cnt = new Float64Array(G);
  const parts = weight
    ? { wvSum: new Float64Array(G), wSum: new Float64Array(G), rows: new Float64Array(G) }
    : undefined;
  if (weight && parts) {
    for (let i = 0; i < total; i++) {
      const k = cellOf[i];
      if (k < 0) continue;
      let v = value[i];
      if (v === Infinity || v === -Infinity) v = Number.NaN;
      const wi = weight[i];
      if (!Number.isNaN(v)) {
        tSum[k] += v;
        cnt[k]++;
        const p = v * wi;
        if (!Number.isNaN(p)) parts.wvSum[k] += p;
      }
      parts.wSum[k] += wi;
      parts.rows[k]++;
    }
  } else {
    for (let i = 0; i < total; i++) {
      const k = cellOf[i];
      if (k < 0) continue;
      const v = value[i];
      if (!Number.isNaN(v) && v !== Infinity && v !== -Infinity) {
        tSum[k] += v;
        cnt[k]++;
      }
    }
  }
  const tMean = new Float64Array(G);
  for (let k = 0; k < G; k++) tMean[k] = cnt[k] > 0 ? tSum[k] / cnt[k] : Number.NaN;
  const mSeries = new Int32Array(G);
  const mPeriod = new Int32Array(G);
  for (let k = 0; k < G; k++) {
    const r = firstOf[k];
    mSeries[k] = ofRow[r];
    mPeriod[k] = periodOf[r];
  }
  const month: Temporal = {
    res: "month",
    rows: G,
    periods,
    series: mSeries,
    period: mPeriod,
    tSum,
    tMean,
    count: cnt,
  };
  if (parts) {
    const tWavg = new Float64Array(G);
    const w = new Float64Array(G);
    for (let k = 0; k < G; k++) {
      tWavg[k] = parts.wvSum[k] / parts.wSum[k];
      w[k] = parts.wSum[k] / parts.rows[k];
    }
    month.tWavg = tWavg;
    month.weight = w;
    month.parts = parts;
  }

  // One frame row per series: its (clean) text, coordinates and first time.
  const rep = series.row;
  const pickF = (a: Float64Array) => {
    const out = new Float64Array(S);
    for (let s = 0; s < S; s++) out[s] = a[rep[s]];
    return out;
  };
  const pickClean = (c: Clean): TextColumn => {
    const out = new Int32Array(S);
    for (let s = 0; s < S; s++) out[s] = c.lookup[c.codes[rep[s]] + 1];
    return { values: c.values, codes: out };
  };
  const featureCodes = new Int32Array(S);
  for (let s = 0; s < S; s++) featureCodes[s] = fc[rep[s]];
  const regions: Partial<Record<RegionLevel, TextColumn>> = {};
  const qualifiers = new Map<string, TextColumn>();
  for (const c of cleaned) {
    if ((REGION_LEVELS as readonly string[]).includes(c.name)) regions[c.name as RegionLevel] = pickClean(c);
    else qualifiers.set(c.name, pickClean(c));
  }
  const identity = new Int32Array(S);
  for (let s = 0; s < S; s++) identity[s] = s;
  const frame: DojoFrame = {
    rows: S,
    timestamp: pickF(timestamp),
    value: new Float64Array(S),
    lat: hasLat ? pickF(lat as Float64Array) : undefined,
    lng: hasLat ? pickF(lng as Float64Array) : undefined,
    feature: { values: feature.values, codes: featureCodes },
    regions,
    qualifiers,
    columns: columns.filter(
      (name) =>
        (name !== weightColumn || !hasWeight) &&
        !dropped.has(name) &&
        (hasLat || (name !== "lat" && name !== "lng")),
    ),
  };
  const seriesOut: Series = { count: S, ofRow: identity, row: identity, feature: featureCodes };

  // The rows as read of the features small enough for raw.csv.
  let raw: DojoFrame | undefined;
  const small = new Uint8Array(nf + 1);
  let anySmall = false;
  for (let f = 0; f < nf; f++) {
    if (perFeature[f + 1] > 0 && perFeature[f + 1] <= options.rawCountThreshold) {
      small[f + 1] = 1;
      anySmall = true;
    }
  }
  if (anySmall) {
    const rows: number[] = [];
    for (let i = 0; i < total; i++) if ((!keep || keep[i]) && small[fc[i] + 1]) rows.push(i);
    const rawTs = readNumbers(metas, "timestamp", total);
    const textCol = (name: string): TextColumn => texts.get(name) as TextColumn;
    const rawRegions: Partial<Record<RegionLevel, TextColumn>> = {};
    for (const level of REGION_LEVELS) rawRegions[level] = textCol(level);
    const rawQualifiers = new Map<string, TextColumn>();
    for (const name of textNames) if (!REQUIRED.has(name)) rawQualifiers.set(name, textCol(name));
    const outColumns = [...columns];
    for (const level of REGION_LEVELS) if (!outColumns.includes(level)) outColumns.push(level);
    const full: DojoFrame = {
      rows: total,
      timestamp: rawTs,
      value,
      lat: hasLatColumns ? lat : undefined,
      lng: hasLatColumns ? lng : undefined,
      feature: textCol("feature"),
      regions: rawRegions,
      qualifiers: rawQualifiers,
      weight: hasWeight ? { name: weightColumn, values: readNumbers(metas, weightColumn, total) } : undefined,
      columns: outColumns.filter((c) => hasLatColumns || (c !== "lat" && c !== "lng")),
    };
    raw = selectRows(full, Int32Array.from(rows));
  }

  return {
    frame,
    series: seriesOut,
    month,
    counters: { num_missing_ts: missingTs, num_invalid_ts: invalidTs, num_missing_val: missingVal },
    numRows,
    rowsPerFeature,
    raw,
    weightColumn: hasWeight ? weightColumn : "",
  };
}

function allNaN(a: Float64Array, keep?: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if ((!keep || keep[i]) && !Number.isNaN(a[i])) return false;
  return true;
}

interface RowSeries {
  count: number;
  /** Series of each row (-1 = row left out), ids in order of first appearance. */
  ofRow: Int32Array;
  /** First row of each series. */
  row: Int32Array;
}

function seriesByText(textOf: Int32Array, groups: number): RowSeries {
  const first = new Int32Array(groups);
  for (let i = textOf.length - 1; i >= 0; i--) if (textOf[i] >= 0) first[textOf[i]] = i;
  return { count: groups, ofRow: textOf, row: first };
}

/**
 * Combine dense ids with one more text column: (id, clean code) -> a new dense id in order of first
 * appearance; -1 stays -1. A flat table when the pairs fit (the new ids overwrite `ids` in place: fresh memory
 * costs a page fault per 4 KiB on first touch, more than the pass itself), a hash otherwise.
 */
function densify(
  ids: Int32Array,
  count: number,
  codes: Int32Array,
  lookup: Int32Array,
  values: number,
  scratch: { table: Int32Array },
): { ids: Int32Array; count: number } {
  const n = ids.length;
  const out = ids;
  if (count * values <= 1 << 24) {
    // One table for every call, all -1 between calls: only the keys used are reset.
    if (scratch.table.length < count * values) scratch.table = new Int32Array(count * values).fill(-1);
    const table = scratch.table;
    const used: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (id < 0) {
        out[i] = -1;
        continue;
      }
      const key = id * values + lookup[codes[i] + 1];
      let g = table[key];
      if (g < 0) {
        g = used.push(key) - 1;
        table[key] = g;
      }
      out[i] = g;
    }
    for (const key of used) table[key] = -1;
    return { ids: out, count: used.length };
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = ids[i] < 0 ? -1 : ids[i] * values + lookup[codes[i] + 1];
  const g = groupByKey(keys);
  return { ids: g.groupOf, count: g.groups };
}

/**
 * Series by (text id, lat, lng): open addressing on typed arrays, doubles compared by value (NaN equals NaN,
 * -0 equals 0), the table doubling at half load. Dojo files repeat the same points in the same order for every
 * time step, so each row is first compared with the row one repeat back; only misses are hashed.
 */
function seriesByCoordinates(textOf: Int32Array, lat: Float64Array, lng: Float64Array): RowSeries {
  const n = textOf.length;
  const latBits = new Int32Array(lat.buffer, lat.byteOffset, n * 2);
  const lngBits = new Int32Array(lng.buffer, lng.byteOffset, n * 2);
  let cap = 1 << 16;
  let mask = cap - 1;
  let slots = new Int32Array(cap).fill(-1);
  let size = 1024;
  let hashes = new Int32Array(size);
  let first = new Int32Array(size);
  let lastRow = new Int32Array(size);
  let sText = new Int32Array(size);
  let sLat = new Float64Array(size);
  let sLng = new Float64Array(size);
  let count = 0;
  let back = 0;
  const ofRow = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = textOf[i];
    if (t < 0) {
      ofRow[i] = -1;
      continue;
    }
    const a = lat[i];
    const b = lng[i];
    if (back > 0 && back <= i) {
      const r = i - back;
      const ra = lat[r];
      const rb = lng[r];
      if (textOf[r] === t && same(ra, a) && same(rb, b)) {
        const g = ofRow[r];
        ofRow[i] = g;
        lastRow[g] = i;
        continue;
      }
    }
    const h = mixPoint(Math.imul(t ^ 0x2545f491, 0x9e3779b1), latBits, lngBits, i, a, b);
    let s = h & mask;
    for (;;) {
      const g = slots[s];
      if (g < 0) {
        if (count === size) {
          size *= 2;
          const grow = <T extends Int32Array | Float64Array>(old: T, make: (k: number) => T): T => {
            const fresh = make(size);
            fresh.set(old as never);
            return fresh;
          };
          hashes = grow(hashes, (k) => new Int32Array(k));
          first = grow(first, (k) => new Int32Array(k));
          lastRow = grow(lastRow, (k) => new Int32Array(k));
          sText = grow(sText, (k) => new Int32Array(k));
          sLat = grow(sLat, (k) => new Float64Array(k));
          sLng = grow(sLng, (k) => new Float64Array(k));
        }
        first[count] = i;
        lastRow[count] = i;
        hashes[count] = h;
        sText[count] = t;
        sLat[count] = a;
        sLng[count] = b;
        slots[s] = count;
        ofRow[i] = count++;
        if (count * 2 > cap) {
          cap *= 2;
          mask = cap - 1;
          slots = new Int32Array(cap).fill(-1);
          for (let k = 0; k < count; k++) {
            let q = hashes[k] & mask;
            while (slots[q] >= 0) q = (q + 1) & mask;
            slots[q] = k;
          }
        }
        break;
      }
      if (hashes[g] === h) {
        const ra = sLat[g];
        const rb = sLng[g];
        if (
          sText[g] === t &&
          (ra === a || (Number.isNaN(ra) && Number.isNaN(a))) &&
          (rb === b || (Number.isNaN(rb) && Number.isNaN(b)))
        ) {
          ofRow[i] = g;
          back = i - lastRow[g];
          lastRow[g] = i;
          break;
        }
      }
      s = (s + 1) & mask;
    }
  }
  return { count, ofRow, row: first.slice(0, count) };
}
