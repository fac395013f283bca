import type { Temporal } from "./aggregate.ts";
import {
  BINS_PER_SIDE,
  deg2num,
  LEVEL_DIFF,
  MAX_SUBTILE_PRECISION,
  MIN_SUBTILE_PRECISION,
  TOTAL_BINS,
} from "./slippy.ts";
import { encodeTile } from "./tile-encode.ts";

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
    // A model's features repeat its points, series after series: the same point takes the same cell.
    if (s > 0 && x[s - 1] >= 0 && lat[r] === lat[seriesRow[s - 1]] && lng[r] === lng[seriesRow[s - 1]]) {
      x[s] = x[s - 1];
      y[s] = y[s - 1];
    } else if (deg2num(lat[r], lng[r], MAX_SUBTILE_PRECISION, out)) {
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

/** SPREAD[v] = the bits of v (< 2^14) moved to the even bit positions: Morton codes by table. */
const SPREAD = new Int32Array(1 << MAX_SUBTILE_PRECISION);
for (let v = 0; v < SPREAD.length; v++) {
  let m = 0;
  for (let b = 0; b < MAX_SUBTILE_PRECISION; b++) if (v & (1 << b)) m |= 1 << (2 * b);
  SPREAD[v] = m;
}
/** The bin index (bx + by * 64) of a cell from the low 12 bits of its Morton code (its place in its tile). */
const BIN_OF_MORTON = new Int32Array(TOTAL_BINS);
for (let m = 0; m < TOTAL_BINS; m++) {
  BIN_OF_MORTON[m] = unspread(m) + unspread(m >>> 1) * BINS_PER_SIDE;
}
function unspread(m: number): number {
  let v = 0;
  for (let b = 0; b < 16; b++) if (m & (1 << (2 * b))) v |= 1 << b;
  return v;
}

/** Morton (Z-order) code of a precision-14 cell: a parent's code is its child's shifted right by 2. */
export function morton(x: number, y: number): number {
  return SPREAD[x] | (SPREAD[y] << 1);
}

/**
 * Tiles and grid stats of one feature's temporal rows (`rows` index into `t`). Returns the counts written.
 *
 * The rows are radix-sorted by (period, Morton code of their precision-14 cell), stable, so each cell's rows
 * keep their order. Every coarser precision is then a run of consecutive cells (the Morton code shifted right
 * by 2 per level), merged in place; so is every main tile (the code shifted right by 12 more). Sums of a
 * cell add its rows in row order, and a coarser cell adds its four children in Z order.
 */
export function computeTiles(
  t: Temporal,
  rows: Int32Array,
  cells: SeriesCells,
  sink: TileSink,
): { tiles: number; bins: number } {
  const np = t.periods.length;
  const c = cellTable(t, rows, cells);
  const stats: GridStatsRow[][] = Array.from({ length: np }, () => []);
  const out = { tiles: 0, bins: 0 };
  const scratch = {
    slot: new Int32Array(TOTAL_BINS),
    used: new Int32Array(TOTAL_BINS),
    bSum: new Float64Array(TOTAL_BINS),
    bMean: new Float64Array(TOTAL_BINS),
    bWeight: new Float64Array(TOTAL_BINS),
  };
  const lo = new Float64Array(np * 4);
  const hi = new Float64Array(np * 4);
  const seen = new Uint8Array(np);
  for (let p = MAX_SUBTILE_PRECISION; p >= MIN_SUBTILE_PRECISION; p--) {
    if (p < MAX_SUBTILE_PRECISION) mergeParents(c);
    gridStats(c, lo, hi, seen);
    for (let period = 0; period < np; period++) {
      if (!seen[period]) continue;
      const o = period * 4;
      stats[period].push({
        zoom: p,
        values: [lo[o], hi[o], lo[o + 1], hi[o + 1], lo[o + 2], hi[o + 2], lo[o + 3], hi[o + 3]],
      });
    }
    emitTiles(c, p - LEVEL_DIFF, scratch, sink, out);
  }
  for (let period = 0; period < np; period++) {
    if (stats[period].length > 0)
      sink.gridStats(
        period,
        stats[period].sort((a, b) => a.zoom - b.zoom),
      );
  }
  return out;
}

/**
 * Cells of one precision, sorted by (period, Morton code): period, code, s_sum_t_sum, s_sum_t_mean, count.
 * (Each step is its own function: V8 then compiles small loops, not the whole tiling with everything inlined.)
 */
interface CellTable {
  n: number;
  cP: Int32Array;
  cM: Int32Array;
  cA: Float64Array;
  cB: Float64Array;
  cN: Float64Array;
}

/**
 * The sort's and the cell table's arrays, kept by the thread from one feature to the next (a feature's table is
 * done with before the next one is made): on B two features of 500k rows would take ~22 MB of fresh memory each.
 */
let scratch: { size: number; ints: Int32Array[]; doubles: Float64Array[] } | undefined;

function scratchFor(valid: number): { ints: Int32Array[]; doubles: Float64Array[] } {
  if (!scratch || scratch.size < valid) {
    const size = Math.max(valid, 1024);
    scratch = {
      size,
      ints: Array.from({ length: 5 }, () => new Int32Array(size)),
      doubles: Array.from({ length: 3 }, () => new Float64Array(size)),
    };
  }
  return {
    ints: scratch.ints.map((a) => a.subarray(0, valid)),
    doubles: scratch.doubles.map((a) => a.subarray(0, valid)),
  };
}

/** The precision-14 cells of the rows: runs of equal (period, code) after a stable sort, summed in row order. */
function cellTable(t: Temporal, rows: Int32Array, cells: SeriesCells): CellTable {
  const np = t.periods.length;
  const m = rows.length;
  let valid = 0;
  for (let k = 0; k < m; k++) if (cells.x[t.series[rows[k]]] >= 0) valid++;
  // Stable LSD radix sort of (row, code) by code low 14 bits, code high 14 bits, then period.
  const { ints, doubles } = scratchFor(valid);
  let order = ints[0];
  let code = ints[1];
  let j = 0;
  for (let k = 0; k < m; k++) {
    const r = rows[k];
    const s = t.series[r];
    const x = cells.x[s];
    if (x < 0) continue;
    order[j] = r;
    code[j++] = morton(x, cells.y[s]);
  }
  let order2 = ints[2];
  let code2 = ints[3];
  const counts = new Int32Array(1 << 14);
  for (const shift of [0, 14]) {
    radixPass(code, order, code2, order2, counts, shift);
    [order, order2] = [order2, order];
    [code, code2] = [code2, code];
  }
  if (np > 1) {
    periodPass(t.period, code, order, code2, order2, np);
    [order, order2] = [order2, order];
    [code, code2] = [code2, code];
  }
  const c: CellTable = {
    n: 0,
    cP: ints[4],
    cM: code2,
    cA: doubles[0],
    cB: doubles[1],
    cN: doubles[2],
  };
  sumCells(t, order, code, c);
  return c;
}

function radixPass(
  code: Int32Array,
  order: Int32Array,
  code2: Int32Array,
  order2: Int32Array,
  counts: Int32Array,
  shift: number,
): void {
  const valid = code.length;
  counts.fill(0);
  for (let k = 0; k < valid; k++) counts[(code[k] >>> shift) & 0x3fff]++;
  let sum = 0;
  for (let b = 0; b < counts.length; b++) {
    const c = counts[b];
    counts[b] = sum;
    sum += c;
  }
  for (let k = 0; k < valid; k++) {
    const d = counts[(code[k] >>> shift) & 0x3fff]++;
    order2[d] = order[k];
    code2[d] = code[k];
  }
}

function periodPass(
  period: Int32Array,
  code: Int32Array,
  order: Int32Array,
  code2: Int32Array,
  order2: Int32Array,
  np: number,
): void {
  const valid = code.length;
  const pc = new Int32Array(np + 1);
  for (let k = 0; k < valid; k++) pc[period[order[k]] + 1]++;
  for (let p = 0; p < np; p++) pc[p + 1] += pc[p];
  for (let k = 0; k < valid; k++) {
    const d = pc[period[order[k]]]++;
    order2[d] = order[k];
    code2[d] = code[k];
  }
}

/**
 * Sums the sorted rows into cells. The rows' period, t_sum and t_mean are first gathered in sort order into the
 * cell arrays themselves, in a loop of their own: sorted by cell, the rows are a random walk through the
 * temporal table (cache misses), which that tight loop has many of in flight at once. The summing then reads
 * row k's values at k and writes cell n - 1 <= k, after reading row k's.
 */
function sumCells(t: Temporal, order: Int32Array, code: Int32Array, c: CellTable): void {
  const { cP, cM, cA, cB, cN } = c;
  gather(t, order, cP, cA, cB);
  let n = 0;
  for (let k = 0; k < order.length; k++) {
    const p = cP[k];
    const m = code[k];
    const sum = cA[k];
    const mean = cB[k];
    if (n === 0 || cP[n - 1] !== p || cM[n - 1] !== m) {
      cP[n] = p;
      cM[n] = m;
      cA[n] = 0;
      cB[n] = 0;
      cN[n] = 0;
      n++;
    }
    const q = n - 1;
    cA[q] += sum;
    if (!Number.isNaN(mean)) {
      cB[q] += mean;
      cN[q]++;
    }
  }
  c.n = n;
}

/** Period, t_sum and t_mean of rows `order[k]` into `p[k]`, `a[k]`, `b[k]`. */
function gather(t: Temporal, order: Int32Array, p: Int32Array, a: Float64Array, b: Float64Array): void {
  const { period, tSum, tMean } = t;
  for (let k = 0; k < order.length; k++) {
    const r = order[k];
    p[k] = period[r];
    a[k] = tSum[r];
    b[k] = tMean[r];
  }
}

/** Parents: merge runs of equal (period, code >> 2), in place. */
function mergeParents(c: CellTable): void {
  const { cP, cM, cA, cB, cN } = c;
  const n = c.n;
  let w = 0;
  for (let q = 0; q < n; q++) {
    const m = cM[q] >>> 2;
    if (w > 0 && cP[w - 1] === cP[q] && cM[w - 1] === m) {
      cA[w - 1] += cA[q];
      cB[w - 1] += cB[q];
      cN[w - 1] += cN[q];
    } else {
      cP[w] = cP[q];
      cM[w] = m;
      cA[w] = cA[q];
      cB[w] = cB[q];
      cN[w] = cN[q];
      w++;
    }
  }
  c.n = w;
}

/** Grid stats of the cells, per period: min/max of s_sum_t_sum, s_sum_t_mean, s_mean_t_sum, s_mean_t_mean. */
function gridStats(c: CellTable, lo: Float64Array, hi: Float64Array, seen: Uint8Array): void {
  const { cP, cA, cB, cN } = c;
  lo.fill(Number.NaN);
  hi.fill(Number.NaN);
  seen.fill(0);
  for (let q = 0; q < c.n; q++) {
    const o = cP[q] * 4;
    seen[cP[q]] = 1;
    extend(lo, hi, o, cA[q]);
    extend(lo, hi, o + 1, cB[q]);
    extend(lo, hi, o + 2, cA[q] / cN[q]);
    extend(lo, hi, o + 3, cB[q] / cN[q]);
  }
}

/** Tiles with more bins than this list them by scanning the 4,096 bin slots instead of sorting. */
const DENSE_TILE = 512;

interface TileScratch {
  slot: Int32Array;
  used: Int32Array;
  bSum: Float64Array;
  bMean: Float64Array;
  bWeight: Float64Array;
}

/** Main tiles at zoom `z`: runs of equal (period, code >> 12); bins in ascending index order. */
function emitTiles(
  c: CellTable,
  z: number,
  scratch: TileScratch,
  sink: TileSink,
  out: { tiles: number; bins: number },
): void {
  const { cP, cM, cA, cB, cN, n } = c;
  const { slot, used, bSum, bMean, bWeight } = scratch;
  let q0 = 0;
  while (q0 < n) {
    const period = cP[q0];
    const tileCode = cM[q0] >>> (2 * LEVEL_DIFF);
    let q1 = q0;
    let count = 0;
    while (q1 < n && cP[q1] === period && cM[q1] >>> (2 * LEVEL_DIFF) === tileCode) {
      const bin = BIN_OF_MORTON[cM[q1] & (TOTAL_BINS - 1)];
      slot[bin] = q1 + 1;
      used[count++] = bin;
      q1++;
    }
    // Bins in ascending order: a sort for sparse tiles, a scan of the slot table (then cleared) for dense ones.
    const sorted = used.subarray(0, count);
    if (count <= DENSE_TILE) sorted.sort();
    else {
      let j = 0;
      for (let bin = 0; bin < TOTAL_BINS; bin++) if (slot[bin] > 0) sorted[j++] = bin;
    }
    for (let k = 0; k < count; k++) {
      const q = slot[sorted[k]] - 1;
      slot[sorted[k]] = 0;
      bSum[k] = cA[q];
      bMean[k] = cB[q];
      bWeight[k] = cN[q];
    }
    const tx = unspread(tileCode);
    const ty = unspread(tileCode >>> 1);
    sink.tile(
      period,
      z,
      tx,
      ty,
      encodeTile({ x: tx, y: ty, z }, TOTAL_BINS, sorted, bSum, bMean, bWeight, count),
    );
    out.tiles++;
    out.bins += count;
    q0 = q1;
  }
}

function extend(lo: Float64Array, hi: Float64Array, o: number, v: number): void {
  if (Number.isNaN(v)) return;
  if (!(lo[o] <= v)) lo[o] = v;
  if (!(hi[o] >= v)) hi[o] = v;
}
