import { describe, expect, it } from "vitest";
import { minimize, minimizeL1Quadratic } from "../../containers/forecast/optimizer.ts";
import { quantileInPlace } from "../../containers/forecast/prophet.ts";
import { createRandom, normalQuantile } from "../../containers/forecast/random.ts";

describe("random", () => {
  it("repeats under a seed and has the right moments", () => {
    const a = createRandom(11);
    const b = createRandom(11);
    const xs = Array.from({ length: 20000 }, () => a.normal());
    expect(xs.slice(0, 50)).toEqual(Array.from({ length: 50 }, () => b.normal()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
    const r = createRandom(5);
    const lap = Array.from({ length: 20000 }, () => Math.abs(r.laplace(2)));
    expect(lap.reduce((s, x) => s + x, 0) / lap.length).toBeCloseTo(2, 1);
    const po = Array.from({ length: 20000 }, () => r.poisson(3.5));
    expect(po.reduce((s, x) => s + x, 0) / po.length).toBeCloseTo(3.5, 1);
  });

  it("inverts the normal CDF and takes numpy-style quantiles", () => {
    expect(normalQuantile(0.9)).toBeCloseTo(1.2815515655, 8);
    expect(normalQuantile(0.025)).toBeCloseTo(-1.959963985, 8);
    expect(quantileInPlace(Float64Array.from([5, 1, 4, 2, 3]), 0.1)).toBeCloseTo(1.4, 12);
    expect(quantileInPlace(Float64Array.from([5, 1, 4, 2, 3]), 0.5)).toBe(3);
  });
});

describe("optimizers", () => {
  // min 1/2 x'Hx - c'x + l1|x| with a known answer: soft thresholding on a diagonal H.
  it("solves an L1-penalised quadratic exactly (feature-sign) and agrees with OWL-QN", () => {
    const H = Float64Array.from([2, 0.5, 0, 0.5, 1, 0.2, 0, 0.2, 3]);
    const c = Float64Array.from([1, -2, 0.1]);
    const l1 = Float64Array.from([0, 0.5, 0.5]);
    const exact = minimizeL1Quadratic(H, c, l1, new Float64Array(3));
    expect(exact.converged).toBe(true);
    expect(exact.x[2]).toBe(0);
    const owl = minimize(
      (x, g) => {
        let f = 0;
        for (let i = 0; i < 3; i++) {
          let hx = 0;
          for (let j = 0; j < 3; j++) hx += H[i * 3 + j] * x[j];
          g[i] = hx - c[i];
          f += x[i] * (0.5 * hx - c[i]);
        }
        return f;
      },
      new Float64Array(3),
      { l1, relativeTolerance: 1e-15, gradientTolerance: 1e-12 },
    );
    for (let i = 0; i < 3; i++) expect(owl.x[i]).toBeCloseTo(exact.x[i], 6);
    // Optimality: the gradient of the smooth part balances the penalty on non-zeros.
    const g1 = 0.5 * exact.x[0] + 1 * exact.x[1] + 0.2 * exact.x[2] - c[1];
    expect(g1 + 0.5 * Math.sign(exact.x[1])).toBeCloseTo(0, 10);
  });
});
