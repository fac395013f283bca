import { describe, expect, it } from "vitest";
import { ProphetFitError } from "../../containers/forecast/prophet.ts";
import { fitSeries, forecastSeries } from "../../containers/forecast/series.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { days, memoryLogger, noise } from "./helpers.ts";

const run = (y: number[], opts = {}, extra = {}) => {
  const logger = memoryLogger();
  const fit = fitSeries({ ds: days(y.length), y }, opts, { logger, id: "t1", ...extra });
  const f = forecastSeries(fit, { periods: 14, samples: 200, seed: 1 });
  return { fit, f, logger };
};

const finiteForecast = (f: { yhat: Float64Array; yhatLower: Float64Array; yhatUpper: Float64Array }) =>
  [...f.yhat, ...f.yhatLower, ...f.yhatUpper].every(Number.isFinite);

describe("fitSeries: awkward series fit or fall back, never throw for model failures", () => {
  it("flat and all-zero series fit (Prophet's constant-series rule) and forecast the constant", () => {
    for (const v of [0, 5]) {
      const { fit, f } = run(new Array(300).fill(v));
      expect(fit.kind).toBe("prophet");
      expect(f.yhat[f.yhat.length - 1]).toBeCloseTo(v, 9);
    }
  });

  it("very short series fall back to naive with the reason logged", () => {
    const { fit, f, logger } = run([3, 4]);
    expect(fit.kind).toBe("naive");
    expect(fit.reason).toMatch(/only 2 finite/);
    expect(f.yhat[f.yhat.length - 1]).toBe(4);
    expect(
      logger.records.some(
        (r) => r.severity === "WARNING" && r.message === "forecast fallback" && r.fields?.id === "t1",
      ),
    ).toBe(true);
  });

  it("NaN-heavy, negative and huge series fit", () => {
    const z = noise(3);
    const cases = [
      Array.from({ length: 400 }, (_, i) => (i % 29 === 0 ? 3 + z() : Number.NaN)),
      Array.from({ length: 400 }, (_, i) => -5000 - 3 * i + 20 * z()),
      Array.from({ length: 400 }, (_, i) => 1e14 * (2 + Math.sin(i / 3)) + 1e12 * z()),
    ];
    for (const y of cases) {
      const { fit, f } = run(y);
      expect(fit.kind).toBe("prophet");
      expect(finiteForecast(f)).toBe(true);
    }
    const { f } = run(cases[1]);
    expect(f.yhat[f.yhat.length - 1]).toBeLessThan(-6000);
  });

  it("falls back to linear trend + weekly means when Prophet throws", () => {
    const y = Array.from({ length: 70 }, (_, i) => 10 + 0.5 * i + (i % 7 === 3 ? 6 : 0));
    const { fit, f, logger } = run(
      y,
      {},
      {
        fitter: () => {
          throw new ProphetFitError("simulated optimizer crash");
        },
      },
    );
    expect(fit.kind).toBe("linear-weekly");
    expect(fit.reason).toMatch(/simulated optimizer crash/);
    // The forecast continues the slope and keeps the weekday bump.
    const n = f.yhat.length;
    const weekdays = f.ds.slice(n - 7).map((d) => new Date(`${d}T00:00:00Z`).getUTCDay());
    const bumpDay = new Date(`${days(70)[3]}T00:00:00Z`).getUTCDay();
    const k = weekdays.indexOf(bumpDay);
    expect(f.yhat[n - 7 + k] - f.yhat[n - 7 + ((k + 1) % 7)]).toBeGreaterThan(4);
    expect(logger.records.filter((r) => r.message === "forecast fallback")).toHaveLength(1);
  });

  it("falls back when Prophet returns a non-finite model", () => {
    const y = Array.from({ length: 50 }, (_, i) => i);
    const { fit } = run(
      y,
      {},
      {
        fitter: (s: never, o: never) => {
          void s;
          void o;
          return {
            kind: "prophet",
            growth: "linear",
            start: 0,
            tScale: 1,
            yScale: 1,
            changepointsT: [0],
            components: [],
            holidayFeatures: [],
            regressorStats: [],
            featureNames: [],
            priorScales: [],
            modes: [],
            params: { k: Number.NaN, m: 0, delta: [0], sigmaObs: 1, beta: [] },
            historyDs: [0],
            historyY: [0],
            lastCap: 0,
            lastFloor: 0,
            intervalWidth: 0.8,
            uncertaintySamples: 10,
            fit: { iterations: 0, evaluations: 0, converged: false, reason: "x", objective: 0, ms: 0 },
          };
        },
      },
    );
    expect(fit.kind).toBe("linear-weekly");
    expect(fit.reason).toMatch(/non-finite/);
  });

  it("falls back to naive when the linear model cannot be fitted either", () => {
    const y = Array.from({ length: 30 }, (_, i) => (i % 2 ? 1.7e308 : -1.7e308));
    const { fit, f } = run(
      y,
      {},
      {
        fitter: () => {
          throw new Error("boom");
        },
      },
    );
    expect(fit.kind).toBe("naive");
    expect(fit.reason).toMatch(/boom; linear-weekly failed/);
    expect(f.yhat[f.yhat.length - 1]).toBe(1.7e308);
  });

  it("treats infinite values as missing, with a warning", () => {
    const y = Array.from({ length: 60 }, (_, i) => (i === 10 ? Number.POSITIVE_INFINITY : i));
    const { fit } = run(y);
    expect(fit.kind).toBe("prophet");
    expect(fit.warnings.join()).toMatch(/1 infinite/);
  });

  it("rejects bad input instead of falling back", () => {
    expect(() =>
      fitSeries({ ds: days(3), y: [Number.NaN, Number.NaN, Number.NaN] }, {}, { logger: memoryLogger() }),
    ).toThrow(NonRetriableError);
    expect(() =>
      fitSeries(
        { ds: ["2020-01-01", "2020-13-01", "2020-01-03"], y: [1, 2, 3] },
        {},
        { logger: memoryLogger() },
      ),
    ).toThrow(/ds\[1\]/);
    expect(() =>
      fitSeries(
        { ds: days(40), y: days(40).map((_, i) => i) },
        { growth: "logistic" },
        { logger: memoryLogger() },
      ),
    ).toThrow(/cap/);
  });

  it("gives fallback forecasts sample paths when asked", () => {
    const fit = fitSeries({ ds: days(2), y: [1, 2] }, {}, { logger: memoryLogger() });
    const f = forecastSeries(fit, { periods: 5, samples: 100, seed: 9, keepSamples: true });
    expect(f.samples).toHaveLength(7 * 100);
    expect(f.nSamples).toBe(100);
  });
});
