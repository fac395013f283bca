import { quantileInPlace } from "../prophet.ts";
import { type PathSummary, quantileOf, quantilesAt, summarisePaths } from "./summary.ts";

/**
 * Mozaic's reconciliation (mozaic/core.py) on sample-path matrices. A matrix is date-major:
 * m[d * nSamples + s] is sample path s on forecast date d.
 */
export interface SampleMatrix {
  nDates: number;
  nSamples: number;
  values: Float64Array;
}

export function quantilePerDate(m: SampleMatrix, q: number): Float64Array {
  const out = new Float64Array(m.nDates);
  const buf = new Float64Array(m.nSamples);
  for (let d = 0; d < m.nDates; d++) {
    buf.set(m.values.subarray(d * m.nSamples, (d + 1) * m.nSamples));
    out[d] = quantileInPlace(buf, q);
  }
  return out;
}

/** Trailing 28-day (or `window`) means; the first window-1 dates are NaN, as pandas' rolling(28).mean(). */
export function rollingMean(x: ArrayLike<number>, window = 28): Float64Array {
  const out = new Float64Array(x.length).fill(Number.NaN);
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i];
    if (i >= window) s -= x[i - window];
    if (i >= window - 1) out[i] = s / window;
  }
  return out;
}

/** Path-wise sum of children: the bottom-up aggregate. */
export function sumMatrices(children: SampleMatrix[]): SampleMatrix {
  const first = children[0];
  const values = new Float64Array(first.values.length);
  for (const c of children) {
    if (c.nDates !== first.nDates || c.nSamples !== first.nSamples)
      throw new Error("sample matrices differ in shape");
    for (let i = 0; i < values.length; i++) values[i] += c.values[i];
  }
  return { nDates: first.nDates, nSamples: first.nSamples, values };
}

/** Bounded scalar minimisation by golden-section search (stands in for scipy's bounded minimize_scalar). */
export function minimizeBounded(f: (x: number) => number, lo: number, hi: number, xatol = 1e-6): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > xatol) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

export interface TopDownResult {
  /** The quantile chosen in step (a). */
  q: number;
  /** Reconciled child matrices (new arrays; the inputs are not modified). */
  children: SampleMatrix[];
}

export interface SummaryTopDown {
  /** The quantile chosen in step (a). */
  q: number;
  /** Per child, the constant added to all its paths on each date (step (a)'s shift plus step (b)'s share). */
  offsets: Float64Array[];
}

/** The quantile band step (a) searches. */
export const TOP_DOWN_BAND: readonly [number, number] = [0.4, 0.6];

/**
 * Top-down reconciliation of children against a parent, on path summaries (summary.ts):
 * (a) pick q in [0.40, 0.60] minimising the MAE between the 28-day rolling mean of the parent's median and that
 *     of the sum of the children's q-quantiles, then move every child so that its median becomes its q-quantile;
 * (b) give the remaining gap (parent median, clipped at 0, minus the sum of child medians) to the children in
 *     proportion to var/mean + mean of their (moved) samples per date (weight 0 where the mean is 0).
 * Both steps move a child's paths by one constant per date, returned as `offsets`: the reconciled child's
 * quantile p is its summary's quantile p plus the offset, and its variance is unchanged. Afterwards the
 * children's medians add up to the parent's (clipped) median on every date.
 * `parentImpact`, when given, is added to the parent's median before the gap is taken (holiday impacts).
 */
export function reconcileSummaries(
  parent: PathSummary,
  children: PathSummary[],
  parentImpact?: ArrayLike<number>,
): SummaryTopDown {
  const D = parent.nDates;
  for (const c of children)
    if (c.nDates !== D) throw new RangeError(`a child has ${c.nDates} dates, the parent ${D}`);
  const parentMedian = quantilesAt(parent, 0.5);
  const parentMA = rollingMean(parentMedian);
  const sum = new Float64Array(D);
  const loss = (q: number) => {
    sum.fill(0);
    for (const c of children) for (let d = 0; d < D; d++) sum[d] += quantileOf(c, d, q);
    const ma = rollingMean(sum);
    let s = 0;
    let n = 0;
    for (let d = 0; d < D; d++) {
      if (Number.isNaN(ma[d]) || Number.isNaN(parentMA[d])) continue;
      s += Math.abs(ma[d] - parentMA[d]);
      n++;
    }
    if (n === 0) for (let d = 0; d < D; d++) s += Math.abs(sum[d] - parentMedian[d]);
    return n === 0 ? s / Math.max(1, D) : s / n;
  };
  const q = minimizeBounded(loss, TOP_DOWN_BAND[0], TOP_DOWN_BAND[1]);
  const qv = children.map((c) => quantilesAt(c, q));
  const offsets = children.map((c, i) => {
    const off = new Float64Array(D);
    for (let d = 0; d < D; d++) off[d] = qv[i][d] - quantileOf(c, d, 0.5);
    return off;
  });
  const w = new Float64Array(children.length);
  for (let d = 0; d < D; d++) {
    const target = Math.max(0, parentMedian[d] + (parentImpact ? parentImpact[d] : 0));
    let sumMed = 0;
    let wSum = 0;
    for (let i = 0; i < children.length; i++) {
      const mean = children[i].mean[d] + offsets[i][d];
      sumMed += qv[i][d];
      w[i] = mean === 0 ? 0 : children[i].variance[d] / mean + mean;
      wSum += w[i];
    }
    const gap = target - sumMed;
    if (wSum === 0 || !Number.isFinite(wSum)) continue;
    for (let i = 0; i < children.length; i++) offsets[i][d] += (gap * w[i]) / wSum;
  }
  return { q, offsets };
}

/** {@link reconcileSummaries} on whole sample matrices: returns the moved copies of the children. */
export function reconcileTopDown(
  parent: SampleMatrix,
  children: SampleMatrix[],
  parentImpact?: ArrayLike<number>,
): TopDownResult {
  const summary = (m: SampleMatrix) =>
    summarisePaths(Float64Array.from(m.values), m.nDates, m.nSamples, TOP_DOWN_BAND[0], TOP_DOWN_BAND[1]);
  const rec = reconcileSummaries(summary(parent), children.map(summary), parentImpact);
  const moved = children.map((c, i) => {
    const values = Float64Array.from(c.values);
    for (let d = 0; d < c.nDates; d++) {
      const off = rec.offsets[i][d];
      for (let s = d * c.nSamples; s < (d + 1) * c.nSamples; s++) values[s] += off;
    }
    return { nDates: c.nDates, nSamples: c.nSamples, values };
  });
  return { q: rec.q, children: moved };
}
