import { compareText, periodStart, type Series, type Temporal } from "./aggregate.ts";
import { type DojoFrame, REGION_LEVELS, type RegionLevel, type TextColumn } from "./frame.ts";
import type { ParquetFile } from "./parquet.ts";
import type { Scan, ScanOptions } from "./scan.ts";
import { type ColumnSpec, inlineGroups, threadedGroups } from "./stream-decode.ts";
import { checkRowsAndFeatures, MAX_TIMESTAMP } from "./validate.ts";

/**
 * The columnar file path in one pass over the row groups (`scanColumns`' first choice): each row group's
 * columns are decoded into buffers reused from group to group, and every row is validated, given its series
 * and its (series, month) cell, and summed before the next group is read. No column of the whole file is
 * ever held, so the pass touches a few MB of memory instead of hundreds (fresh memory costs a page fault and
 * the kernel zeroing it per 4 KiB on first touch, more than the pass itself).
 *
 * It computes what the whole-column path (`reduce` in columns.ts) computes, in the same orders:
 * - series are (feature, the cleaned text of every other text column, lat, lng) in order of first appearance;
 *   text is grouped by cleaned value ("//" removed from region names, null = "None") through provisional ids,
 *   and the clean dictionaries are built at the end exactly as `reduce` builds them;
 * - each row is first compared with the series that followed the previous row's series last time (Dojo repeats
 *   the same points in the same order each time step), so after the first step almost no row is hashed;
 * - (series, month) cells in order of first appearance, sums and counts in input row order.
 * Returns undefined where the result could differ from `reduce`'s or needs the whole columns: shards (the
 * features dealt need the whole feature dictionary first), a feature small enough for raw.csv, a text column
 * that validate_and_fix drops but that holds two different values (null and ""), or coordinates where only
 * one of lat and lng is all missing. The caller then takes the whole-column path.
 */

export interface StreamLayout {
  columns: string[];
  textNames: string[];
  hasLatColumns: boolean;
  weightColumn: string;
  hasWeight: boolean;
  multi: boolean;
  required: ReadonlySet<string>;
  /** Decode row group k + 1 on a second thread while this one reduces row group k (stream-decode.ts). */
  decodeThread?: boolean;
}

const DAY = 86_400_000;

/**
 * Growable arrays grow 4x into shared memory (SharedArrayBuffer, so that the tiling thread reads the tables
 * the pass hands on without a copy, tile-thread.ts). Large ones come from fresh pages, which cost nothing
 * until touched.
 */
function growInt(a: Int32Array, need: number): Int32Array {
  if (a.length >= need) return a;
  const out = sharedInt(Math.max(need, a.length * 4));
  out.set(a);
  return out;
}

function growFloat(a: Float64Array, need: number): Float64Array {
  if (a.length >= need) return a;
  const out = sharedFloat(Math.max(need, a.length * 4));
  out.set(a);
  return out;
}

const sharedInt = (n: number) => new Int32Array(new SharedArrayBuffer(n * 4));
const sharedFloat = (n: number) => new Float64Array(new SharedArrayBuffer(n * 8));

function growBytes(a: Uint8Array, need: number): Uint8Array {
  if (a.length >= need) return a;
  const out = new Uint8Array(Math.max(need, a.length * 2));
  out.set(a);
  return out;
}

/** Coordinates compare as pandas groups them: equal, or both NaN. */
export function same(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/**
 * Mixes row `i`'s point into a series hash `h` and finalises it: the raw bits of lat `a` and lng `b`
 * (`latBits`/`lngBits` view the Float64 columns as Int32 pairs), with +0/-0 and every NaN hashed alike, as
 * `same()` compares them. Small enough for TurboFan to inline into the row loops.
 */
export function mixPoint(
  h: number,
  latBits: Int32Array,
  lngBits: Int32Array,
  i: number,
  a: number,
  b: number,
): number {
  let alo = latBits[2 * i];
  let ahi = latBits[2 * i + 1];
  if (a === 0 || Number.isNaN(a)) {
    alo = 0;
    ahi = a === 0 ? 0 : 0x7ff80000;
  }
  let blo = lngBits[2 * i];
  let bhi = lngBits[2 * i + 1];
  if (b === 0 || Number.isNaN(b)) {
    blo = 0;
    bhi = b === 0 ? 0 : 0x7ff80000;
  }
  h = Math.imul(h ^ alo, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ ahi, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ blo, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ bhi, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export function streamReduce(
  metas: ParquetFile[],
  options: ScanOptions,
  layout: StreamLayout,
): Scan | undefined {
  if (options.shard && options.shard.count > 1) return undefined;
  const { textNames, hasLatColumns, hasWeight, weightColumn, multi } = layout;
  const missingText = (name: string) => (multi && !layout.required.has(name) ? "" : null);
  const others = textNames.filter((n) => n !== "feature");
  const T = others.length;
  const isRegion = others.map((n) => (REGION_LEVELS as readonly string[]).includes(n));
  // Buffer slots: feature, the other text columns, then timestamp, value, lat, lng, weight.
  const columns: ColumnSpec[] = ["feature", ...others].map((name, slot) => ({
    name,
    kind: "text",
    missing: missingText(name),
    slot,
  }));
  const number = (name: string, k: number): ColumnSpec => ({
    name,
    kind: "numbers",
    missing: null,
    slot: T + 1 + k,
  });
  columns.push(number("timestamp", 0), number("value", 1));
  if (hasLatColumns) columns.push(number("lat", 2), number("lng", 3));
  if (hasWeight) columns.push(number(weightColumn, 4));
  let maxRows = 0;
  for (const m of metas) for (const rg of m.rowGroups) maxRows = Math.max(maxRows, rg.rows);
  const groups = (layout.decodeThread ? threadedGroups : inlineGroups)({
    metas,
    columns,
    textCount: T + 1,
    maxRows,
    noLat: !hasLatColumns,
    noWeight: !hasWeight,
  });
  const featureCursor = groups.cursors[0];
  const cursors = groups.cursors.slice(1);

  // Per text column: raw codes seen (+1, null = 0), provisional ids of the cleaned values (+1 likewise), and
  // whether valid rows hold more than one cleaned value.
  const used: Uint8Array[] = others.map(() => new Uint8Array(64));
  const prov: Int32Array[] = others.map(() => new Int32Array(64));
  const provBuilt = new Int32Array(T);
  const provIds = others.map(() => new Map<string, number>());
  const provOf = (c: number, s: string) => {
    const m = provIds[c];
    let id = m.get(s);
    if (id === undefined) {
      id = m.size;
      m.set(s, id);
    }
    return id;
  };
  for (let c = 0; c < T; c++) prov[c][0] = provOf(c, "None");
  const firstProv = new Int32Array(T).fill(-1);
  const manyProv = new Uint8Array(T);

  // Series and (series, month) cells, growable, by id (see PassState).
  const cap = 1 << 16;
  const size = 1 << 12;
  const csize = 1 << 12;
  const st: PassState = {
    cap,
    mask: cap - 1,
    slots: sharedInt(2 * cap).fill(-1),
    size,
    S: 0,
    sF: sharedInt(size),
    sP: new Int32Array(size * T),
    sLat: sharedFloat(size),
    sLng: sharedFloat(size),
    sTs: new Float64Array(size),
    nextOf: new Int32Array(size),
    headCell: new Int32Array(size),
    unsorted: new Uint8Array(size),
    csize,
    G: 0,
    cSeries: sharedInt(csize),
    cMonth: new Int32Array(csize),
    cPrev: new Int32Array(csize),
    tSum: sharedFloat(csize),
    cnt: sharedFloat(csize),
    wvSum: new Float64Array(hasWeight ? csize : 0),
    wSum: new Float64Array(hasWeight ? csize : 0),
    wRows: new Float64Array(hasWeight ? csize : 0),
    ccap: 0,
    cmask: 0,
    cslots: undefined,
    monthIndex: new Map<number, number>(),
    starts: [],
    numRows: 0,
    missingTs: 0,
    invalidTs: 0,
    missingVal: 0,
    latAny: false,
    lngAny: false,
    prev: -1,
    lastDay: Number.NaN,
    month: -1,
    perFeature: new Float64Array(64),
    T,
    fill: Number(options.fillTimestamp),
    hasWeight,
    fcodes: new Int32Array(0),
    codes: [],
    lat: new Float64Array(0),
    lng: new Float64Array(0),
    latBits: new Int32Array(0),
    lngBits: new Int32Array(0),
    ts: new Float64Array(0),
    val: new Float64Array(0),
    wgt: new Float64Array(0),
    used,
    prov,
    pc: new Int32Array(T),
    firstProv,
    manyProv,
    hashes: new Int32Array(PREFETCH_ROWS),
    sink: 0,
  };

  let first = true;
  try {
    for (;;) {
      const group = groups.next();
      if (!group) break;
      const { n, set } = group;
      st.perFeature = growFloat(st.perFeature, featureCursor.values.length + 1);
      for (let c = 0; c < T; c++) {
        const values = cursors[c].values;
        used[c] = growBytes(used[c], values.length + 1);
        prov[c] = growInt(prov[c], values.length + 1);
        for (let k = provBuilt[c]; k < values.length; k++)
          prov[c][k + 1] = provOf(c, isRegion[c] ? values[k].replaceAll("//", "") : values[k]);
        provBuilt[c] = values.length;
      }
      st.fcodes = set.fcodes;
      st.codes = set.codes;
      st.lat = set.lat;
      st.lng = set.lng;
      st.latBits = set.latBits;
      st.lngBits = set.lngBits;
      st.ts = set.ts;
      st.val = set.val;
      st.wgt = set.wgt;
      reduceRows(st, n);
      groups.release();
      if (first) options.whileReading?.();
      first = false;
    }
    groups.finish();
  } finally {
    groups.close();
  }

  const { numRows, perFeature, latAny, lngAny, missingTs, invalidTs, missingVal } = st;
  const { S, G, sF, sP, sTs, sLat, sLng, cSeries, cMonth, tSum, cnt, wvSum, wSum, wRows, starts } = st;
  // Tables the pass no longer needs hold the per-series arrays made below: fresh memory costs a page fault per
  // 4 KiB on first touch (~3 ms per MB here), and these pages are already in.
  const dead = [st.nextOf, st.headCell, st.cPrev, st.slots];
  const int32 = (n: number): Int32Array => {
    const k = dead.findIndex((a) => a.length >= n);
    return k < 0 ? sharedInt(n) : dead.splice(k, 1)[0].subarray(0, n);
  };

  checkRowsAndFeatures(numRows, perFeature[0], metas);
  const featureValues = featureCursor.values;
  const nf = featureValues.length;
  for (let f = 0; f < nf; f++)
    if (perFeature[f + 1] > 0 && perFeature[f + 1] <= options.rawCountThreshold) return undefined;
  if (hasLatColumns && latAny !== lngAny) return undefined;
  const hasLat = hasLatColumns && latAny && lngAny;

  // Text clean-up on the dictionaries, as `reduce` does it.
  const dropped = new Set<string>();
  const regions: Partial<Record<RegionLevel, TextColumn>> = {};
  const qualifiers = new Map<string, TextColumn>();
  for (let c = 0; c < T; c++) {
    const name = others[c];
    const raw = cursors[c].values;
    let nonEmpty = false;
    for (let k = 0; k < raw.length; k++) if (used[c][k + 1] && raw[k] !== "") nonEmpty = true;
    if (!nonEmpty) {
      if (manyProv[c]) return undefined;
      dropped.add(name);
      continue;
    }
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
    const lookup = new Int32Array(raw.length + 1);
    for (let k = 0; k < raw.length; k++)
      lookup[k + 1] = add(isRegion[c] ? raw[k].replaceAll("//", "") : raw[k]);
    lookup[0] = used[c][0] ? add("None") : -1;
    // A series keeps its rows' provisional id (one per cleaned value), which maps to the clean code.
    const clean = new Int32Array(provIds[c].size).fill(-1);
    for (let k = 0; k < raw.length; k++) clean[prov[c][k + 1]] = lookup[k + 1];
    if (used[c][0]) clean[prov[c][0]] = lookup[0];
    const column = { values, codes: cleanCodes(clean, sP, S, T, c, int32(S)) };
    if (isRegion[c]) regions[name as RegionLevel] = column;
    else qualifiers.set(name, column);
  }
  const rowsPerFeature: Record<string, number> = {};
  for (const f of featureValues
    .map((_, k) => k)
    .filter((k) => perFeature[k + 1] > 0)
    .sort((a, b) => compareText(featureValues[a], featureValues[b])))
    rowsPerFeature[featureValues[f]] = perFeature[f + 1];

  // Months ascending, the cells' sums into the monthly table.
  const order = starts.map((_, k) => k).sort((a, b) => starts[a] - starts[b]);
  const rank = new Int32Array(order.length);
  order.forEach((k, r) => {
    rank[k] = r;
  });
  const mPeriod = mapCodes(rank, cMonth, G, cMonth);
  const sums = tSum.subarray(0, G);
  const counts = cnt.subarray(0, G);
  const tMean = meansOf(sums, counts);
  const monthTable: Temporal = {
    res: "month",
    rows: G,
    periods: order.map((k) => starts[k]),
    series: cSeries.subarray(0, G),
    period: mPeriod,
    tSum: sums,
    tMean,
    count: counts,
  };
  if (hasWeight) {
    const parts = { wvSum: wvSum.subarray(0, G), wSum: wSum.subarray(0, G), rows: wRows.subarray(0, G) };
    monthTable.tWavg = ratios(parts.wvSum, parts.wSum);
    monthTable.weight = ratios(parts.wSum, parts.rows);
    monthTable.parts = parts;
  }

  const featureCodes = sF.subarray(0, S);
  const identity = iota(int32(S));
  const frame: DojoFrame = {
    rows: S,
    timestamp: sTs.subarray(0, S),
    value: new Float64Array(S),
    lat: hasLat ? sLat.subarray(0, S) : undefined,
    lng: hasLat ? sLng.subarray(0, S) : undefined,
    feature: { values: featureValues, codes: featureCodes },
    regions,
    qualifiers,
    columns: layout.columns.filter(
      (name) =>
        (name !== weightColumn || !hasWeight) &&
        !dropped.has(name) &&
        (hasLat || (name !== "lat" && name !== "lng")),
    ),
  };
  const series: Series = { count: S, ofRow: identity, row: identity, feature: featureCodes };
  return {
    frame,
    series,
    month: monthTable,
    counters: { num_missing_ts: missingTs, num_invalid_ts: invalidTs, num_missing_val: missingVal },
    numRows,
    rowsPerFeature,
    raw: undefined,
    weightColumn: hasWeight ? weightColumn : "",
    via: "stream",
  };
}

// Loops over every series or cell after the pass, each in its own small function: in streamReduce (run once,
// large) they would run unoptimized or make V8 compile all of streamReduce.

/** The clean codes of text column `c` for every series (into `out`), from the series' provisional ids. */
function cleanCodes(
  clean: Int32Array,
  sP: Int32Array,
  S: number,
  T: number,
  c: number,
  out: Int32Array,
): Int32Array {
  for (let s = 0; s < S; s++) out[s] = clean[sP[s * T + c]];
  return out;
}

/** map[codes[k]] for k < n, into `into` (which may be `codes` itself). */
function mapCodes(map: Int32Array, codes: Int32Array, n: number, into: Int32Array): Int32Array {
  const out = into.subarray(0, n);
  for (let k = 0; k < n; k++) out[k] = map[codes[k]];
  return out;
}

/** sum / count, NaN where the count is 0. */
function meansOf(sums: Float64Array, counts: Float64Array): Float64Array {
  const out = sharedFloat(sums.length);
  for (let k = 0; k < sums.length; k++) out[k] = counts[k] > 0 ? sums[k] / counts[k] : Number.NaN;
  return out;
}

function ratios(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let k = 0; k < a.length; k++) out[k] = a[k] / b[k];
  return out;
}

function iota(out: Int32Array): Int32Array {
  const n = out.length;
  for (let k = 0; k < n; k++) out[k] = k;
  return out;
}

/**
 * Everything the one pass keeps between row groups, and the current group's buffers. The row loop reads it
 * into locals; the rarer steps (a series or cell not found by prediction, a new month) work on it directly
 * and the loop reloads the arrays they may have grown.
 *
 * Series: an open-addressing table `slots` of (series id, hash) pairs, load at most 1/2; per series its
 * feature, provisional text ids (T per series; the clean codes are mapped from them at the end), lat, lng,
 * the filled timestamp of its first row, the series that followed it last time (`nextOf`), its newest cell
 * (`headCell`, -1 for none) and whether its cells were not made in ascending month order (`unsorted`).
 * Cells: per cell its series, month, the series' previous cell (`cPrev`: each series' cells form a chain
 * from its newest), sums and counts. A cell is looked up by the series' newest cell, then (cells made in
 * month order and a later month: a new cell) by walking the chain; after a walk longer than CHAIN_WALK, a
 * hash on (series, month) over every cell (`cslots`) takes the walks' place for the rest of the pass.
 */
interface PassState {
  cap: number;
  mask: number;
  slots: Int32Array;
  size: number;
  S: number;
  sF: Int32Array;
  sP: Int32Array;
  sLat: Float64Array;
  sLng: Float64Array;
  sTs: Float64Array;
  nextOf: Int32Array;
  headCell: Int32Array;
  unsorted: Uint8Array;
  csize: number;
  G: number;
  cSeries: Int32Array;
  cMonth: Int32Array;
  cPrev: Int32Array;
  tSum: Float64Array;
  cnt: Float64Array;
  wvSum: Float64Array;
  wSum: Float64Array;
  wRows: Float64Array;
  ccap: number;
  cmask: number;
  cslots: Int32Array | undefined;
  monthIndex: Map<number, number>;
  starts: number[];
  numRows: number;
  missingTs: number;
  invalidTs: number;
  missingVal: number;
  latAny: boolean;
  lngAny: boolean;
  prev: number;
  lastDay: number;
  month: number;
  perFeature: Float64Array;
  T: number;
  fill: number;
  hasWeight: boolean;
  fcodes: Int32Array;
  codes: Int32Array[];
  lat: Float64Array;
  lng: Float64Array;
  latBits: Int32Array;
  lngBits: Int32Array;
  ts: Float64Array;
  val: Float64Array;
  wgt: Float64Array;
  used: Uint8Array[];
  prov: Int32Array[];
  pc: Int32Array;
  firstProv: Int32Array;
  manyProv: Uint8Array;
  /** Series hashes of the rows prefetchSlots read ahead, and what it read. */
  hashes: Int32Array;
  sink: number;
}

/** A chain walk longer than this switches the pass to the cell hash. */
const CHAIN_WALK = 16;

/** The rows of one row group (`n` rows in the state's buffers). */
function reduceRows(st: PassState, n: number): void {
  let numRows = st.numRows;
  let missingTs = st.missingTs;
  let invalidTs = st.invalidTs;
  let missingVal = st.missingVal;
  let latAny = st.latAny;
  let lngAny = st.lngAny;
  let prev = st.prev;
  let lastDay = st.lastDay;
  let month = st.month;
  const perFeature = st.perFeature;
  let sF = st.sF;
  let sP = st.sP;
  let sLat = st.sLat;
  let sLng = st.sLng;
  let nextOf = st.nextOf;
  let headCell = st.headCell;
  let cMonth = st.cMonth;
  let tSum = st.tSum;
  let cnt = st.cnt;
  let wvSum = st.wvSum;
  let wSum = st.wSum;
  let wRows = st.wRows;
  const T = st.T;
  const fill = st.fill;
  const hasWeight = st.hasWeight;
  const fcodes = st.fcodes;
  const codes = st.codes;
  const lat = st.lat;
  const lng = st.lng;
  const ts = st.ts;
  const val = st.val;
  const wgt = st.wgt;
  const used = st.used;
  const prov = st.prov;
  const pc = st.pc;
  const firstProv = st.firstProv;
  const manyProv = st.manyProv;
  const hashes = st.hashes;
  // Rows [hashedFrom, hashedTo) have their hashes in `hashes` (prefetchSlots); a chunk is prefetched when
  // the one before it missed the prediction often (the first time step: every row is a new series).
  let hashedFrom = 0;
  let hashedTo = 0;
  let misses = PREFETCH_MISSES;
  for (let i = 0; i < n; i++) {
    if (i === hashedFrom + PREFETCH_ROWS || i === 0) {
      hashedFrom = i;
      hashedTo = i;
      if (misses >= PREFETCH_MISSES) {
        hashedTo = Math.min(n, i + PREFETCH_ROWS);
        st.sink ^= prefetchSlots(st, i, hashedTo);
      }
      misses = 0;
    }
    const f = fcodes[i];
    numRows++;
    perFeature[f + 1]++;
    for (let c = 0; c < T; c++) used[c][codes[c][i] + 1] = 1;
    const a = lat[i];
    const b = lng[i];
    if (!Number.isNaN(a)) latAny = true;
    if (!Number.isNaN(b)) lngAny = true;
    let t = ts[i];
    if (Number.isNaN(t)) {
      missingTs++;
      t = fill;
    }
    if (t >= MAX_TIMESTAMP) {
      invalidTs++;
      continue;
    }
    let v = val[i];
    if (Number.isNaN(v) || v === Infinity || v === -Infinity) {
      missingVal++;
      v = Number.NaN;
    }
    if (f < 0) continue; // an error at the end
    for (let c = 0; c < T; c++) {
      const p = prov[c][codes[c][i] + 1];
      pc[c] = p;
      if (firstProv[c] !== p) {
        if (firstProv[c] < 0) firstProv[c] = p;
        else manyProv[c] = 1;
      }
    }
    // Series: the one that followed the previous row's series last time, else the hash table.
    let s = prev >= 0 ? nextOf[prev] : -1;
    if (s >= 0) {
      let hit = sF[s] === f && same(sLat[s], a) && same(sLng[s], b);
      for (let c = 0; c < T && hit; c++) hit = sP[s * T + c] === pc[c];
      if (!hit) s = -1;
    }
    if (s < 0) {
      misses++;
      const h = i < hashedTo ? hashes[i - hashedFrom] : rowHash(st, f, pc, i, a, b);
      s = seriesOf(st, f, a, b, t, h);
      sF = st.sF;
      sP = st.sP;
      sLat = st.sLat;
      sLng = st.sLng;
      nextOf = st.nextOf;
      headCell = st.headCell;
    }
    if (prev >= 0) nextOf[prev] = s;
    prev = s;
    // Month of the row (recomputed only when the day changes), then the (series, month) cell.
    const day = Math.floor(t / DAY);
    if (day !== lastDay) {
      month = monthOf(st, t);
      lastDay = day;
    }
    let k = headCell[s];
    if (k < 0 || cMonth[k] !== month) {
      k = cellOf(st, s, month);
      headCell = st.headCell;
      cMonth = st.cMonth;
      tSum = st.tSum;
      cnt = st.cnt;
      wvSum = st.wvSum;
      wSum = st.wSum;
      wRows = st.wRows;
    }
    if (hasWeight) {
      let wi = wgt[i];
      if (Number.isNaN(wi)) wi = 0;
      if (!Number.isNaN(v)) {
        tSum[k] += v;
        cnt[k]++;
        const p = v * wi;
        if (!Number.isNaN(p)) wvSum[k] += p;
      }
      wSum[k] += wi;
      wRows[k]++;
    } else if (!Number.isNaN(v)) {
      tSum[k] += v;
      cnt[k]++;
    }
  }
  st.numRows = numRows;
  st.missingTs = missingTs;
  st.invalidTs = invalidTs;
  st.missingVal = missingVal;
  st.latAny = latAny;
  st.lngAny = lngAny;
  st.prev = prev;
  st.lastDay = lastDay;
  st.month = month;
}

/** The month index of timestamp `t` (months numbered in order of first appearance). */
function monthOf(st: PassState, t: number): number {
  const start = periodStart(t, "month");
  let m = st.monthIndex.get(start);
  if (m === undefined) {
    m = st.starts.push(start) - 1;
    st.monthIndex.set(start, m);
  }
  return m;
}

/** A series hash starts from the feature, mixes in each text column's provisional id, then the point. */
const seedHash = (f: number) => Math.imul(f ^ 0x2545f491, 0x9e3779b1);
const mixText = (h: number, id: number) => {
  const m = Math.imul(h ^ id, 0x85ebca6b);
  return m ^ (m >>> 15);
};

/** The series hash of row `i`: its feature `f`, provisional text ids `pc` (T of them) and point (a, b). */
function rowHash(st: PassState, f: number, pc: Int32Array, i: number, a: number, b: number): number {
  let h = seedHash(f);
  for (let c = 0; c < st.T; c++) h = mixText(h, pc[c]);
  return mixPoint(h, st.latBits, st.lngBits, i, a, b);
}

/**
 * Rows looked up in the series table per prefetch chunk, and how many of a chunk's rows must have missed the
 * prediction for the next chunk to be prefetched.
 */
const PREFETCH_ROWS = 64;
const PREFETCH_MISSES = 16;

/**
 * Hashes rows [from, to) of the group into `st.hashes` and reads each one's home slot of the series table.
 * A row the prediction misses costs a cache miss on its slot (the table is tens of MB on B, every new series
 * a random place in it): ~200 ns, most of the time of a run's first time step, which makes a million new
 * series. Read in this tight loop, the slots of a chunk are fetched from memory side by side instead of one
 * after another, and the row loop then finds them in cache. Returns the slots read (for `st.sink`, so the
 * reads are not optimised away).
 */
function prefetchSlots(st: PassState, from: number, to: number): number {
  const { fcodes, codes, prov, T, lat, lng, latBits, lngBits, slots, mask, hashes } = st;
  let sink = 0;
  for (let i = from; i < to; i++) {
    let h = seedHash(fcodes[i]);
    for (let c = 0; c < T; c++) h = mixText(h, prov[c][codes[c][i] + 1]);
    hashes[i - from] = mixPoint(h, latBits, lngBits, i, lat[i], lng[i]);
  }
  // A loop of its own, a few instructions a slot: the processor has many of the reads in flight at once.
  for (let k = 0; k < to - from; k++) sink ^= slots[2 * (hashes[k] & mask)];
  return sink;
}

/** The series with hash `h` of a row (provisional text ids in `st.pc`) from the hash table, added when new. */
function seriesOf(st: PassState, f: number, a: number, b: number, t: number, h: number): number {
  const T = st.T;
  const pc = st.pc;
  const slots = st.slots;
  const mask = st.mask;
  const sF = st.sF;
  const sP = st.sP;
  let q = h & mask;
  for (;;) {
    const e = slots[2 * q];
    if (e < 0) break;
    if (slots[2 * q + 1] === h && sF[e] === f && same(st.sLat[e], a) && same(st.sLng[e], b)) {
      let hit = true;
      for (let c = 0; c < T && hit; c++) hit = sP[e * T + c] === pc[c];
      if (hit) return e;
    }
    q = (q + 1) & mask;
  }
  if (st.S === st.size) growSeries(st);
  const s = st.S++;
  st.sF[s] = f;
  st.nextOf[s] = -1;
  st.headCell[s] = -1;
  st.unsorted[s] = 0;
  for (let c = 0; c < T; c++) st.sP[s * T + c] = pc[c];
  st.sLat[s] = a;
  st.sLng[s] = b;
  st.sTs[s] = t;
  slots[2 * q] = s;
  slots[2 * q + 1] = h;
  if (st.S * 2 > st.cap) rehashSeries(st);
  return s;
}

function growSeries(st: PassState): void {
  const size = st.size * 4;
  const T = st.T;
  st.size = size;
  st.sF = growInt(st.sF, size);
  st.sP = growInt(st.sP, size * T);
  st.sLat = growFloat(st.sLat, size);
  st.sLng = growFloat(st.sLng, size);
  st.sTs = growFloat(st.sTs, size);
  st.nextOf = growInt(st.nextOf, size);
  st.headCell = growInt(st.headCell, size);
  st.unsorted = growBytes(st.unsorted, size);
}

/** Doubles the series table: the (id, hash) pairs are read in table order and placed again. */
function rehashSeries(st: PassState): void {
  const old = st.slots;
  const cap = st.cap * 2;
  const mask = cap - 1;
  const slots = sharedInt(2 * cap).fill(-1);
  for (let r = 0; r < old.length; r += 2) {
    const e = old[r];
    if (e < 0) continue;
    const h = old[r + 1];
    let q = h & mask;
    while (slots[2 * q] >= 0) q = (q + 1) & mask;
    slots[2 * q] = e;
    slots[2 * q + 1] = h;
  }
  st.cap = cap;
  st.mask = mask;
  st.slots = slots;
}

/** The (series `s`, `month`) cell when it is not the series' newest cell: found, or added. */
function cellOf(st: PassState, s: number, month: number): number {
  const head = st.headCell[s];
  if (head >= 0) {
    const start = st.starts[month];
    const headStart = st.starts[st.cMonth[head]];
    // Cells made in month order and a later month: the cell is new.
    if (st.unsorted[s] === 0 && start > headStart) return addCell(st, s, month);
    if (st.cslots) {
      const k = hashedCell(st, s, month, false);
      if (k >= 0) return k;
    } else {
      let steps = 0;
      for (let k = head; k >= 0; k = st.cPrev[k]) {
        if (st.cMonth[k] === month) return k;
        steps++;
      }
      if (steps > CHAIN_WALK) buildCellHash(st, st.ccap === 0 ? 1 << 16 : st.ccap);
    }
    if (start < headStart) st.unsorted[s] = 1;
  }
  return addCell(st, s, month);
}

function addCell(st: PassState, s: number, month: number): number {
  if (st.G === st.csize) {
    const csize = st.csize * 4;
    st.csize = csize;
    st.cSeries = growInt(st.cSeries, csize);
    st.cMonth = growInt(st.cMonth, csize);
    st.cPrev = growInt(st.cPrev, csize);
    st.tSum = growFloat(st.tSum, csize);
    st.cnt = growFloat(st.cnt, csize);
    if (st.hasWeight) {
      st.wvSum = growFloat(st.wvSum, csize);
      st.wSum = growFloat(st.wSum, csize);
      st.wRows = growFloat(st.wRows, csize);
    }
  }
  const k = st.G++;
  st.cSeries[k] = s;
  st.cMonth[k] = month;
  st.cPrev[k] = st.headCell[s];
  st.headCell[s] = k;
  st.tSum[k] = 0;
  st.cnt[k] = 0;
  if (st.hasWeight) {
    st.wvSum[k] = 0;
    st.wSum[k] = 0;
    st.wRows[k] = 0;
  }
  if (st.cslots) {
    hashedCell(st, s, month, true);
    if (st.G * 2 > st.ccap) buildCellHash(st, st.ccap * 2);
  }
  return k;
}

const cellHash = (s: number, month: number) => {
  const h = Math.imul(Math.imul(s, 0x9e3779b1) ^ month, 0x85ebca6b);
  return h ^ (h >>> 15);
};

/** The cell hash's entry for (s, month), or -1; with `add`, the newest cell (G - 1) takes the empty slot. */
function hashedCell(st: PassState, s: number, month: number, add: boolean): number {
  const cslots = st.cslots as Int32Array;
  const cmask = st.cmask;
  let q = cellHash(s, month) & cmask;
  for (;;) {
    const e = cslots[q];
    if (e < 0) break;
    if (st.cSeries[e] === s && st.cMonth[e] === month) return e;
    q = (q + 1) & cmask;
  }
  if (add) cslots[q] = st.G - 1;
  return -1;
}

/** (Re)builds the cell hash over every cell with at least `ccap` slots (load at most 1/2). */
function buildCellHash(st: PassState, ccap: number): void {
  while (st.G * 2 > ccap) ccap *= 2;
  const cmask = ccap - 1;
  const cslots = new Int32Array(ccap).fill(-1);
  for (let e = 0; e < st.G; e++) {
    let r = cellHash(st.cSeries[e], st.cMonth[e]) & cmask;
    while (cslots[r] >= 0) r = (r + 1) & cmask;
    cslots[r] = e;
  }
  st.ccap = ccap;
  st.cmask = cmask;
  st.cslots = cslots;
}
