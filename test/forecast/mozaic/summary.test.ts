import { describe, expect, it } from "vitest";
import {
  minimizeBounded,
  reconcileSummaries,
  rollingMean,
} from "../../../containers/forecast/mozaic/reconcile.ts";
import {
  clipPaths,
  quantileOf,
  quantilesAt,
  ranksFor,
  selectRange,
  summarisePaths,
} from "../../../containers/forecast/mozaic/summary.ts";
import { createRandom } from "../../../containers/forecast/random.ts";

/** numpy's linear-interpolation quantile by a full sort (the reference). */
function sortedQuantile(xs: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(xs).sort();
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  return lo + 1 < s.length ? s[lo] + (pos - lo) * (s[lo + 1] - s[lo]) : s[lo];
}

function paths(nDates: number, nSamples: number, seed: number, level = 100, ties = false): Float64Array {
  const r = createRandom(seed);
  const v = new Float64Array(nDates * nSamples);
  for (let d = 0; d < nDates; d++)
    for (let s = 0; s < nSamples; s++) {
      const x = level + d + 10 * r.normal() + 3 * r.normal() ** 2;
      v[d * nSamples + s] = ties ? Math.round(x / 5) * 5 : x;
    }
  return v;
}

const row = (v: Float64Array, n: number, d: number) => v.subarray(d * n, (d + 1) * n);

describe("path summaries", () => {
  it("keep exactly the order statistics a full sort gives, for every quantile in the band", () => {
    for (const [n, ties] of [
      [1000, false],
      [1000, true],
      [7, false],
      [2, true],
      [1, false],
    ] as const) {
      const D = 5;
      const v = paths(D, n, n, 100, ties);
      const s = summarisePaths(Float64Array.from(v), D, n, 0.4, 0.6);
      for (let d = 0; d < D; d++)
        for (const q of [0.4, 0.41372, 0.5, 0.55, 0.6])
          expect(quantileOf(s, d, q)).toBeCloseTo(sortedQuantile(row(v, n, d), q), 10);
    }
  });

  it("keep the mean and the sample variance, and refuse quantiles outside the band", () => {
    const n = 400;
    const v = paths(3, n, 9);
    const s = summarisePaths(Float64Array.from(v), 3, n, 0.4, 0.6);
    const r = row(v, n, 2);
    const mean = r.reduce((a, b) => a + b, 0) / n;
    const variance = r.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    expect(s.mean[2]).toBeCloseTo(mean, 9);
    expect(s.variance[2]).toBeCloseTo(variance, 6);
    expect(() => quantileOf(s, 0, 0.1)).toThrow(RangeError);
    expect(() => quantileOf(s, 0, 0.9)).toThrow(RangeError);
    expect(s.width).toBeLessThan(n / 4);
    expect(ranksFor(1000, 0.4, 0.6)).toEqual([399, 600]);
    expect(() => summarisePaths(v, 4, n, 0.4, 0.6)).toThrow(/not 4 dates/);
    expect(Array.from(quantilesAt(s, 0.5, [1, 2, 3]))).toEqual(
      [0, 1, 2].map((d) => quantileOf(s, d, 0.5) + d + 1),
    );
  });

  it("map log paths back with exp - 1 and clip negatives and NaN to 0", () => {
    const v = clipPaths(Float64Array.from([Math.log(11), -5, Number.NaN, 0]), "log1p");
    expect(v[0]).toBeCloseTo(10, 9);
    expect(Array.from(v.subarray(1))).toEqual([0, 0, 0]);
    expect(Array.from(clipPaths(Float64Array.from([-1, 2, Number.NaN]), "none"))).toEqual([0, 2, 0]);
  });

  it("select the k-th value within a range", () => {
    const a = Float64Array.from([9, 1, 8, 2, 7, 3, 6, 4, 5, 0]);
    expect(selectRange(a, 3, 0, 9)).toBe(3);
    for (let i = 0; i < 3; i++) expect(a[i]).toBeLessThanOrEqual(3);
    for (let i = 4; i < 10; i++) expect(a[i]).toBeGreaterThanOrEqual(3);
    expect(selectRange(a, 7, 4, 9)).toBe(7);
  });
});

describe("top-down reconciliation on summaries", () => {
  it("matches a direct computation on the full sample matrices", () => {
    const D = 70;
    const S = 300;
    const kids = [paths(D, S, 1, 100), paths(D, S, 2, 40), paths(D, S, 3, 15)];
    const parent = paths(D, S, 4, 170);
    const summaries = kids.map((k) => summarisePaths(Float64Array.from(k), D, S, 0.4, 0.6));
    const rec = reconcileSummaries(summarisePaths(Float64Array.from(parent), D, S, 0.4, 0.6), summaries);
    // Reference: Mozaic's steps with full sorts and explicit moved matrices.
    const sorted = new Map<Float64Array, Float64Array[]>();
    const q = (m: Float64Array, p: number) => {
      let rows = sorted.get(m);
      if (!rows) {
        rows = Array.from({ length: D }, (_, d) => Float64Array.from(row(m, S, d)).sort());
        sorted.set(m, rows);
      }
      return Float64Array.from(rows, (r) => sortedQuantile(r, p));
    };
    const parentMedian = q(parent, 0.5);
    const parentMA = rollingMean(parentMedian);
    const loss = (p: number) => {
      const sum = new Float64Array(D);
      for (const k of kids)
        q(k, p).forEach((v, d) => {
          sum[d] += v;
        });
      const ma = rollingMean(sum);
      let s = 0;
      let n = 0;
      for (let d = 27; d < D; d++) {
        s += Math.abs(ma[d] - parentMA[d]);
        n++;
      }
      return s / n;
    };
    const qRef = minimizeBounded(loss, 0.4, 0.6);
    expect(rec.q).toBeCloseTo(qRef, 9);
    const moved = kids.map((k) => {
      const m = Float64Array.from(k);
      const shift = q(k, qRef).map((v, d) => v - sortedQuantile(row(k, S, d), 0.5));
      for (let d = 0; d < D; d++) for (let s = 0; s < S; s++) m[d * S + s] += shift[d];
      return m;
    });
    for (let d = 0; d < D; d++) {
      const w = moved.map((m) => {
        const r = row(m, S, d);
        const mean = r.reduce((a, b) => a + b, 0) / S;
        const vr = r.reduce((a, b) => a + (b - mean) ** 2, 0) / (S - 1);
        return vr / mean + mean;
      });
      const wSum = w.reduce((a, b) => a + b, 0);
      const gap =
        Math.max(0, parentMedian[d]) - moved.reduce((a, m) => a + sortedQuantile(row(m, S, d), 0.5), 0);
      moved.forEach((m, i) => {
        const expected = sortedQuantile(row(m, S, d), 0.5) + (gap * w[i]) / wSum;
        expect(quantileOf(summaries[i], d, 0.5) + rec.offsets[i][d]).toBeCloseTo(expected, 6);
      });
    }
  });
});
