import { describe, expect, it } from "vitest";
import {
  minimizeBounded,
  quantilePerDate,
  reconcileTopDown,
  rollingMean,
  type SampleMatrix,
  sumMatrices,
} from "../../../containers/forecast/mozaic/reconcile.ts";
import { createRandom } from "../../../containers/forecast/random.ts";

function matrix(
  nDates: number,
  nSamples: number,
  mean: (d: number) => number,
  sd: number,
  seed: number,
  skew = 0,
): SampleMatrix {
  const r = createRandom(seed);
  const values = new Float64Array(nDates * nSamples);
  for (let d = 0; d < nDates; d++) {
    for (let s = 0; s < nSamples; s++) {
      const z = r.normal();
      values[d * nSamples + s] = Math.max(0, mean(d) + sd * z + skew * z * z);
    }
  }
  return { nDates, nSamples, values };
}

describe("reconciliation", () => {
  const D = 60;
  const S = 400;
  const children = [
    matrix(D, S, (d) => 100 + d, 10, 1, 3),
    matrix(D, S, (d) => 50 + 0.5 * d, 8, 2, 2),
    matrix(D, S, () => 20, 5, 3),
  ];
  const parent = matrix(D, S, (d) => 185 + 1.2 * d, 15, 4);

  it("top-down keeps the top median: the children's medians add up to it on every date", () => {
    const rec = reconcileTopDown(parent, children);
    expect(rec.q).toBeGreaterThanOrEqual(0.4);
    expect(rec.q).toBeLessThanOrEqual(0.6);
    const top = quantilePerDate(parent, 0.5);
    const sum = new Float64Array(D);
    for (const c of rec.children) {
      const med = quantilePerDate(c, 0.5);
      for (let d = 0; d < D; d++) sum[d] += med[d];
    }
    for (let d = 0; d < D; d++) expect(sum[d]).toBeCloseTo(top[d], 8);
    // Inputs are untouched.
    expect(quantilePerDate(children[0], 0.5)[0]).not.toBeCloseTo(quantilePerDate(rec.children[0], 0.5)[0], 8);
  });

  it("gives the gap mostly to the large, volatile children (weight var/mean + mean)", () => {
    const rec = reconcileTopDown(parent, children);
    const before = children.map((c) => quantilePerDate(c, rec.q));
    const after = rec.children.map((c) => quantilePerDate(c, 0.5));
    const moved = after.map((a, i) => Math.abs(a[30] - before[i][30]));
    expect(moved[0]).toBeGreaterThan(moved[2]);
  });

  it("adds a parent impact before taking the gap, clipped at zero", () => {
    const impact = new Float64Array(D).fill(-1e6);
    const rec = reconcileTopDown(parent, children, impact);
    const sum = new Float64Array(D);
    for (const c of rec.children) {
      const med = quantilePerDate(c, 0.5);
      for (let d = 0; d < D; d++) sum[d] += med[d];
    }
    for (let d = 0; d < D; d++) expect(sum[d]).toBeCloseTo(0, 6);
  });

  it("bottom-up sums equal their tiles path by path", () => {
    const agg = sumMatrices(children);
    for (const i of [0, 1234, D * S - 1])
      expect(agg.values[i]).toBeCloseTo(
        children[0].values[i] + children[1].values[i] + children[2].values[i],
        10,
      );
    expect(() => sumMatrices([children[0], matrix(D - 1, S, () => 1, 1, 9)])).toThrow(/shape/);
  });

  it("has the helper maths right", () => {
    expect(minimizeBounded((x) => (x - 0.47) ** 2, 0.4, 0.6)).toBeCloseTo(0.47, 5);
    expect(minimizeBounded((x) => x, 0.4, 0.6)).toBeCloseTo(0.4, 5);
    const ma = rollingMean([1, 2, 3, 4], 2);
    expect(Number.isNaN(ma[0])).toBe(true);
    expect(Array.from(ma.slice(1))).toEqual([1.5, 2.5, 3.5]);
  });
});
