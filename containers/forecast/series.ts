import { NonRetriableError } from "../../shared/core/errors.ts";
import { createLogger, type Logger } from "../../shared/core/log.ts";
import {
  type Forecast,
  fitProphet,
  futureDays,
  type PredictOptions,
  type ProphetModel,
  type ProphetOptions,
  predictProphet,
  quantileInPlace,
  type SeriesInput,
} from "./prophet.ts";
import { createRandom, normalQuantile } from "./random.ts";
import { formatDs, parseDs, weekdayOf } from "./time.ts";

/**
 * The robust entry point: Prophet when it can be fitted, otherwise a documented simpler model, per series.
 *
 * Fallback ladder (the reason is kept on the result and logged as a warning):
 * 1. `prophet` — the full model.
 * 2. `linear-weekly` — least-squares linear trend plus day-of-week mean residuals; bands from the residual
 *    standard deviation. Used when Prophet throws, ends on a non-finite point, or fits something implausible
 *    (a fitted history more than 100 ranges away from the data).
 * 3. `naive` — the last finite value, bands widening as a random walk with the sd of day-to-day changes. Used
 *    with fewer than {@link MIN_PROPHET_POINTS} finite values or when the linear model fails too.
 * Bad input (unparseable dates, logistic growth without a cap) is not a model failure: it throws
 * NonRetriableError. Infinite y values are treated as missing and counted in `warnings`.
 */
export const MIN_PROPHET_POINTS = 3;

export type ModelKind = "prophet" | "linear-weekly" | "naive";

interface SimpleModel {
  kind: "linear-weekly" | "naive";
  start: number;
  slope: number;
  intercept: number;
  weekly: number[];
  sd: number;
  randomWalk: boolean;
  historyDs: number[];
  historyY: number[];
  intervalWidth: number;
  uncertaintySamples: number;
}

export interface SeriesFit {
  kind: ModelKind;
  model: ProphetModel | SimpleModel;
  /** Why a fallback was used (absent for prophet). */
  reason?: string;
  warnings: string[];
  ms: number;
}

export interface FitSeriesOptions {
  logger?: Logger;
  /** Label for log lines (a tile id). */
  id?: string;
  /** The Prophet fitter (injectable so that tests can make it fail). */
  fitter?: (series: SeriesInput, options: ProphetOptions) => ProphetModel;
}

export function fitSeries(
  series: SeriesInput,
  options: ProphetOptions = {},
  run: FitSeriesOptions = {},
): SeriesFit {
  const started = performance.now();
  const logger = run.logger ?? createLogger({ labels: { component: "forecast" } });
  const warnings: string[] = [];
  if (series.y.length !== series.ds.length) {
    throw new NonRetriableError(`y has ${series.y.length} values but ds has ${series.ds.length}`, {
      field: "y",
      fix: "give one y per ds",
    });
  }
  const y = Array.from(series.y, (v) => Number(v));
  let infinite = 0;
  for (let i = 0; i < y.length; i++) {
    if (!Number.isNaN(y[i]) && !Number.isFinite(y[i])) {
      y[i] = Number.NaN;
      infinite++;
    }
  }
  if (infinite > 0) warnings.push(`${infinite} infinite y value(s) treated as missing`);
  const clean: SeriesInput = { ...series, y };
  const days = series.ds.map((d, i) => parseDs(d, `ds[${i}]`));
  const finite = y.filter(Number.isFinite).length;
  const fallback = (reason: string): SeriesFit => {
    logger.warn("forecast fallback", { id: run.id, reason, finite });
    let model: SimpleModel;
    if (finite >= MIN_PROPHET_POINTS) {
      try {
        model = fitLinearWeekly(days, y, options);
        return { kind: "linear-weekly", model, reason, warnings, ms: performance.now() - started };
      } catch (err) {
        reason = `${reason}; linear-weekly failed: ${(err as Error).message}`;
      }
    }
    model = fitNaive(days, y, options);
    return { kind: "naive", model, reason, warnings, ms: performance.now() - started };
  };
  if (finite === 0)
    throw new NonRetriableError("the series has no finite y value", {
      field: "y",
      fix: "give at least one numeric y",
    });
  if (finite < MIN_PROPHET_POINTS)
    return fallback(`only ${finite} finite value(s); Prophet needs ${MIN_PROPHET_POINTS}`);
  let model: ProphetModel;
  try {
    model = (run.fitter ?? fitProphet)(clean, options);
  } catch (err) {
    if (err instanceof NonRetriableError) throw err;
    return fallback(`prophet failed: ${(err as Error).message}`);
  }
  const check = plausibility(model, y);
  if (check) return fallback(check);
  if (!model.fit.converged) warnings.push(`optimizer stopped without converging (${model.fit.reason})`);
  return { kind: "prophet", model, warnings, ms: performance.now() - started };
}

/** A fitted history that is non-finite or far outside the data means the optimizer went somewhere useless. */
function plausibility(model: ProphetModel, y: number[]): string | undefined {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of y) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const range = Math.max(hi - lo, Math.abs(hi), 1e-12);
  try {
    const f = predictProphet(model, { samples: 0 });
    for (let i = 0; i < f.yhat.length; i++) {
      if (!Number.isFinite(f.yhat[i])) return "prophet produced a non-finite fitted value";
      if (Math.abs(f.yhat[i] - (lo + hi) / 2) > 100 * range)
        return "prophet's fitted history is implausible (over 100 ranges from the data)";
    }
  } catch (err) {
    if (err instanceof NonRetriableError) throw err;
    return `prophet prediction failed: ${(err as Error).message}`;
  }
  return undefined;
}

function fitLinearWeekly(days: number[], y: number[], options: ProphetOptions): SimpleModel {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < y.length; i++) {
    if (Number.isFinite(y[i])) {
      xs.push(days[i]);
      ys.push(y[i]);
    }
  }
  const start = Math.min(...xs);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b - start, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - start - mx) ** 2;
    sxy += (xs[i] - start - mx) * (ys[i] - my);
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const intercept = my - slope * mx;
  const sums = new Array(7).fill(0);
  const counts = new Array(7).fill(0);
  for (let i = 0; i < n; i++) {
    const w = weekdayOf(xs[i]);
    sums[w] += ys[i] - (intercept + slope * (xs[i] - start));
    counts[w]++;
  }
  const weekly = sums.map((s, w) => (counts[w] > 0 ? s / counts[w] : 0));
  let ss = 0;
  for (let i = 0; i < n; i++)
    ss += (ys[i] - (intercept + slope * (xs[i] - start) + weekly[weekdayOf(xs[i])])) ** 2;
  const sd = Math.sqrt(ss / Math.max(1, n - 9));
  const model: SimpleModel = {
    kind: "linear-weekly",
    start,
    slope,
    intercept,
    weekly,
    sd,
    randomWalk: false,
    ...historyOf(days, y),
    intervalWidth: options.intervalWidth ?? 0.8,
    uncertaintySamples: options.uncertaintySamples ?? 1000,
  };
  if (![slope, intercept, sd, ...weekly].every(Number.isFinite))
    throw new Error("non-finite least-squares fit");
  return model;
}

function fitNaive(days: number[], y: number[], options: ProphetOptions): SimpleModel {
  const pts = days
    .map((d, i) => [d, y[i]] as const)
    .filter(([, v]) => Number.isFinite(v))
    .sort((a, b) => a[0] - b[0]);
  const last = pts.length > 0 ? pts[pts.length - 1][1] : 0;
  const diffs: number[] = [];
  for (let i = 1; i < pts.length; i++) diffs.push(pts[i][1] - pts[i - 1][1]);
  const md = diffs.length > 0 ? diffs.reduce((a, b) => a + b, 0) / diffs.length : 0;
  const sd =
    diffs.length > 1 ? Math.sqrt(diffs.reduce((a, b) => a + (b - md) ** 2, 0) / (diffs.length - 1)) : 0;
  return {
    kind: "naive",
    start: pts.length > 0 ? pts[pts.length - 1][0] : 0,
    slope: 0,
    intercept: Number.isFinite(last) ? last : 0,
    weekly: new Array(7).fill(0),
    sd: Number.isFinite(sd) ? sd : 0,
    randomWalk: true,
    ...historyOf(days, y),
    intervalWidth: options.intervalWidth ?? 0.8,
    uncertaintySamples: options.uncertaintySamples ?? 1000,
  };
}

function historyOf(days: number[], y: number[]): { historyDs: number[]; historyY: number[] } {
  const byDay = new Map<number, number>();
  for (let i = 0; i < days.length; i++) byDay.set(days[i], y[i]);
  const historyDs = [...byDay.keys()].sort((a, b) => a - b);
  return { historyDs, historyY: historyDs.map((d) => byDay.get(d) as number) };
}

/** Predict with whichever model the fit ended with; the result has the same shape for every kind. */
export function forecastSeries(fit: SeriesFit, options: PredictOptions = {}): Forecast {
  if (fit.kind === "prophet") return predictProphet(fit.model as ProphetModel, options);
  return predictSimple(fit.model as SimpleModel, options);
}

function predictSimple(model: SimpleModel, options: PredictOptions): Forecast {
  const days = options.dates
    ? options.dates.map((d, i) => parseDs(d, `dates[${i}]`))
    : futureDays(model, options.periods ?? 0, options.includeHistory ?? true);
  const N = days.length;
  const lastHist = model.historyDs[model.historyDs.length - 1];
  const trend = new Float64Array(N);
  const weekly = new Float64Array(N);
  const yhat = new Float64Array(N);
  const sdAt = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    trend[i] = model.intercept + model.slope * (days[i] - model.start);
    weekly[i] = model.weekly[weekdayOf(days[i])];
    yhat[i] = trend[i] + weekly[i];
    const h = Math.max(0, days[i] - lastHist);
    sdAt[i] = model.randomWalk ? model.sd * Math.sqrt(Math.max(1, h)) : model.sd;
  }
  const width = options.intervalWidth ?? model.intervalWidth;
  const nSamples = options.samples ?? model.uncertaintySamples;
  const yhatLower = new Float64Array(N);
  const yhatUpper = new Float64Array(N);
  let samples: Float64Array | undefined;
  if (options.keepSamples && nSamples > 0) {
    const rng = createRandom(options.seed ?? 0);
    samples = new Float64Array(N * nSamples);
    const buf = new Float64Array(nSamples);
    const lo = (1 - width) / 2;
    for (let i = 0; i < N; i++) {
      for (let s = 0; s < nSamples; s++) buf[s] = yhat[i] + rng.normal() * sdAt[i];
      samples.set(buf, i * nSamples);
      yhatLower[i] = quantileInPlace(buf, lo);
      yhatUpper[i] = quantileInPlace(buf, 1 - lo);
    }
  } else {
    const z = normalQuantile(1 - (1 - width) / 2);
    for (let i = 0; i < N; i++) {
      yhatLower[i] = yhat[i] - z * sdAt[i];
      yhatUpper[i] = yhat[i] + z * sdAt[i];
    }
  }
  return {
    ds: days.map(formatDs),
    days: Float64Array.from(days),
    yhat,
    yhatLower,
    yhatUpper,
    trend,
    trendLower: trend.slice(),
    trendUpper: trend.slice(),
    components: { weekly, additive_terms: weekly.slice(), multiplicative_terms: new Float64Array(N) },
    samples,
    nSamples: samples ? nSamples : 0,
    intervalWidth: width,
  };
}
