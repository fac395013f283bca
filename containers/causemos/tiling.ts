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
  let n = g14.groups;
  let cellKey = new Float64Array(n);
  let sumTSum = new Float64Array(n);
  let sumTMean = new Float64Array(n);
  let count = new Float64Array(n);
  for (let k = 0; k < rows.length; k++) {
    const c = g14.groupOf[k];
    if (c < 0) continue;
    const r = rows[k];
    cellKey[c] = keys[k];
    sumTSum[c] += t.tSum[r];
    const m = t.tMean[r];
    if (!Number.isNaN(m)) {
      sumTMean[c] += m;
      count[c]++;
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
  for (let p = MAX_SUBTILE_PRECISION; p >= MIN_SUBTILE_PRECISION; p--) {
    if (p < MAX_SUBTILE_PRECISION) {
      // Sum the cells of precision p + 1 into their parents.
      const pk = new Float64Array(n);
      for (let c = 0; c < n; c++) {
        const key = cellKey[c];
        const period = Math.floor(key / (CELL * CELL));
        const rest = key - period * CELL * CELL;
        const x = Math.floor(rest / CELL);
        const y = rest - x * CELL;
        pk[c] = period * CELL * CELL + (x >> 1) * CELL + (y >> 1);
      }
      const g = groupByKey(pk);
      const m = g.groups;
      const nk = new Float64Array(m);
      const ns = new Float64Array(m);
      const nm = new Float64Array(m);
      const nc = new Float64Array(m);
      for (let c = 0; c < n; c++) {
        const q = g.groupOf[c];
        nk[q] = pk[c];
        ns[q] += sumTSum[c];
        nm[q] += sumTMean[c];
        nc[q] += count[c];
      }
      n = m;
      cellKey = nk;
      sumTSum = ns;
      sumTMean = nm;
      count = nc;
    }
    // Grid stats at precision p, per period.
    const lo = Array.from({ length: np }, () => new Float64Array(4).fill(Number.NaN));
    const hi = Array.from({ length: np }, () => new Float64Array(4).fill(Number.NaN));
    const seen = new Uint8Array(np);
    // Tiles: key = period * 2^16 + tx * 2^8 + ty (tx, ty < 256 at zoom <= 8).
    const z = p - LEVEL_DIFF;
    const tileKeys = new Float64Array(n);
    for (let c = 0; c < n; c++) {
      const key = cellKey[c];
      const period = Math.floor(key / (CELL * CELL));
      const rest = key - period * CELL * CELL;
      const x = Math.floor(rest / CELL);
      const y = rest - x * CELL;
      tileKeys[c] = period * 65536 + (x >> LEVEL_DIFF) * 256 + (y >> LEVEL_DIFF);
      seen[period] = 1;
      const v0 = sumTSum[c];
      const v1 = sumTMean[c];
      const v2 = v0 / count[c];
      const v3 = v1 / count[c];
      const l = lo[period];
      const h = hi[period];
      const vs = [v0, v1, v2, v3];
      for (let j = 0; j < 4; j++) {
        const v = vs[j];
        if (Number.isNaN(v)) continue;
        if (!(l[j] <= v)) l[j] = v;
        if (!(h[j] >= v)) h[j] = v;
      }
    }
    for (let period = 0; period < np; period++) {
      if (!seen[period]) continue;
      const l = lo[period];
      const h = hi[period];
      stats[period].push({ zoom: p, values: [l[0], h[0], l[1], h[1], l[2], h[2], l[3], h[3]] });
    }
    const gt = groupByKey(tileKeys);
    const byTile = rowsByGroup(gt.groupOf, gt.groups);
    for (let tIdx = 0; tIdx < gt.groups; tIdx++) {
      const from = byTile.start[tIdx];
      const to = byTile.start[tIdx + 1];
      const key = tileKeys[byTile.rows[from]];
      const period = Math.floor(key / 65536);
      const tx = Math.floor((key - period * 65536) / 256);
      const ty = key - period * 65536 - tx * 256;
      let used = 0;
      for (let j = from; j < to; j++) {
        const c = byTile.rows[j];
        const ck = cellKey[c];
        const rest = ck - period * CELL * CELL;
        const x = Math.floor(rest / CELL);
        const y = rest - x * CELL;
        const bin = x - BINS_PER_SIDE * tx + (y - BINS_PER_SIDE * ty) * BINS_PER_SIDE;
        binOf[bin] = c;
        bBins[used++] = bin;
      }
      const sorted = bBins.subarray(0, used).sort();
      for (let j = 0; j < used; j++) {
        const c = binOf[sorted[j]];
        bSum[j] = sumTSum[c];
        bMean[j] = sumTMean[c];
        bWeight[j] = count[c];
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
