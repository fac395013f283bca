import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cubicInterp, minimizeStanLbfgs } from "../../containers/forecast/optimizer.ts";
import { fitProphet, predictProphet } from "../../containers/forecast/prophet.ts";
import { days, noise } from "./helpers.ts";

const FIX = join(import.meta.dirname, "fixtures");
// R prophet 1.0's fit of one bench series (see `about` in the file): its forecast and its optimizer's trace.
const ref = JSON.parse(readFileSync(join(FIX, "synthetic_5.r-prophet.json"), "utf8")) as {
  ds: string[];
  yhat: number[];
  actual: number[];
  logPosterior: number;
  trace: [number, number, number][];
};
const rows = readFileSync(join(FIX, "synthetic_5.train.csv"), "utf8").trim().split("\n").slice(1);
const series = { ds: rows.map((r) => r.split(",")[0]), y: rows.map((r) => Number(r.split(",")[1])) };

const mape = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += Math.abs(a[i] - b[i]) / Math.abs(b[i]);
  return (100 * s) / b.length;
};

describe("Stan-compatible L-BFGS (the default optimizer)", () => {
  it("retraces R prophet's L-BFGS iteration by iteration (log posterior and gradient evaluations)", () => {
    for (const [iter, lp, evals] of ref.trace.filter(([i]) => i % 10 === 0 || i <= 3)) {
      const m = fitProphet(series, { optimizer: "stan", maxIterations: iter });
      // R prints 6 significant digits.
      expect(Math.abs(-m.fit.objective - lp)).toBeLessThan(5e-6 * Math.abs(lp) + 1e-3);
      expect(m.fit.evaluations).toBe(evals);
    }
  });

  it("stops where Prophet stops: R's forecast within 0.5% while the exact optimum differs", () => {
    const ours = fitProphet(series);
    expect(ours.fit.reason).toMatch(/^stan l-bfgs/);
    const exact = fitProphet(series, { optimizer: "exact" });
    const a = predictProphet(ours, { dates: ref.ds, samples: 0 }).yhat;
    const b = predictProphet(exact, { dates: ref.ds, samples: 0 }).yhat;
    expect(mape(a, ref.yhat)).toBeLessThan(0.5);
    // R stopped short of the optimum on this series; the exact solver gets there.
    expect(-exact.fit.objective).toBeGreaterThan(ref.logPosterior + 0.1);
    expect(mape(b, ref.yhat)).toBeGreaterThan(0.5);
    // Holdout accuracy of our default is R's.
    expect(Math.abs(mape(a, ref.actual) - mape(ref.yhat, ref.actual))).toBeLessThan(0.05);
  });

  it("is deterministic: the same series gives bit-identical parameters", () => {
    const a = fitProphet(series);
    const b = fitProphet(series);
    expect(b.params).toEqual(a.params);
    expect(b.fit.iterations).toBe(a.fit.iterations);
  });

  it("uses the exact optimum under 100 rows (Prophet's Newton) and when asked", () => {
    const z = noise(3);
    const ds = days(80);
    const y = ds.map((_, i) => 10 + 0.1 * i + z());
    expect(fitProphet({ ds, y }).fit.reason).toBe("active set exact");
    expect(fitProphet(series, { optimizer: "exact" }).fit.reason).toBe("active set exact");
    expect(fitProphet({ ds, y }, { optimizer: "stan" }).fit.reason).toMatch(/^stan l-bfgs/);
  });

  it("folds the single t = 0 delta into k when there are no changepoints, as Prophet does", () => {
    const z = noise(5);
    const ds = days(300);
    const y = ds.map((_, i) => 20 + 0.05 * i + 0.2 * z());
    const m = fitProphet({ ds, y }, { nChangepoints: 0, weeklySeasonality: false });
    expect(m.params.delta).toEqual([0]);
    // Slope per day back from Prophet's scaled units.
    expect((m.params.k * m.yScale) / m.tScale).toBeCloseTo(0.05, 2);
  });
});

describe("minimizeStanLbfgs and its line search", () => {
  it("minimises a smooth function (Rosenbrock) to its known optimum", () => {
    const rosen = (x: Float64Array, g: Float64Array) => {
      const [a, b] = [x[0], x[1]];
      g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
      g[1] = 200 * (b - a * a);
      return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
    };
    const r = minimizeStanLbfgs(rosen, Float64Array.from([-1.2, 1]));
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 4);
    expect(r.x[1]).toBeCloseTo(1, 4);
  });

  it("steps back from points it cannot evaluate and reports a failed line search", () => {
    // Defined only for x > 0: the search must stay inside.
    const logBarrier = (x: Float64Array, g: Float64Array) => {
      if (!(x[0] > 0)) return Number.NaN;
      g[0] = 1 - 1 / x[0];
      return x[0] - Math.log(x[0]);
    };
    const r = minimizeStanLbfgs(logBarrier, Float64Array.from([5]));
    expect(r.x[0]).toBeCloseTo(1, 3);
    // Nowhere evaluable beyond the start: the first search fails and so does the run.
    const cliff = (x: Float64Array, g: Float64Array) => {
      g[0] = 1;
      return x[0] === 3 ? 3 : Number.NaN;
    };
    const f = minimizeStanLbfgs(cliff, Float64Array.from([3]));
    expect(f.converged).toBe(false);
    expect(f.reason).toBe("line search failed");
    expect(f.x[0]).toBe(3);
  });

  it("cubicInterp finds the minimiser of the interpolating cubic inside the interval", () => {
    // g(a) = a^3 - 3a^2 + 0 (g(0) = 0, g'(0) = 0): local minimum at a = 2; g(3) = 0, g'(3) = 9.
    expect(cubicInterp(0, 3, 0, 9, 0.5, 2.5)).toBeCloseTo(2, 12);
    // With the minimiser outside, the better end wins.
    expect(cubicInterp(0, 3, 0, 9, 0.1, 1)).toBe(1);
  });
});
