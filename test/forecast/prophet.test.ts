import { describe, expect, it } from "vitest";
import { fitProphet, predictProphet, testHooks, trendAt } from "../../containers/forecast/prophet.ts";
import { createRandom } from "../../containers/forecast/random.ts";
import { parseDs, weekdayOf } from "../../containers/forecast/time.ts";
import { days, noise, peyton } from "./helpers.ts";

describe("Prophet model: known-truth synthetic series", () => {
  // 3 years daily: slope 0.02/day until day 600, then 0.05/day; weekly amplitude 3 (sin); yearly amplitude 5.
  const n = 3 * 365;
  const ds = days(n, "2019-01-01");
  const z = noise(7);
  const cpDay = 600;
  const truth = ds.map((d, i) => {
    const tday = parseDs(d);
    const trend = 100 + 0.02 * i + (i > cpDay ? 0.03 * (i - cpDay) : 0);
    return trend + 3 * Math.sin((2 * Math.PI * tday) / 7) + 5 * Math.cos((2 * Math.PI * tday) / 365.25);
  });
  const y = truth.map((v) => v + 0.5 * z());
  const model = fitProphet({ ds, y });
  const f = predictProphet(model, { periods: 60, samples: 300, seed: 3 });

  it("recovers the slopes before and after the changepoint", () => {
    const slope = (a: number, b: number) => (f.trend[b] - f.trend[a]) / (b - a);
    expect(slope(100, 500)).toBeCloseTo(0.02, 2);
    expect(slope(700, 850)).toBeCloseTo(0.05, 2);
  });

  it("puts the largest rate change next to the true changepoint", () => {
    const deltas = model.params.delta.map(Math.abs);
    const j = deltas.indexOf(Math.max(...deltas));
    const cpAt = model.start + model.changepointsT[j] * model.tScale;
    expect(Math.abs(cpAt - parseDs(ds[cpDay]))).toBeLessThanOrEqual(40);
    // The rate changes add up to about the true 0.03/day (deltas are in scaled units: y_scale per t_scale).
    const total = model.params.delta.reduce((a, b) => a + b, 0) * (model.yScale / model.tScale);
    expect(Math.abs(total - 0.03)).toBeLessThan(0.01);
  });

  it("recovers the weekly and yearly amplitudes", () => {
    const amp = (c: Float64Array, from: number, to: number) => {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let i = from; i < to; i++) {
        lo = Math.min(lo, c[i]);
        hi = Math.max(hi, c[i]);
      }
      return (hi - lo) / 2;
    };
    expect(amp(f.components.weekly, 0, 14)).toBeGreaterThan(2.8);
    expect(amp(f.components.weekly, 0, 14)).toBeLessThan(3.2);
    expect(amp(f.components.yearly, 0, 366)).toBeGreaterThan(4.6);
    expect(amp(f.components.yearly, 0, 366)).toBeLessThan(5.4);
    expect(model.params.sigmaObs * model.yScale).toBeCloseTo(0.5, 1);
  });

  it("decomposes yhat into trend and its components", () => {
    for (const i of [0, 500, f.yhat.length - 1]) {
      expect(f.yhat[i]).toBeCloseTo(f.trend[i] + f.components.weekly[i] + f.components.yearly[i], 8);
      expect(f.yhatLower[i]).toBeLessThan(f.yhat[i]);
      expect(f.yhatUpper[i]).toBeGreaterThan(f.yhat[i]);
    }
    expect(f.ds.length).toBe(n + 60);
    expect(f.ds[n]).toBe("2021-12-31");
  });
});

describe("Prophet model: options", () => {
  it("applies Prophet's seasonality auto rules", () => {
    const short = fitProphet({ ds: days(100), y: days(100).map((_, i) => i % 7) });
    expect(short.components.map((c) => c.name)).toEqual(["weekly"]);
    const weeklySpaced = fitProphet({
      ds: days(200, "2015-01-01", 7),
      y: days(200).map((_, i) => Math.sin(i / 8)),
    });
    expect(weeklySpaced.components.map((c) => c.name)).toEqual(["yearly"]);
    const forced = fitProphet(
      { ds: days(100), y: days(100).map((_, i) => i % 7) },
      { weeklySeasonality: false, yearlySeasonality: 4 },
    );
    expect(forced.components.map((c) => `${c.name}:${c.order}`)).toEqual(["yearly:4"]);
  });

  it("places 25 changepoints in the first 80% of history, or fewer for short series", () => {
    const m = fitProphet({ ds: days(500), y: days(500).map((_, i) => i) });
    expect(m.changepointsT).toHaveLength(25);
    expect(Math.max(...m.changepointsT)).toBeLessThanOrEqual(0.8);
    const tiny = fitProphet({ ds: days(10), y: [1, 3, 2, 5, 4, 6, 5, 8, 7, 9] });
    expect(tiny.changepointsT).toHaveLength(7);
  });

  it("keeps logistic forecasts under the cap and above the floor", () => {
    const ds = days(400);
    const y = ds.map((_, i) => 10 + 80 / (1 + Math.exp(-(i - 200) / 40)));
    const m = fitProphet({ ds, y, cap: y.map(() => 100), floor: y.map(() => 5) }, { growth: "logistic" });
    const f = predictProphet(m, { periods: 400, samples: 0 });
    for (let i = 0; i < f.trend.length; i++) {
      expect(f.trend[i]).toBeLessThanOrEqual(100 + 1e-9);
      expect(f.trend[i]).toBeGreaterThanOrEqual(5 - 1e-9);
    }
    expect(f.trend[f.trend.length - 1]).toBeGreaterThan(85);
  });

  it("fits multiplicative seasonality: the weekly swing grows with the trend", () => {
    const ds = days(500);
    const z = noise(11);
    const y = ds.map((d, i) => (50 + i) * (1 + 0.2 * Math.sin((2 * Math.PI * parseDs(d)) / 7) + 0.002 * z()));
    const m = fitProphet({ ds, y }, { seasonalityMode: "multiplicative" });
    const f = predictProphet(m, { periods: 0, samples: 0 });
    let amp = 0;
    for (let i = 0; i < 7; i++) amp = Math.max(amp, Math.abs(f.components.weekly[i]));
    expect(amp).toBeGreaterThan(0.18);
    expect(amp).toBeLessThan(0.22);
    let err = 0;
    for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(f.yhat[i] - y[i]) / y[i]);
    expect(err).toBeLessThan(0.02);
  });

  it("estimates holiday effects with windows and extra regressors", () => {
    const ds = days(730);
    const promo = ds.map((_, i) => (i % 10 < 3 ? 1 : 0));
    const temp = ds.map((_, i) => Math.sin(i / 5) * 10);
    const holidays = ["2018-07-04", "2019-07-04", "2020-07-04"].map((d) => ({
      holiday: "july4",
      ds: d,
      lowerWindow: -1,
      upperWindow: 0,
    }));
    const y = ds.map(
      (d, i) =>
        20 + 2 * promo[i] + 0.3 * temp[i] + (d.endsWith("-07-04") ? 8 : 0) + (d.endsWith("-07-03") ? 4 : 0),
    );
    const m = fitProphet(
      { ds, y, regressors: { promo, temp } },
      {
        holidays,
        regressors: [{ name: "promo" }, { name: "temp" }],
        weeklySeasonality: false,
        yearlySeasonality: false,
      },
    );
    expect(m.featureNames).toEqual(["july4_-1", "july4_+0", "promo", "temp"]);
    const f = predictProphet(m, {
      dates: ["2020-07-03", "2020-07-04", "2020-07-05"],
      regressors: { promo: [0, 1, 0], temp: [0, 0, 10] },
      samples: 0,
    });
    expect(f.components.holidays[0]).toBeCloseTo(4, 0);
    expect(f.components.holidays[1]).toBeCloseTo(8, 0);
    expect(f.components.holidays[2]).toBeCloseTo(0, 6);
    expect(f.components.promo[1]).toBeCloseTo(2, 1);
    expect(f.components.temp[2]).toBeCloseTo(3, 1);
  });

  it("skips missing days in the fit but predicts every input date", () => {
    const ds = days(200);
    const y = ds.map((d, i) => (i % 3 === 0 ? Number.NaN : 5 + Math.sin((2 * Math.PI * parseDs(d)) / 7)));
    const m = fitProphet({ ds, y });
    const f = predictProphet(m, { periods: 5, samples: 0 });
    expect(f.ds).toHaveLength(205);
    expect(f.yhat.every(Number.isFinite)).toBe(true);
    const sunday = ds.findIndex((d, i) => weekdayOf(parseDs(d)) === 6 && i % 3 === 0);
    expect(f.yhat[sunday]).toBeCloseTo(5 + Math.sin((2 * Math.PI * parseDs(ds[sunday])) / 7), 1);
  });
});

describe("Prophet model: optimisation", () => {
  it("has analytic gradients that match finite differences (linear, multiplicative, logistic)", () => {
    const { ds, y } = peyton();
    const d = ds.slice(0, 500);
    const v = y.slice(0, 500);
    for (const [series, opts] of [
      [{ ds: d, y: v }, {}],
      [{ ds: d, y: v }, { seasonalityMode: "multiplicative" }],
      [
        { ds: d, y: v, cap: v.map(() => 14), floor: v.map(() => 3) },
        { growth: "logistic", seasonalityMode: "multiplicative" },
      ],
    ] as const) {
      let worst = 0;
      testHooks.onProblem = ({ evaluate, x0 }) => {
        // Away from the start and at it (every beta 0, where Stan's first step is taken).
        for (const x of [x0.map((e, i) => e + 0.1 * Math.sin(i + 1)), x0]) {
          const g = new Float64Array(x.length);
          const tmp = new Float64Array(x.length);
          evaluate(x, g);
          for (let i = 0; i < x.length; i++) {
            const xp = x.slice();
            const xm = x.slice();
            xp[i] += 1e-6;
            xm[i] -= 1e-6;
            const fd = (evaluate(xp, tmp) - evaluate(xm, tmp)) / 2e-6;
            worst = Math.max(worst, Math.abs(fd - g[i]) / Math.max(1, Math.abs(fd)));
          }
        }
      };
      fitProphet(series, opts);
      testHooks.onProblem = undefined;
      expect(worst).toBeLessThan(1e-6);
    }
  });

  it("reaches a lower or equal objective than plain OWL-QN, with the same forecast", () => {
    const { ds, y } = peyton();
    const exact = fitProphet({ ds, y }, { optimizer: "exact" });
    const owl = fitProphet({ ds, y }, { optimizer: "owlqn" });
    expect(exact.fit.objective).toBeLessThanOrEqual(owl.fit.objective + 1e-6);
    const a = predictProphet(exact, { periods: 365, samples: 0 });
    const b = predictProphet(owl, { periods: 365, samples: 0 });
    let mape = 0;
    for (let i = a.yhat.length - 365; i < a.yhat.length; i++)
      mape += Math.abs(a.yhat[i] - b.yhat[i]) / Math.abs(b.yhat[i]) / 365;
    expect(mape).toBeLessThan(0.005);
    // The Laplace prior puts most changepoint deltas exactly at zero.
    expect(exact.params.delta.filter((x) => x === 0).length).toBeGreaterThan(5);
  });

  it("matches R prophet 1.0 on Peyton Manning (anchor: holdout MAPE 5.304%, 80% coverage 83.5%, width 1.293)", () => {
    const { ds, y } = peyton();
    const cut = ds.findIndex((d) => d > "2015-01-20");
    const m = fitProphet({ ds: ds.slice(0, cut), y: y.slice(0, cut) });
    const f = predictProphet(m, { dates: ds.slice(cut), samples: 1000, seed: 1 });
    let ape = 0;
    let covered = 0;
    for (let i = 0; i < f.yhat.length; i++) {
      const actual = y[cut + i];
      ape += Math.abs(f.yhat[i] - actual) / Math.abs(actual);
      if (actual >= f.yhatLower[i] && actual <= f.yhatUpper[i]) covered++;
    }
    expect((100 * ape) / f.yhat.length).toBeGreaterThan(5.0);
    expect((100 * ape) / f.yhat.length).toBeLessThan(5.6);
    expect(covered / f.yhat.length).toBeGreaterThan(0.78);
    expect(covered / f.yhat.length).toBeLessThan(0.89);
  });
});

describe("Prophet model: uncertainty", () => {
  const { ds, y } = peyton();
  const model = fitProphet({ ds, y });

  it("is deterministic under a seed and differs across seeds", () => {
    const a = predictProphet(model, { periods: 100, samples: 200, seed: 42 });
    const b = predictProphet(model, { periods: 100, samples: 200, seed: 42 });
    const c = predictProphet(model, { periods: 100, samples: 200, seed: 43 });
    expect(Array.from(a.yhatUpper)).toEqual(Array.from(b.yhatUpper));
    expect(Array.from(a.yhatLower.slice(-100))).not.toEqual(Array.from(c.yhatLower.slice(-100)));
  });

  it("widens the band into the future (trend uncertainty) and keeps sample paths on request", () => {
    const f = predictProphet(model, { periods: 365, samples: 500, seed: 1, keepSamples: true });
    const n = f.yhat.length;
    const w = (i: number) => f.yhatUpper[i] - f.yhatLower[i];
    expect(w(n - 1)).toBeGreaterThan(1.1 * w(n - 366));
    expect(f.samples).toHaveLength(n * 500);
    // History bands are exactly yhat +- z * sigma; simulated ones agree within Monte Carlo error.
    const sim = predictProphet(model, { periods: 0, samples: 2000, seed: 5, historyIntervals: "simulated" });
    expect(Math.abs(w(10) - (sim.yhatUpper[10] - sim.yhatLower[10]))).toBeLessThan(0.08 * w(10));
    // The kept samples reproduce the interval.
    const i = n - 1;
    const s = Array.from(f.samples?.subarray(i * 500, (i + 1) * 500) ?? []).sort((a, b) => a - b);
    expect(s[Math.round(0.1 * 499)]).toBeCloseTo(f.yhatLower[i], 1);
  });
});

describe("Prophet uncertainty: logistic sample paths", () => {
  const ds = days(500);
  const z = noise(11);
  const y = ds.map((_, i) => 10 + 70 / (1 + Math.exp(-(i - 250) / 60)) + 2 * z());
  const m = fitProphet({ ds, y, cap: y.map(() => 100), floor: y.map(() => 5) }, { growth: "logistic" });
  const opts = {
    periods: 120,
    includeHistory: false,
    samples: 200,
    seed: 9,
    keepSamples: true,
    cap: 100,
    floor: 5,
  };

  it("equal each sample's whole logistic curve through its new changepoints, drawn in Prophet's order", () => {
    const f = predictProphet(m, opts);
    const S = m.changepointsT.length;
    const N = f.days.length;
    const t = Float64Array.from(f.days, (d) => (d - m.start) / m.tScale);
    const tMax = t[N - 1];
    const cap = new Float64Array(N).fill((100 - 5) / m.yScale);
    const lambda = m.params.delta.reduce((a, d) => a + Math.abs(d) / S, 1e-8);
    const rng = createRandom(9);
    const curves = Array.from({ length: 200 }, () => {
      const n = rng.poisson(S * (tMax - 1));
      const cps = Array.from({ length: n }, () => 1 + rng.uniform() * (tMax - 1)).sort((a, b) => a - b);
      const deltas = cps.map(() => rng.laplace(lambda));
      return trendAt(
        "logistic",
        t,
        cap,
        m.params.k,
        m.params.m,
        [...m.params.delta, ...deltas],
        [...m.changepointsT, ...cps],
      );
    });
    const mult = f.components.multiplicative_terms;
    const add = f.components.additive_terms;
    const noiseScale = m.params.sigmaObs * m.yScale;
    let worst = 0;
    for (let i = 0; i < N; i++)
      for (let s = 0; s < 200; s++) {
        const want = (curves[s][i] * m.yScale + 5) * (1 + mult[i]) + add[i] + rng.normal() * noiseScale;
        worst = Math.max(worst, Math.abs((f.samples as Float64Array)[i * 200 + s] - want));
      }
    expect(worst).toBe(0);
  });

  it("draws the same paths without bands, and leaves the bands at yhat", () => {
    const a = predictProphet(m, opts);
    const b = predictProphet(m, { ...opts, bands: false });
    expect(b.samples).toEqual(a.samples);
    expect(Array.from(b.yhatLower)).toEqual(Array.from(a.yhat));
    expect(Array.from(b.yhatUpper)).toEqual(Array.from(a.yhat));
    expect(a.yhatUpper[50]).toBeGreaterThan(a.yhatLower[50]);
  });
});
