import type { Temporal } from "./aggregate.ts";
import { groupByKey, rowsByGroup } from "./group.ts";
import {
  BINS_PER_SIDE,
  deg2num,
  LEVEL_DIFF,
  MAX_SUBTILE_PRECISION,
  MIN_SUBTILE_PRECISION,
  TOTAL_BINS,
} from "./slippy.ts";
import { encodeTile } from "./tile-proto.ts";

/**
 * `subtile_aggregation`, `compute_stats` (grid) and `compute_tiling` in one pass per feature and resolution:
 * temporal rows are summed into precision-14 cells (s_sum_t_sum, s_sum_t_mean, s_count; weights ignored as in
 * the original), each coarser precision 13..6 sums the cells below it, grid stats take min/max per precision,
 * and every precision-p cell is one bin of the main tile (p - 6, x >> 6, y >> 6).
 */

export interface SeriesCells {
  /** Precision-14 column and row of each series; -1 where the coordinates are missing or invalid. */
  x: Int32Array;
  y: Int32Array;
  invalid: number;
}

export function seriesCells(lat: Float64Array, lng: Float64Array, seriesRow: Int32Array): SeriesCells {
  const n = seriesRow.length;
  const x = new Int32Array(n);
  const y = new Int32Array(n);
  const out = new Int32Array(2);
  let invalid = 0;
  for (let s = 0; s < n; s++) {
    const r = seriesRow[s];
    if (deg2num(lat[r], lng[r], MAX_SUBTILE_PRECISION, out)) {
      x[s] = out[0];
      y[s] = out[1];
    } else {
      x[s] = -1;
      y[s] = -1;
      invalid++;
    }
  }
  return { x, y, invalid };
}

export interface GridStatsRow {
  zoom: number;
  values: number[];
}

export const GRID_STATS_COLUMNS = [
  "zoom",
  "min_s_sum_t_sum",
  "max_s_sum_t_sum",
  "min_s_sum_t_mean",
  "max_s_sum_t_mean",
  "min_s_mean_t_sum",
  "max_s_mean_t_sum",
  "min_s_mean_t_mean",
  "max_s_mean_t_mean",
] as const;

export interface TileSink {
  tile(period: number, z: number, x: number, y: number, bytes: Uint8Array): void;
  gridStats(period: number, rows: GridStatsRow[]): void;
}

const CELL = 2 ** 14;

interface Cells {
  n: number;
  period: Int32Array;
  x: Int32Array;
  y: Int32Array;
  sumTSum: Float64Array;
  sumTMean: Float64Array;
  count: Float64Array;
}

/** Tiles and grid stats of one feature's temporal rows (`rows` index into `t`). Returns the counts written. */
export function computeTiles(
  t: Temporal,
  rows: Int32Array,
  cells: SeriesCells,
  sink: TileSink,
): { tiles: number; bins: number } {
  const np = t.periods.length;
  // Precision-14 cells: key = period * 2^28 + x * 2^14 + y.
  const keys = new Float64Array(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const s = t.series[rows[k]];
    const x = cells.x[s];
    keys[k] = x < 0 ? -1 : t.period[rows[k]] * CELL * CELL + x * CELL + cells.y[s];
  }
  const g14 = groupByKey(keys);
  let c: Cells = emptyCells(g14.groups);
  for (let k = 0; k < rows.length; k++) {
    const q = g14.groupOf[k];
    if (q < 0) continue;
    const r = rows[k];
    const s = t.series[r];
    c.period[q] = t.period[r];
    c.x[q] = cells.x[s];
    c.y[q] = cells.y[s];
    c.sumTSum[q] += t.tSum[r];
    const m = t.tMean[r];
    if (!Number.isNaN(m)) {
      c.sumTMean[q] += m;
      c.count[q]++;
    }
  }
  const stats: GridStatsRow[][] = Array.from({ length: np }, () => []);
  let tiles = 0;
  let bins = 0;
  const binOf = new Int32Array(TOTAL_BINS).fill(-1);
  const bBins = new Int32Array(TOTAL_BINS);
  const bSum = new Float64Array(TOTAL_BINS);
  const bMean = new Float64Array(TOTAL_BINS);
  const bWeight = new Float64Array(TOTAL_BINS);
  const lo = new Float64Array(np * 4);
  const hi = new Float64Array(np * 4);
  const seen = new Uint8Array(np);
  for (let p = MAX_SUBTILE_PRECISION; p >= MIN_SUBTILE_PRECISION; p--) {
    if (p < MAX_SUBTILE_PRECISION) c = parents(c);
    const n = c.n;
    // Grid stats at precision p, per period: min/max of s_sum_t_sum, s_sum_t_mean, s_mean_t_sum, s_mean_t_mean.
    lo.fill(Number.NaN);
    hi.fill(Number.NaN);
    seen.fill(0);
    const z = p - LEVEL_DIFF;
    // Tiles: key = period * 2^16 + tx * 2^8 + ty (tx, ty < 256 at zoom <= 8).
    const tileKeys = new Float64Array(n);
    for (let q = 0; q < n; q++) {
      const period = c.period[q];
      tileKeys[q] = period * 65536 + (c.x[q] >> LEVEL_DIFF) * 256 + (c.y[q] >> LEVEL_DIFF);
      seen[period] = 1;
      const o = period * 4;
      extend(lo, hi, o, c.sumTSum[q]);
      extend(lo, hi, o + 1, c.sumTMean[q]);
      extend(lo, hi, o + 2, c.sumTSum[q] / c.count[q]);
      extend(lo, hi, o + 3, c.sumTMean[q] / c.count[q]);
    }
    for (let period = 0; period < np; period++) {
      if (!seen[period]) continue;
      const o = period * 4;
      stats[period].push({
        zoom: p,
        values: [lo[o], hi[o], lo[o + 1], hi[o + 1], lo[o + 2], hi[o + 2], lo[o + 3], hi[o + 3]],
      });
    }
    const gt = groupByKey(tileKeys);
    const byTile = rowsByGroup(gt.groupOf, gt.groups);
    for (let ti = 0; ti < gt.groups; ti++) {
      const from = byTile.start[ti];
      const to = byTile.start[ti + 1];
      const q0 = byTile.rows[from];
      const period = c.period[q0];
      const tx = c.x[q0] >> LEVEL_DIFF;
      const ty = c.y[q0] >> LEVEL_DIFF;
      let used = 0;
      for (let j = from; j < to; j++) {
        const q = byTile.rows[j];
        const bin = c.x[q] - BINS_PER_SIDE * tx + (c.y[q] - BINS_PER_SIDE * ty) * BINS_PER_SIDE;
        binOf[bin] = q;
        bBins[used++] = bin;
      }
      const sorted = bBins.subarray(0, used).sort();
      for (let j = 0; j < used; j++) {
        const q = binOf[sorted[j]];
        bSum[j] = c.sumTSum[q];
        bMean[j] = c.sumTMean[q];
        bWeight[j] = c.count[q];
        binOf[sorted[j]] = -1;
      }
      sink.tile(
        period,
        z,
        tx,
        ty,
        encodeTile({ x: tx, y: ty, z }, TOTAL_BINS, sorted, bSum, bMean, bWeight, used),
      );
      tiles++;
      bins += used;
    }
  }
  for (let period = 0; period < np; period++) {
    if (stats[period].length > 0)
      sink.gridStats(
        period,
        stats[period].sort((a, b) => a.zoom - b.zoom),
      );
  }
  return { tiles, bins };
}

function extend(lo: Float64Array, hi: Float64Array, o: number, v: number): void {
  if (Number.isNaN(v)) return;
  if (!(lo[o] <= v)) lo[o] = v;
  if (!(hi[o] >= v)) hi[o] = v;
}

function emptyCells(n: number): Cells {
  return {
    n,
    period: new Int32Array(n),
    x: new Int32Array(n),
    y: new Int32Array(n),
    sumTSum: new Float64Array(n),
    sumTMean: new Float64Array(n),
    count: new Float64Array(n),
  };
}

/** Sum cells into their parents one precision up. */
function parents(c: Cells): Cells {
  const keys = new Float64Array(c.n);
  const half = CELL / 2;
  for (let q = 0; q < c.n; q++) keys[q] = c.period[q] * half * half + (c.x[q] >> 1) * half + (c.y[q] >> 1);
  const g = groupByKey(keys);
  const out = emptyCells(g.groups);
  for (let q = 0; q < c.n; q++) {
    const k = g.groupOf[q];
    out.period[k] = c.period[q];
    out.x[k] = c.x[q] >> 1;
    out.y[k] = c.y[q] >> 1;
    out.sumTSum[k] += c.sumTSum[q];
    out.sumTMean[k] += c.sumTMean[q];
    out.count[k] += c.count[q];
  }
  return out;
}
