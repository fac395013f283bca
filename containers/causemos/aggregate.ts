import { type DojoFrame, REGION_LEVELS, type RegionLevel } from "./frame.ts";
import { groupByColumns, groupByKey, tableGroup } from "./group.ts";

/**
 * Temporal and spatial aggregation (`run_temporal_aggregation`, `run_spatial_aggregation`) on typed arrays.
 *
 * A "series" is one combination of every non-value column except the timestamp (feature, regions, lat, lng,
 * qualifiers): the original groups by all of them. Series are found once per run; the temporal aggregation of
 * each resolution then groups by (series, period), a direct-indexed table in the usual case.
 * Missing values follow pandas: sums skip NaN (all-NaN sums to 0), means/min/max skip NaN (all-NaN gives NaN),
 * counts count non-NaN.
 */

export type TimeRes = "month" | "year" | "all";

export interface Series {
  count: number;
  /** Series id of each frame row. */
  ofRow: Int32Array;
  /** A representative frame row of each series. */
  row: Int32Array;
  feature: Int32Array;
}

export function findSeries(frame: DojoFrame): Series {
  const ints: Int32Array[] = [frame.feature.codes];
  for (const level of REGION_LEVELS) {
    const col = frame.regions[level];
    if (col) ints.push(col.codes);
  }
  for (const col of frame.qualifiers.values()) ints.push(col.codes);
  const doubles = frame.lat && frame.lng ? [frame.lat, frame.lng] : [];
  const g = groupByColumns(ints, doubles, frame.rows);
  const feature = new Int32Array(g.groups);
  for (let s = 0; s < g.groups; s++) feature[s] = frame.feature.codes[g.firstRow[s]];
  return { count: g.groups, ofRow: g.groupOf, row: g.firstRow, feature };
}

const DAY = 86_400_000;

/** First instant (epoch ms, UTC) of the month or year holding `ms`; 0 for "all" and for times pandas cannot hold. */
export function periodStart(ms: number, res: TimeRes): number {
  if (res === "all" || !(ms > -9223372036854.775 && ms < 9223372036854.775)) return 0;
  const d = new Date(Math.floor(ms / DAY) * DAY);
  return res === "month"
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
    : Date.UTC(d.getUTCFullYear(), 0, 1);
}

export interface Temporal {
  res: TimeRes;
  rows: number;
  /** Period start times, ascending; `period[i]` indexes it. */
  periods: number[];
  series: Int32Array;
  period: Int32Array;
  tSum: Float64Array;
  tMean: Float64Array;
  /** Non-NaN values per row (what t_mean divides by), kept so coarser resolutions can be rolled up. */
  count: Float64Array;
  /** With a weight column: Σ(value·w)/Σw and the mean weight, and their parts. */
  tWavg?: Float64Array;
  weight?: Float64Array;
  parts?: { wvSum: Float64Array; wSum: Float64Array; rows: Float64Array };
}

/** Map each row to its period: distinct period starts ascending, and the period index of each row. */
function periodsOf(n: number, startOf: (i: number) => number, sameAsPrevious: (i: number) => boolean) {
  const periodIndex = new Map<number, number>();
  const starts: number[] = [];
  const ofRow = new Int32Array(n);
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (i > 0 && sameAsPrevious(i)) {
      ofRow[i] = last;
      continue;
    }
    const start = startOf(i);
    let p = periodIndex.get(start);
    if (p === undefined) {
      p = starts.push(start) - 1;
      periodIndex.set(start, p);
    }
    last = p;
    ofRow[i] = p;
  }
  const order = starts.map((_, k) => k).sort((a, b) => starts[a] - starts[b]);
  const rank = new Int32Array(order.length);
  order.forEach((k, r) => {
    rank[k] = r;
  });
  for (let i = 0; i < n; i++) ofRow[i] = rank[ofRow[i]];
  return { periods: order.map((k) => starts[k]), ofRow };
}

export function temporalAggregation(frame: DojoFrame, series: Series, res: TimeRes): Temporal {
  const n = frame.rows;
  const ts = frame.timestamp;
  // Dojo rows come in runs of one day: recompute the period only when the day changes.
  const { periods, ofRow } = periodsOf(
    n,
    (i) => periodStart(ts[i], res),
    (i) => Math.floor(ts[i] / DAY) === Math.floor(ts[i - 1] / DAY),
  );
  const w = frame.weight?.values;
  return accumulate(
    res,
    periods,
    n,
    (i) => series.ofRow[i],
    ofRow,
    series.count,
    (sum, cnt, gOf, parts) => {
      const value = frame.value;
      if (w && parts) {
        for (let i = 0; i < n; i++) {
          const k = gOf[i];
          const v = value[i];
          const wi = w[i];
          if (!Number.isNaN(v)) {
            sum[k] += v;
            cnt[k]++;
            const p = v * wi;
            if (!Number.isNaN(p)) parts.wvSum[k] += p;
          }
          parts.wSum[k] += wi;
          parts.rows[k]++;
        }
      } else {
        for (let i = 0; i < n; i++) {
          const v = value[i];
          if (!Number.isNaN(v)) {
            const k = gOf[i];
            sum[k] += v;
            cnt[k]++;
          }
        }
      }
    },
    w !== undefined,
  );
}

/**
 * Year (or all) from month: the sums and counts of the finer rows add up to the coarser ones exactly. When every
 * coarser period holds exactly one of the finer periods present, each coarse row is one fine row, and the result
 * is the fine table relabelled ({@link relabel}), sharing its arrays where their values are the same.
 */
export function rollUp(t: Temporal, series: Series, res: TimeRes): Temporal {
  const fine = t.periods.map((p) => periodStart(p, res));
  const same = res !== t.res ? relabel(t, series, res, fine) : undefined;
  if (same) return same;
  const { periods, ofRow } = periodsOf(
    t.rows,
    (k) => fine[t.period[k]],
    (k) => t.period[k] === t.period[k - 1],
  );
  return accumulate(
    res,
    periods,
    t.rows,
    (k) => t.series[k],
    ofRow,
    series.count,
    (sum, cnt, gOf, parts) => {
      for (let k = 0; k < t.rows; k++) {
        const g = gOf[k];
        sum[g] += t.tSum[k];
        cnt[g] += t.count[k];
        if (parts && t.parts) {
          parts.wvSum[g] += t.parts.wvSum[k];
          parts.wSum[g] += t.parts.wSum[k];
          parts.rows[g] += t.parts.rows[k];
        }
      }
    },
    t.parts !== undefined,
  );
}

/**
 * The coarser table when the finer periods map one to one onto coarser ones (`fine[k]` strictly increasing, every
 * period used) and each (series, period) is one row: the same rows in the same order, with the values
 * `accumulate` would compute from one term each (0 + x, then the same divisions). Arrays whose values come out
 * bit for bit equal are shared with `t` (so {@link sameBody} holds and later steps can reuse their results);
 * undefined when the periods do not map one to one.
 */
function relabel(t: Temporal, series: Series, res: TimeRes, fine: number[]): Temporal | undefined {
  const np = t.periods.length;
  for (let k = 1; k < np; k++) if (!(fine[k - 1] < fine[k])) return undefined;
  const n = t.rows;
  if (series.count * np > Math.max(1 << 22, 4 * n)) return undefined;
  const seen = new Uint8Array(series.count * np);
  const used = new Uint8Array(np);
  for (let k = 0; k < n; k++) {
    const key = t.series[k] * np + t.period[k];
    if (seen[key]) return undefined;
    seen[key] = 1;
    used[t.period[k]] = 1;
  }
  for (let p = 0; p < np; p++) if (!used[p]) return undefined;
  const tSum = plusZero(t.tSum);
  const count = plusZero(t.count);
  const tMean = derived(t.tMean, n, (k) => (count[k] > 0 ? tSum[k] / count[k] : Number.NaN));
  const out: Temporal = {
    res,
    rows: n,
    periods: fine,
    series: t.series,
    period: t.period,
    tSum,
    tMean,
    count,
  };
  if (t.parts) {
    const parts = {
      wvSum: plusZero(t.parts.wvSum),
      wSum: plusZero(t.parts.wSum),
      rows: plusZero(t.parts.rows),
    };
    out.parts = parts;
    out.tWavg = derived(t.tWavg, n, (k) => parts.wvSum[k] / parts.wSum[k]);
    out.weight = derived(t.weight, n, (k) => parts.wSum[k] / parts.rows[k]);
  }
  return out;
}

/** 0 + x for every x: `a` itself unless it holds a -0 (which becomes +0). */
function plusZero(a: Float64Array): Float64Array {
  for (let k = 0; k < a.length; k++) if (a[k] === 0 && 1 / a[k] < 0) return a.map((x) => 0 + x);
  return a;
}

/** `value(k)` for every k: `old` itself when it already holds exactly those values (bit for bit up to NaN). */
function derived(old: Float64Array | undefined, n: number, value: (k: number) => number): Float64Array {
  let k = 0;
  if (old && old.length === n) {
    for (; k < n; k++) {
      const v = value(k);
      const o = old[k];
      if (v === o ? v === 0 && 1 / v !== 1 / o : !(Number.isNaN(v) && Number.isNaN(o))) break;
    }
    if (k === n) return old;
  }
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = value(j);
  return out;
}

/** Whether two temporal tables hold the same rows and values (shared arrays): they differ only in their periods. */
export function sameBody(a: Temporal, b: Temporal): boolean {
  return (
    a.rows === b.rows &&
    a.series === b.series &&
    a.period === b.period &&
    a.tSum === b.tSum &&
    a.tMean === b.tMean &&
    a.count === b.count &&
    a.tWavg === b.tWavg &&
    a.weight === b.weight &&
    a.periods.length === b.periods.length
  );
}

function accumulate(
  res: TimeRes,
  periods: number[],
  n: number,
  seriesOf: (i: number) => number,
  periodOf: Int32Array,
  seriesCount: number,
  fill: (sum: Float64Array, cnt: Float64Array, groupOf: Int32Array, parts?: Temporal["parts"]) => void,
  weighted: boolean,
): Temporal {
  const np = periods.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = seriesOf(i) * np + periodOf[i];
  const g = groupByKey(keys, seriesCount * np - 1);
  const G = g.groups;
  const sum = new Float64Array(G);
  const cnt = new Float64Array(G);
  const parts = weighted
    ? { wvSum: new Float64Array(G), wSum: new Float64Array(G), rows: new Float64Array(G) }
    : undefined;
  fill(sum, cnt, g.groupOf, parts);
  const tMean = new Float64Array(G);
  for (let k = 0; k < G; k++) tMean[k] = cnt[k] > 0 ? sum[k] / cnt[k] : Number.NaN;
  const outSeries = new Int32Array(G);
  const outPeriod = new Int32Array(G);
  for (let k = 0; k < G; k++) {
    const r = g.firstRow[k];
    outSeries[k] = seriesOf(r);
    outPeriod[k] = periodOf[r];
  }
  const out: Temporal = {
    res,
    rows: G,
    periods,
    series: outSeries,
    period: outPeriod,
    tSum: sum,
    tMean,
    count: cnt,
  };
  if (parts) {
    const tWavg = new Float64Array(G);
    const weight = new Float64Array(G);
    for (let k = 0; k < G; k++) {
      tWavg[k] = parts.wvSum[k] / parts.wSum[k];
      weight[k] = parts.wSum[k] / parts.rows[k];
    }
    out.tWavg = tWavg;
    out.weight = weight;
    out.parts = parts;
  }
  return out;
}

/** Accumulated spatial aggregates of temporal rows per group. */
export interface Spatial {
  groups: number;
  /** Per temporal column (t_sum, t_mean, t_wavg): sum, non-NaN count, min, max. */
  sum: Float64Array[];
  count: Float64Array[];
  min: Float64Array[];
  max: Float64Array[];
  /** Weighted: Σ(t_x·w) per temporal column and Σw. */
  wsum?: Float64Array[];
  weightSum?: Float64Array;
}

/** Aggregate the temporal rows `rows` into `groups` groups (`groupOf[k]` for `rows[k]`; -1 skips). */
export function spatialAggregation(
  t: Temporal,
  rows: Int32Array,
  groupOf: Int32Array,
  groups: number,
  withMinMax: boolean,
): Spatial {
  const cols = t.tWavg ? [t.tSum, t.tMean, t.tWavg] : [t.tSum, t.tMean];
  const make = (fill = 0) => cols.map(() => new Float64Array(groups).fill(fill));
  const sum = make();
  const count = make();
  const min = withMinMax ? make(Number.NaN) : [];
  const max = withMinMax ? make(Number.NaN) : [];
  const w = t.weight;
  const wsum = w ? make() : undefined;
  const weightSum = w ? new Float64Array(groups) : undefined;
  if (!withMinMax && !w) {
    // The common case (sums and counts of t_sum and t_mean): both columns in one pass over the rows.
    sumPair(cols[0], cols[1], rows, groupOf, sum, count);
    return { groups, sum, count, min, max, wsum, weightSum };
  }
  for (let c = 0; c < cols.length; c++) {
    const col = cols[c];
    const s = sum[c];
    const n = count[c];
    const lo = min[c];
    const hi = max[c];
    const ws = wsum?.[c];
    for (let k = 0; k < rows.length; k++) {
      const g = groupOf[k];
      if (g < 0) continue;
      const r = rows[k];
      const v = col[r];
      if (Number.isNaN(v)) continue;
      s[g] += v;
      n[g]++;
      if (withMinMax) {
        if (!(lo[g] <= v)) lo[g] = v;
        if (!(hi[g] >= v)) hi[g] = v;
      }
      if (ws && w) {
        const p = v * w[r];
        if (!Number.isNaN(p)) ws[g] += p;
      }
    }
  }
  if (w && weightSum) {
    for (let k = 0; k < rows.length; k++) {
      const g = groupOf[k];
      if (g >= 0) weightSum[g] += w[rows[k]];
    }
  }
  return { groups, sum, count, min, max, wsum, weightSum };
}

/** Sums and counts (of non-NaN values) of columns `a` and `b` over `rows` by group, in row order. */
function sumPair(
  a: Float64Array,
  b: Float64Array,
  rows: Int32Array,
  groupOf: Int32Array,
  sum: Float64Array[],
  count: Float64Array[],
): void {
  const [sa, sb] = sum;
  const [na, nb] = count;
  for (let k = 0; k < rows.length; k++) {
    const g = groupOf[k];
    if (g < 0) continue;
    const r = rows[k];
    addPair(sa, na, sb, nb, g, a[r], b[r]);
  }
}

/** A row's values `u` (t_sum) and `v` (t_mean) into group `g`'s sums and counts, each when it is not NaN. */
function addPair(
  sa: Float64Array,
  na: Float64Array,
  sb: Float64Array,
  nb: Float64Array,
  g: number,
  u: number,
  v: number,
): void {
  if (!Number.isNaN(u)) {
    sa[g] += u;
    na[g]++;
  }
  if (!Number.isNaN(v)) {
    sb[g] += v;
    nb[g]++;
  }
}

/** Below this many keys a temporal table's region x period grouping is summed in one pass (regionPeriodSums). */
export const FUSED_KEYS = 1 << 16;

/**
 * The rows grouped by key region x np + period (the region of each row's series from `ofSeries`; without it,
 * the period alone) in order of first appearance, with t_sum's and t_mean's sums and counts per group: what
 * `groupByKey` over those keys and `spatialAggregation` give (the same groups, keys and sums in row order),
 * in one pass and without the key and group arrays. For tables without weights and keys below `keyCount`
 * (at most FUSED_KEYS).
 */
export function regionPeriodSums(
  t: Temporal,
  rows: Int32Array,
  ofSeries: Int32Array | undefined,
  np: number,
  keyCount: number,
): { groups: number; groupKey: Float64Array; s: Spatial } {
  const groupOfKey = new Int32Array(keyCount).fill(-1);
  const keyOf = new Float64Array(keyCount);
  const sa = new Float64Array(keyCount);
  const sb = new Float64Array(keyCount);
  const na = new Float64Array(keyCount);
  const nb = new Float64Array(keyCount);
  const { series, period, tSum, tMean } = t;
  let groups = 0;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    const key = ofSeries ? ofSeries[series[r]] * np + period[r] : period[r];
    let g = groupOfKey[key];
    if (g < 0) {
      g = groups++;
      groupOfKey[key] = g;
      keyOf[g] = key;
    }
    addPair(sa, na, sb, nb, g, tSum[r], tMean[r]);
  }
  const cut = (a: Float64Array) => a.subarray(0, groups);
  return {
    groups,
    groupKey: cut(keyOf),
    s: { groups, sum: [cut(sa), cut(sb)], count: [cut(na), cut(nb)], min: [], max: [] },
  };
}

export type SpatialAgg = "min" | "max" | "sum" | "mean";

export interface AggColumn {
  name: string;
  integer: boolean;
  value(s: Spatial, g: number): number;
}

/**
 * The output columns of a spatial aggregation in the original's order: s_{agg}_t_sum..., s_{agg}_t_mean...,
 * s_count, then with weights s_{agg}_t_wavg... and s_wavg_t_sum, s_wavg_t_mean, s_wavg_t_wavg.
 */
export function aggColumns(aggs: readonly SpatialAgg[], weighted: boolean): AggColumn[] {
  const one = (c: number, agg: SpatialAgg, t: string): AggColumn => ({
    name: `s_${agg}_${t}`,
    integer: false,
    value: (s, g) => {
      if (agg === "sum") return s.sum[c][g];
      if (agg === "mean") return s.count[c][g] > 0 ? s.sum[c][g] / s.count[c][g] : Number.NaN;
      return agg === "min" ? s.min[c][g] : s.max[c][g];
    },
  });
  const out: AggColumn[] = [];
  for (const agg of aggs) out.push(one(0, agg, "t_sum"));
  for (const agg of aggs) out.push(one(1, agg, "t_mean"));
  out.push({ name: "s_count", integer: true, value: (s, g) => s.count[1][g] });
  if (weighted) {
    for (const agg of aggs) out.push(one(2, agg, "t_wavg"));
    ["t_sum", "t_mean", "t_wavg"].forEach((t, c) => {
      out.push({
        name: `s_wavg_${t}`,
        integer: false,
        value: (s, g) => (s.wsum as Float64Array[])[c][g] / (s.weightSum as Float64Array)[g],
      });
    });
  }
  return out;
}

/** Region id of each series at one level: the level's names from country down, "None" for absent columns. */
export interface RegionIds {
  level: RegionLevel;
  /** Region ids, sorted as strings. */
  ids: string[];
  /** Index into `ids` for each series. */
  ofSeries: Int32Array;
}

export function regionIds(frame: DojoFrame, series: Series, level: RegionLevel): RegionIds {
  return regionIdsByLevel(frame, series, [level]).get(level) as RegionIds;
}

/**
 * Region ids of every level asked for, from one pass per region column: each level's groups are the previous
 * level's groups split by the level's code (a direct table while group x code is small, else a hash), so
 * country..admin3 cost four passes over the series instead of 1 + 2 + 3 + 4 columns grouped again per level.
 * The split and the grouping are one loop over one array of group ids, updated in place (`splitGroups`).
 */
export function regionIdsByLevel(
  frame: DojoFrame,
  series: Series,
  levels: readonly RegionLevel[],
  splitTable = SPLIT_TABLE,
): Map<RegionLevel, RegionIds> {
  const out = new Map<RegionLevel, RegionIds>();
  const deepest = Math.max(-1, ...levels.map((l) => REGION_LEVELS.indexOf(l)));
  const n = series.count;
  let groupOf: Int32Array = new Int32Array(n);
  let groups = n > 0 ? 1 : 0;
  let firstRow: Int32Array = new Int32Array(groups);
  for (let depth = 0; depth <= deepest; depth++) {
    const col = frame.regions[REGION_LEVELS[depth]];
    if (col) {
      const width = col.values.length + 1;
      const split = splitGroups(groupOf, groups, width, col.codes, series.row, splitTable);
      if (split) {
        groups = split.groups;
        firstRow = split.firstRow;
      } else {
        const keys = new Float64Array(n);
        splitKeys(keys, groupOf, width, col.codes, series.row);
        const g = groupByKey(keys, groups * width - 1);
        groupOf = g.groupOf;
        groups = g.groups;
        firstRow = g.firstRow;
      }
    }
    const level = REGION_LEVELS[depth];
    if (!levels.includes(level)) continue;
    const cols = REGION_LEVELS.slice(0, depth + 1).map((l) => frame.regions[l]);
    const names: string[] = [];
    for (let k = 0; k < groups; k++) {
      const r = series.row[firstRow[k]];
      names.push(cols.map((c) => (c ? c.values[c.codes[r]] : "None")).join("__"));
    }
    const ids = [...new Set(names)].sort(compareText);
    const idIndex = new Map(ids.map((id, k) => [id, k]));
    const groupToId = Int32Array.from(names, (name) => idIndex.get(name) as number);
    out.set(level, { level, ids, ofSeries: mapped(groupOf, groupToId) });
  }
  return out;
}

/**
 * map[codes[k]] for every k, into a new array. A loop of its own: inside regionIdsByLevel, run once per level
 * over a million series, it made V8 compile (on-stack replacement) the whole function again at each level.
 */
function mapped(codes: Int32Array, map: Int32Array): Int32Array {
  const out = new Int32Array(codes.length);
  for (let k = 0; k < codes.length; k++) out[k] = map[codes[k]];
  return out;
}

/** Direct tables up to this many entries (groups at the previous level x codes); larger splits hash. */
const SPLIT_TABLE = 1 << 22;

/**
 * Splits the groups in `groupOf` (in place) by each series' code: the new group of a series is numbered in
 * order of first appearance of (its group, its code + 1), as `groupByKey` numbers the keys `splitKeys` makes.
 * Undefined (nothing changed) when the direct table would be larger than `limit` entries.
 */
function splitGroups(
  groupOf: Int32Array,
  groups: number,
  width: number,
  codes: Int32Array,
  row: Int32Array,
  limit: number,
): { groups: number; firstRow: Int32Array } | undefined {
  if (groups * width > limit) return undefined;
  const table = new Int32Array(groups * width).fill(-1);
  const first: number[] = [];
  for (let s = 0; s < groupOf.length; s++)
    groupOf[s] = tableGroup(table, groupOf[s] * width + codes[row[s]] + 1, first, s);
  return { groups: first.length, firstRow: Int32Array.from(first) };
}

/** keys[s] = the series' group at the previous level x `width` + its code (+1, so null = -1 counts too). */
function splitKeys(
  keys: Float64Array,
  groupOf: Int32Array,
  width: number,
  codes: Int32Array,
  row: Int32Array,
): void {
  for (let s = 0; s < keys.length; s++) keys[s] = groupOf[s] * width + codes[row[s]] + 1;
}

/** Python's string order (code points). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
