import { describe, expect, it } from "vitest";
import { choleskySolve, fitRidge, solveBoxQp } from "../../containers/mmm/ridge.ts";
import { createRng } from "../../containers/mmm/rng.ts";

function data(seed: number, n: number, p: number) {
  const rng = createRng(seed);
  const cols = Array.from({ length: p }, () => Float64Array.from({ length: n }, () => rng.normal() * 3 + 1));
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++)
    y[i] = 5 + cols.reduce((s, c, j) => s + c[i] * (j % 2 === 0 ? 1.5 : -0.7), 0) + rng.normal();
  return { cols, y };
}

describe("ridge as glmnet (alpha = 0, standardize = TRUE)", () => {
  it("matches the closed form (Z'Z + n·λ/sd_n(y)·I)⁻¹Z'(y−ȳ) when no bound binds", () => {
    const n = 80;
    const p = 4;
    const { cols, y } = data(1, n, p);
    const lambda = 0.3;
    const inf = new Array(p).fill(Number.POSITIVE_INFINITY);
    const fit = fitRidge({
      cols,
      y,
      from: 0,
      to: n,
      lambda,
      lower: inf.map((v) => -v),
      upper: inf,
      intercept: true,
      thresh: 1e-20,
    });
    // closed form in original units
    const m = cols.map((c) => c.reduce((a, b) => a + b, 0) / n);
    const sd = cols.map((c, j) => Math.sqrt(c.reduce((a, b) => a + (b - m[j]) ** 2, 0) / n));
    const ym = y.reduce((a, b) => a + b, 0) / n;
    const ysd = Math.sqrt(y.reduce((a, b) => a + (b - ym) ** 2, 0) / n);
    const M = new Float64Array(p * p);
    const r = new Float64Array(p);
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < p; k++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += ((cols[j][i] - m[j]) / sd[j]) * ((cols[k][i] - m[k]) / sd[k]);
        M[j * p + k] = s + (j === k ? (n * lambda) / ysd : 0);
      }
      let s = 0;
      for (let i = 0; i < n; i++) s += ((cols[j][i] - m[j]) / sd[j]) * (y[i] - ym);
      r[j] = s;
    }
    choleskySolve(M, r, p);
    for (let j = 0; j < p; j++) expect(fit.coef[j]).toBeCloseTo(r[j] / sd[j], 9);
    expect(fit.intercept).toBeCloseTo(ym - m.reduce((s, mj, j) => s + (mj * r[j]) / sd[j], 0), 8);
  });

  it("respects sign limits and agrees with the exact box-constrained optimum", () => {
    const n = 60;
    const { cols, y } = data(7, n, 5);
    const lower = [0, 0, 0, 0, 0];
    const upper = [
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      1,
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
    ];
    const cd = fitRidge({
      cols,
      y,
      from: 0,
      to: n,
      lambda: 0.05,
      lower,
      upper,
      intercept: true,
      thresh: 1e-16,
    });
    const ex = fitRidge({
      cols,
      y,
      from: 0,
      to: n,
      lambda: 0.05,
      lower,
      upper,
      intercept: true,
      solver: "exact",
    });
    expect(cd.coef[1]).toBe(0);
    expect(cd.coef[3]).toBe(0);
    expect(cd.coef[2]).toBe(1);
    for (let j = 0; j < 5; j++) expect(cd.coef[j]).toBeCloseTo(ex.coef[j], 6);
    expect(cd.intercept).toBeCloseTo(ex.intercept, 5);
  });

  it("solveBoxQp satisfies the KKT conditions", () => {
    const A = Float64Array.from([4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2]);
    const b = Float64Array.from([-2, 5, 1]);
    const x = solveBoxQp(A, b, Float64Array.from([0, 0, -1]), Float64Array.from([10, 1, 1]), 3);
    expect(x[0]).toBe(0);
    expect(x[1]).toBe(1);
    const g2 = A[6] * x[0] + A[7] * x[1] + A[8] * x[2] - b[2];
    expect(Math.abs(g2)).toBeLessThan(1e-12);
  });

  it("fits without intercept by scaling but not centring (glmnet intercept = FALSE)", () => {
    const n = 50;
    const { cols, y } = data(3, n, 2);
    const inf = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    const fit = fitRidge({
      cols,
      y,
      from: 0,
      to: n,
      lambda: 1e-9,
      lower: [-inf[0], -inf[1]],
      upper: inf,
      intercept: false,
      thresh: 1e-24,
    });
    expect(fit.intercept).toBe(0);
    // with a negligible penalty this is least squares through the origin
    let a11 = 0;
    let a12 = 0;
    let a22 = 0;
    let b1 = 0;
    let b2 = 0;
    for (let i = 0; i < n; i++) {
      a11 += cols[0][i] ** 2;
      a12 += cols[0][i] * cols[1][i];
      a22 += cols[1][i] ** 2;
      b1 += cols[0][i] * y[i];
      b2 += cols[1][i] * y[i];
    }
    const det = a11 * a22 - a12 * a12;
    expect(fit.coef[0]).toBeCloseTo((a22 * b1 - a12 * b2) / det, 5);
    expect(fit.coef[1]).toBeCloseTo((a11 * b2 - a12 * b1) / det, 5);
  });
});
