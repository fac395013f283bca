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
 * Growable arrays grow 4x into memory malloc does not clear (`Buffer.allocUnsafeSlow`): entries at and beyond
 * the count in use are never read before they are written, and untouched pages cost nothing, where a cleared
 * typed array touches (and page-faults) all of it at once.
 */
function growInt(a: Int32Array, need: number): Int32Array {
  if (a.length >= need) return a;
  const n = Math.max(need, a.length * 4);
  const out = new Int32Array(Buffer.allocUnsafeSlow(n * 4).buffer, 0, n);
  out.set(a);
  return out;
}

function growFloat(a: Float64Array, need: number): Float64Array {
  if (a.length >= need) return a;
  const n = Math.max(need, a.length * 4);
  const out = new Float64Array(Buffer.allocUnsafeSlow(n * 8).buffer, 0, n);
  out.set(a);
  return out;
}

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

  // Series (growable, by id): feature, provisional ids (T per series), raw codes of the first row, lat, lng,
  // filled timestamp of the first row, hash, and the series that followed it last time.
  let cap = 1 << 16;
  let mask = cap - 1;
  let slots: Int32Array = new Int32Array(cap).fill(-1);
  let size = 1 << 12;
  let sF: Int32Array = new Int32Array(size);
  let sP: Int32Array = new Int32Array(size * T);
  let sRaw: Int32Array = new Int32Array(size * T);
  let sLat: Float64Array = new Float64Array(size);
  let sLng: Float64Array = new Float64Array(size);
  let sTs: Float64Array = new Float64Array(size);
  let sHash: Int32Array = new Int32Array(size);
  let nextOf: Int32Array = new Int32Array(size).fill(-1);
  let lastMonth: Int32Array = new Int32Array(size).fill(-1);
  let lastCell: Int32Array = new Int32Array(size);
  let S = 0;

  // Cells (series, month) by id, a hash on (series, month) for the misses of each series' last cell.
  let ccap = 1 << 16;
  let cmask = ccap - 1;
  let cslots: Int32Array = new Int32Array(ccap).fill(-1);
  let csize = 1 << 12;
  let cSeries: Int32Array = new Int32Array(csize);
  let cMonth: Int32Array = new Int32Array(csize);
  let tSum: Float64Array = new Float64Array(csize);
  let cnt: Float64Array = new Float64Array(csize);
  let wvSum: Float64Array = new Float64Array(hasWeight ? csize : 0);
  let wSum: Float64Array = new Float64Array(hasWeight ? csize : 0);
  let wRows: Float64Array = new Float64Array(hasWeight ? csize : 0);
  let G = 0;
  const monthIndex = new Map<number, number>();
  const starts: number[] = [];

  const fill = Number(options.fillTimestamp);
  let perFeature: Float64Array = new Float64Array(64);
  let numRows = 0;
  let missingTs = 0;
  let invalidTs = 0;
  let missingVal = 0;
  let latAny = false;
  let lngAny = false;
  let prev = -1;
  let lastDay = Number.NaN;
  let month = -1;
  const pc = new Int32Array(T);

  try {
    for (;;) {
      const group = groups.next();
      if (!group) break;
      const { n, set } = group;
      const { fcodes, codes, lat, lng, latBits, lngBits, ts, val, wgt } = set;
      perFeature = growFloat(perFeature, featureCursor.values.length + 1);
      for (let c = 0; c < T; c++) {
        const values = cursors[c].values;
        used[c] = growBytes(used[c], values.length + 1);
        prov[c] = growInt(prov[c], values.length + 1);
        for (let k = provBuilt[c]; k < values.length; k++)
          prov[c][k + 1] = provOf(c, isRegion[c] ? values[k].replaceAll("//", "") : values[k]);
        provBuilt[c] = values.length;
      }
      const st: PassState = {
        cap,
        mask,
        size,
        S,
        ccap,
        cmask,
        csize,
        G,
        numRows,
        missingTs,
        invalidTs,
        missingVal,
        latAny,
        lngAny,
        prev,
        lastDay,
        month,
        perFeature,
        slots,
        sF,
        sP,
        sRaw,
        sLat,
        sLng,
        sTs,
        sHash,
        nextOf,
        lastMonth,
        lastCell,
        cslots,
        cSeries,
        cMonth,
        tSum,
        cnt,
        wvSum,
        wSum,
        wRows,
        T,
        fill,
        hasWeight,
        fcodes,
        codes,
        lat,
        lng,
        latBits,
        lngBits,
        ts,
        val,
        wgt,
        used,
        prov,
        pc,
        firstProv,
        manyProv,
        monthIndex,
        starts,
      };
      reduceRows(st, n);
      cap = st.cap;
      mask = st.mask;
      size = st.size;
      S = st.S;
      ccap = st.ccap;
      cmask = st.cmask;
      csize = st.csize;
      G = st.G;
      numRows = st.numRows;
      missingTs = st.missingTs;
      invalidTs = st.invalidTs;
      missingVal = st.missingVal;
      latAny = st.latAny;
      lngAny = st.lngAny;
      prev = st.prev;
      lastDay = st.lastDay;
      month = st.month;
      perFeature = st.perFeature;
      slots = st.slots;
      sF = st.sF;
      sP = st.sP;
      sRaw = st.sRaw;
      sLat = st.sLat;
      sLng = st.sLng;
      sTs = st.sTs;
      sHash = st.sHash;
      nextOf = st.nextOf;
      lastMonth = st.lastMonth;
      lastCell = st.lastCell;
      cslots = st.cslots;
      cSeries = st.cSeries;
      cMonth = st.cMonth;
      tSum = st.tSum;
      cnt = st.cnt;
      wvSum = st.wvSum;
      wSum = st.wSum;
      wRows = st.wRows;
      groups.release();
    }
  } finally {
    groups.close();
  }

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
    const out = new Int32Array(S);
    for (let s = 0; s < S; s++) out[s] = lookup[sRaw[s * T + c] + 1];
    const column = { values, codes: out };
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
  const mPeriod = new Int32Array(G);
  for (let k = 0; k < G; k++) mPeriod[k] = rank[cMonth[k]];
  const sums = tSum.slice(0, G);
  const counts = cnt.slice(0, G);
  const tMean = new Float64Array(G);
  for (let k = 0; k < G; k++) tMean[k] = counts[k] > 0 ? sums[k] / counts[k] : Number.NaN;
  const monthTable: Temporal = {
    res: "month",
    rows: G,
    periods: order.map((k) => starts[k]),
    series: cSeries.slice(0, G),
    period: mPeriod,
    tSum: sums,
    tMean,
    count: counts,
  };
  if (hasWeight) {
    const parts = { wvSum: wvSum.slice(0, G), wSum: wSum.slice(0, G), rows: wRows.slice(0, G) };
    const tWavg = new Float64Array(G);
    const w = new Float64Array(G);
    for (let k = 0; k < G; k++) {
      tWavg[k] = parts.wvSum[k] / parts.wSum[k];
      w[k] = parts.wSum[k] / parts.rows[k];
    }
    monthTable.tWavg = tWavg;
    monthTable.weight = w;
    monthTable.parts = parts;
  }

  const featureCodes = sF.slice(0, S);
  const identity = new Int32Array(S);
  for (let s = 0; s < S; s++) identity[s] = s;
  const frame: DojoFrame = {
    rows: S,
    timestamp: sTs.slice(0, S),
    value: new Float64Array(S),
    lat: hasLat ? sLat.slice(0, S) : undefined,
    lng: hasLat ? sLng.slice(0, S) : undefined,
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

/** Everything the one pass keeps between row groups (the row loop reads it into locals and writes it back). */
interface PassState {
  cap: number;
  mask: number;
  size: number;
  S: number;
  ccap: number;
  cmask: number;
  csize: number;
  G: number;
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
  slots: Int32Array;
  sF: Int32Array;
  sP: Int32Array;
  sRaw: Int32Array;
  sLat: Float64Array;
  sLng: Float64Array;
  sTs: Float64Array;
  sHash: Int32Array;
  nextOf: Int32Array;
  lastMonth: Int32Array;
  lastCell: Int32Array;
  cslots: Int32Array;
  cSeries: Int32Array;
  cMonth: Int32Array;
  tSum: Float64Array;
  cnt: Float64Array;
  wvSum: Float64Array;
  wSum: Float64Array;
  wRows: Float64Array;
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
  monthIndex: Map<number, number>;
  starts: number[];
}

/** The rows of one row group (`n` rows in the state's buffers). */
function reduceRows(st: PassState, n: number): void {
  let cap = st.cap;
  let mask = st.mask;
  let size = st.size;
  let S = st.S;
  let ccap = st.ccap;
  let cmask = st.cmask;
  let csize = st.csize;
  let G = st.G;
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
  let slots = st.slots;
  let sF = st.sF;
  let sP = st.sP;
  let sRaw = st.sRaw;
  let sLat = st.sLat;
  let sLng = st.sLng;
  let sTs = st.sTs;
  let sHash = st.sHash;
  let nextOf = st.nextOf;
  let lastMonth = st.lastMonth;
  let lastCell = st.lastCell;
  let cslots = st.cslots;
  let cSeries = st.cSeries;
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
  const latBits = st.latBits;
  const lngBits = st.lngBits;
  const ts = st.ts;
  const val = st.val;
  const wgt = st.wgt;
  const used = st.used;
  const prov = st.prov;
  const pc = st.pc;
  const firstProv = st.firstProv;
  const manyProv = st.manyProv;
  const monthIndex = st.monthIndex;
  const starts = st.starts;
  // Rows of this group.
  for (let i = 0; i < n; i++) {
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
      let h = Math.imul(f ^ 0x2545f491, 0x9e3779b1);
      for (let c = 0; c < T; c++) {
        h = Math.imul(h ^ pc[c], 0x85ebca6b);
        h ^= h >>> 15;
      }
      h = mixPoint(h, latBits, lngBits, i, a, b);
      let q = h & mask;
      for (;;) {
        const e = slots[q];
        if (e < 0) break;
        if (sHash[e] === h && sF[e] === f && same(sLat[e], a) && same(sLng[e], b)) {
          let hit = true;
          for (let c = 0; c < T && hit; c++) hit = sP[e * T + c] === pc[c];
          if (hit) {
            s = e;
            break;
          }
        }
        q = (q + 1) & mask;
      }
      if (s < 0) {
        if (S === size) {
          size *= 4;
          sF = growInt(sF, size);
          sP = growInt(sP, size * T);
          sRaw = growInt(sRaw, size * T);
          sLat = growFloat(sLat, size);
          sLng = growFloat(sLng, size);
          sTs = growFloat(sTs, size);
          sHash = growInt(sHash, size);
          nextOf = growInt(nextOf, size);
          lastMonth = growInt(lastMonth, size);
          lastCell = growInt(lastCell, size);
        }
        s = S++;
        sF[s] = f;
        nextOf[s] = -1;
        lastMonth[s] = -1;
        for (let c = 0; c < T; c++) {
          sP[s * T + c] = pc[c];
          sRaw[s * T + c] = codes[c][i];
        }
        sLat[s] = a;
        sLng[s] = b;
        sTs[s] = t;
        sHash[s] = h;
        slots[q] = s;
        if (S * 2 > cap) {
          cap *= 2;
          mask = cap - 1;
          slots = new Int32Array(cap).fill(-1);
          for (let k = 0; k < S; k++) {
            let r = sHash[k] & mask;
            while (slots[r] >= 0) r = (r + 1) & mask;
            slots[r] = k;
          }
        }
      }
    }
    if (prev >= 0) nextOf[prev] = s;
    prev = s;
    // Month of the row (recomputed only when the day changes), then the (series, month) cell.
    const day = Math.floor(t / DAY);
    if (day !== lastDay) {
      const start = periodStart(t, "month");
      let m = monthIndex.get(start);
      if (m === undefined) {
        m = starts.push(start) - 1;
        monthIndex.set(start, m);
      }
      month = m;
      lastDay = day;
    }
    let k: number;
    if (lastMonth[s] === month) k = lastCell[s];
    else {
      const h = Math.imul(Math.imul(s, 0x9e3779b1) ^ month, 0x85ebca6b);
      let q = (h ^ (h >>> 15)) & cmask;
      k = -1;
      for (;;) {
        const e = cslots[q];
        if (e < 0) break;
        if (cSeries[e] === s && cMonth[e] === month) {
          k = e;
          break;
        }
        q = (q + 1) & cmask;
      }
      if (k < 0) {
        if (G === csize) {
          csize *= 4;
          cSeries = growInt(cSeries, csize);
          cMonth = growInt(cMonth, csize);
          tSum = growFloat(tSum, csize);
          cnt = growFloat(cnt, csize);
          if (hasWeight) {
            wvSum = growFloat(wvSum, csize);
            wSum = growFloat(wSum, csize);
            wRows = growFloat(wRows, csize);
          }
        }
        k = G++;
        cSeries[k] = s;
        cMonth[k] = month;
        tSum[k] = 0;
        cnt[k] = 0;
        if (hasWeight) {
          wvSum[k] = 0;
          wSum[k] = 0;
          wRows[k] = 0;
        }
        cslots[q] = k;
        if (G * 2 > ccap) {
          ccap *= 2;
          cmask = ccap - 1;
          cslots = new Int32Array(ccap).fill(-1);
          for (let e = 0; e < G; e++) {
            const he = Math.imul(Math.imul(cSeries[e], 0x9e3779b1) ^ cMonth[e], 0x85ebca6b);
            let r = (he ^ (he >>> 15)) & cmask;
            while (cslots[r] >= 0) r = (r + 1) & cmask;
            cslots[r] = e;
          }
        }
      }
      lastMonth[s] = month;
      lastCell[s] = k;
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

  st.cap = cap;
  st.mask = mask;
  st.size = size;
  st.S = S;
  st.ccap = ccap;
  st.cmask = cmask;
  st.csize = csize;
  st.G = G;
  st.numRows = numRows;
  st.missingTs = missingTs;
  st.invalidTs = invalidTs;
  st.missingVal = missingVal;
  st.latAny = latAny;
  st.lngAny = lngAny;
  st.prev = prev;
  st.lastDay = lastDay;
  st.month = month;
  st.perFeature = perFeature;
  st.slots = slots;
  st.sF = sF;
  st.sP = sP;
  st.sRaw = sRaw;
  st.sLat = sLat;
  st.sLng = sLng;
  st.sTs = sTs;
  st.sHash = sHash;
  st.nextOf = nextOf;
  st.lastMonth = lastMonth;
  st.lastCell = lastCell;
  st.cslots = cslots;
  st.cSeries = cSeries;
  st.cMonth = cMonth;
  st.tSum = tSum;
  st.cnt = cnt;
  st.wvSum = wvSum;
  st.wSum = wSum;
  st.wRows = wRows;
}
