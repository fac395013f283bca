import { NonRetriableError } from "../../shared/core/errors.ts";
import { minimize, minimizeL1Quadratic, minimizeStanLbfgs, type StanLbfgsOptions } from "./optimizer.ts";
import { createRandom, normalQuantile } from "./random.ts";
import { dayOf, formatDs, parseDs } from "./time.ts";

/**
 * Prophet (Taylor & Letham 2018) in TypeScript: the model of prophet.stan fitted by MAP, and Prophet's own
 * predictive simulation for intervals and sample paths.
 *
 *   y ~ normal(trend .* (1 + X (beta .* s_m)) + X (beta .* s_a), sigma_obs)
 *   k, m ~ normal(0, 5); delta ~ double_exponential(0, tau); sigma_obs ~ normal(0, 0.5); beta ~ normal(0, sigmas)
 *
 * Scaling is Prophet's: y_scaled = (y - floor) / y_scale with y_scale = max |y - floor| ("absmax"),
 * t = (ds - start) / (end - start). Only rows with a finite y enter the fit; every input date is predicted.
 */

export type Growth = "linear" | "logistic";
export type Mode = "additive" | "multiplicative";
export type SeasonalitySwitch = "auto" | boolean | number;

export interface HolidayEvent {
  holiday: string;
  /** YYYY-MM-DD */
  ds: string;
  lowerWindow?: number;
  upperWindow?: number;
  priorScale?: number;
}

export interface RegressorSpec {
  name: string;
  priorScale?: number;
  standardize?: "auto" | boolean;
  mode?: Mode;
}

export interface SeasonalitySpec {
  name: string;
  period: number;
  fourierOrder: number;
  priorScale?: number;
  mode?: Mode;
}

export interface ProphetOptions {
  growth?: Growth;
  /** Explicit changepoint dates; otherwise `nChangepoints` spread over the first `changepointRange` of history. */
  changepoints?: string[];
  nChangepoints?: number;
  changepointRange?: number;
  changepointPriorScale?: number;
  yearlySeasonality?: SeasonalitySwitch;
  weeklySeasonality?: SeasonalitySwitch;
  dailySeasonality?: SeasonalitySwitch;
  seasonalities?: SeasonalitySpec[];
  seasonalityMode?: Mode;
  seasonalityPriorScale?: number;
  holidays?: HolidayEvent[];
  holidaysPriorScale?: number;
  holidaysMode?: Mode;
  regressors?: RegressorSpec[];
  intervalWidth?: number;
  uncertaintySamples?: number;
  maxIterations?: number;
  /**
   * "auto" (default): what R prophet does — Stan's L-BFGS with rstan's tolerances from Prophet's initial point
   * (`stan`) when history has at least 100 rows, the exact optimum (`exact`) below that, where Prophet uses
   * Stan's Newton, which runs to the optimum; if the L-BFGS line search fails (Prophet's "terminated abnormally"),
   * the exact optimum too, and at the iteration limit whichever of the two scores better.
   * "stan": Stan's L-BFGS at any length. It stops where Prophet stops, which on a flat posterior can be short of
   * the optimum.
   * "exact": the exact MAP: linear growth with additive components by a feature-sign active set for the L1
   * problem at fixed sigma with closed-form sigma, alternated; everything else by proximal Gauss-Newton with an
   * OWL-QN rescue.
   * "owlqn": OWL-QN everywhere (used to cross-check the exact solvers).
   */
  optimizer?: "auto" | "stan" | "exact" | "owlqn";
  /** Overrides of Stan's L-BFGS tolerances (rstan's names, camel-cased) for "auto" and "stan". */
  stanTolerances?: StanLbfgsOptions;
}

export interface SeriesInput {
  ds: readonly string[];
  y: ArrayLike<number>;
  cap?: ArrayLike<number>;
  floor?: ArrayLike<number>;
  regressors?: Record<string, ArrayLike<number>>;
}

interface Component {
  name: string;
  kind: "seasonality" | "holiday" | "regressor";
  mode: Mode;
  /** Feature column range [from, to). */
  from: number;
  to: number;
  period?: number;
  order?: number;
}

interface HolidayFeature {
  name: string;
  days: number[];
  priorScale: number;
}

export interface ProphetParams {
  k: number;
  m: number;
  delta: number[];
  sigmaObs: number;
  beta: number[];
}

export interface FitInfo {
  iterations: number;
  evaluations: number;
  converged: boolean;
  reason: string;
  objective: number;
  ms: number;
}

/** A fitted model: plain data, safe to post between worker threads or to JSON. */
export interface ProphetModel {
  kind: "prophet";
  growth: Growth;
  start: number;
  tScale: number;
  yScale: number;
  changepointsT: number[];
  components: Component[];
  holidayFeatures: HolidayFeature[];
  regressorStats: { name: string; mu: number; std: number }[];
  featureNames: string[];
  priorScales: number[];
  modes: Mode[];
  params: ProphetParams;
  historyDs: number[];
  historyY: number[];
  /** Last cap / floor seen in history; used for future dates when none are given. */
  lastCap: number;
  lastFloor: number;
  intervalWidth: number;
  uncertaintySamples: number;
  fit: FitInfo;
}

export class ProphetFitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProphetFitError";
  }
}

const DEFAULTS = {
  nChangepoints: 25,
  changepointRange: 0.8,
  changepointPriorScale: 0.05,
  seasonalityPriorScale: 10,
  holidaysPriorScale: 10,
  intervalWidth: 0.8,
  uncertaintySamples: 1000,
  maxIterations: 10000,
};

/** For tests: sees the smooth objective (negative log posterior without the L1 term) of each fit. */
export const testHooks: {
  onProblem?: (p: {
    evaluate: (x: Float64Array, g: Float64Array) => number;
    x0: Float64Array;
    l1: Float64Array;
  }) => void;
} = {};

export function fitProphet(series: SeriesInput, options: ProphetOptions = {}): ProphetModel {
  const started = performance.now();
  const growth: Growth = options.growth ?? "linear";
  const seasonalityMode: Mode = options.seasonalityMode ?? "additive";
  const n0 = series.ds.length;
  if (series.y.length !== n0) {
    throw new NonRetriableError(`y has ${series.y.length} values but ds has ${n0}`, {
      field: "y",
      fix: "give one y per ds",
    });
  }
  const allDs = series.ds.map((d, i) => parseDs(d, `ds[${i}]`));
  // History: rows with a finite y, sorted by ds.
  const order: number[] = [];
  for (let i = 0; i < n0; i++) if (Number.isFinite(series.y[i])) order.push(i);
  order.sort((a, b) => allDs[a] - allDs[b]);
  const T = order.length;
  if (T < 2) throw new ProphetFitError(`fewer than 2 rows with a finite y (${T})`);
  const ds = new Float64Array(T);
  const yRaw = new Float64Array(T);
  for (let r = 0; r < T; r++) {
    ds[r] = allDs[order[r]];
    yRaw[r] = series.y[order[r]];
  }
  const start = ds[0];
  const tScale = ds[T - 1] - start;
  if (!(tScale > 0)) throw new ProphetFitError("all rows with a finite y share one ds");
  const t = new Float64Array(T);
  for (let r = 0; r < T; r++) t[r] = (ds[r] - start) / tScale;

  const floor = new Float64Array(T);
  const capScaled = new Float64Array(T);
  if (growth === "logistic") {
    if (!series.cap)
      throw new NonRetriableError("logistic growth needs a cap for every row", {
        field: "cap",
        fix: "add a cap column or pass --cap",
      });
    for (let r = 0; r < T; r++) {
      floor[r] = series.floor ? Number(series.floor[order[r]]) : 0;
      if (!Number.isFinite(floor[r]))
        throw new NonRetriableError(`floor is not a number on row ${order[r] + 1}`, { field: "floor" });
    }
  }
  let yScale = 0;
  for (let r = 0; r < T; r++) yScale = Math.max(yScale, Math.abs(yRaw[r] - floor[r]));
  if (yScale === 0) yScale = 1;
  const y = new Float64Array(T);
  for (let r = 0; r < T; r++) y[r] = (yRaw[r] - floor[r]) / yScale;
  let lastCap = Number.NaN;
  if (growth === "logistic" && series.cap) {
    for (let r = 0; r < T; r++) {
      const c = Number(series.cap[order[r]]);
      if (!Number.isFinite(c) || c <= floor[r]) {
        throw new NonRetriableError(
          `cap must be a number above floor on row ${order[r] + 1} (cap ${c}, floor ${floor[r]})`,
          {
            field: "cap",
            fix: "set cap > floor on every row",
          },
        );
      }
      capScaled[r] = (c - floor[r]) / yScale;
    }
    lastCap = Number(series.cap[order[T - 1]]);
  }

  // Changepoints.
  let changepointsT: number[];
  if (options.changepoints && options.changepoints.length > 0) {
    changepointsT = options.changepoints
      .map((d, i) => (parseDs(d, `changepoints[${i}]`) - start) / tScale)
      .sort((a, b) => a - b);
  } else {
    const range = options.changepointRange ?? DEFAULTS.changepointRange;
    const histSize = Math.floor(T * range);
    let nCp = options.nChangepoints ?? DEFAULTS.nChangepoints;
    if (nCp + 1 > histSize) nCp = histSize - 1;
    changepointsT = [];
    if (nCp > 0) {
      // Prophet: np.linspace(0, hist_size - 1, n + 1).round() without the first (numpy rounds half to even).
      for (let i = 1; i <= nCp; i++) changepointsT.push(t[roundHalfEven((i * (histSize - 1)) / nCp)]);
    }
  }
  // Without changepoints Prophet still fits one delta at t = 0 and folds it into k afterwards.
  const noChangepoints = changepointsT.length === 0;
  if (noChangepoints) changepointsT = [0];
  const S = changepointsT.length;
  const tau = options.changepointPriorScale ?? DEFAULTS.changepointPriorScale;

  // Seasonalities and features.
  const components: Component[] = [];
  const featureNames: string[] = [];
  const priorScales: number[] = [];
  const modes: Mode[] = [];
  const sps = options.seasonalityPriorScale ?? DEFAULTS.seasonalityPriorScale;
  const seasonalities: SeasonalitySpec[] = [];
  const span = ds[T - 1] - ds[0];
  let minDt = Number.POSITIVE_INFINITY;
  for (let r = 1; r < T; r++) {
    const dt = ds[r] - ds[r - 1];
    if (dt > 0 && dt < minDt) minDt = dt;
  }
  const auto = (
    sw: SeasonalitySwitch | undefined,
    name: string,
    period: number,
    order: number,
    on: boolean,
  ) => {
    const s = sw ?? "auto";
    const enabled = s === "auto" ? on : s !== false;
    if (!enabled) return;
    seasonalities.push({
      name,
      period,
      fourierOrder: typeof s === "number" ? s : order,
      priorScale: sps,
      mode: seasonalityMode,
    });
  };
  auto(options.yearlySeasonality, "yearly", 365.25, 10, span >= 730);
  auto(options.weeklySeasonality, "weekly", 7, 3, span >= 14 && minDt < 7);
  auto(options.dailySeasonality, "daily", 1, 4, span >= 2 && minDt < 1);
  for (const s of options.seasonalities ?? [])
    seasonalities.push({ priorScale: sps, mode: seasonalityMode, ...s });
  for (const s of seasonalities) {
    if (!(s.fourierOrder >= 1)) continue;
    const from = featureNames.length;
    for (let i = 1; i <= s.fourierOrder; i++) {
      for (const f of ["sin", "cos"]) {
        featureNames.push(`${s.name}_${f}${i}`);
        priorScales.push(s.priorScale ?? sps);
        modes.push(s.mode ?? seasonalityMode);
      }
    }
    components.push({
      name: s.name,
      kind: "seasonality",
      mode: s.mode ?? seasonalityMode,
      from,
      to: featureNames.length,
      period: s.period,
      order: s.fourierOrder,
    });
  }
  const holidayFeatures = holidayFeaturesOf(
    options.holidays ?? [],
    options.holidaysPriorScale ?? DEFAULTS.holidaysPriorScale,
  );
  if (holidayFeatures.length > 0) {
    const from = featureNames.length;
    const hmode = options.holidaysMode ?? seasonalityMode;
    for (const h of holidayFeatures) {
      featureNames.push(h.name);
      priorScales.push(h.priorScale);
      modes.push(hmode);
    }
    components.push({ name: "holidays", kind: "holiday", mode: hmode, from, to: featureNames.length });
  }
  const regressorStats: ProphetModel["regressorStats"] = [];
  for (const reg of options.regressors ?? []) {
    const values = series.regressors?.[reg.name];
    if (!values)
      throw new NonRetriableError(`regressor "${reg.name}" has no values`, {
        field: `regressors.${reg.name}`,
        fix: "add the column to the input",
      });
    const col = order.map((i) => Number(values[i]));
    if (col.some((v) => !Number.isFinite(v))) {
      throw new NonRetriableError(`regressor "${reg.name}" has a missing value in history`, {
        field: `regressors.${reg.name}`,
        fix: "fill every history row",
      });
    }
    const binary = col.every((v) => v === 0 || v === 1);
    const standardize =
      reg.standardize === "auto" || reg.standardize === undefined ? !binary : reg.standardize;
    let mu = 0;
    let std = 1;
    if (standardize) {
      mu = col.reduce((a, b) => a + b, 0) / T;
      std = Math.sqrt(col.reduce((a, b) => a + (b - mu) ** 2, 0) / Math.max(1, T - 1));
      if (!(std > 0)) std = 1;
    }
    regressorStats.push({ name: reg.name, mu, std });
    const from = featureNames.length;
    featureNames.push(reg.name);
    priorScales.push(reg.priorScale ?? options.holidaysPriorScale ?? DEFAULTS.holidaysPriorScale);
    modes.push(reg.mode ?? seasonalityMode);
    components.push({
      name: reg.name,
      kind: "regressor",
      mode: reg.mode ?? seasonalityMode,
      from,
      to: featureNames.length,
    });
  }
  const K = featureNames.length;
  const X = buildFeatures(ds, components, holidayFeatures, regressorStats, (name, r) =>
    Number(series.regressors?.[name]?.[order[r]]),
  );

  const model: ProphetModel = {
    kind: "prophet",
    growth,
    start,
    tScale,
    yScale,
    changepointsT,
    components,
    holidayFeatures,
    regressorStats,
    featureNames,
    priorScales,
    modes,
    params: { k: 0, m: 0, delta: new Array(S).fill(0), sigmaObs: 1, beta: new Array(K).fill(0) },
    historyDs: Array.from(allDs).sort((a, b) => a - b),
    historyY: [],
    lastCap,
    lastFloor: floor[T - 1],
    intervalWidth: options.intervalWidth ?? DEFAULTS.intervalWidth,
    uncertaintySamples: options.uncertaintySamples ?? DEFAULTS.uncertaintySamples,
    fit: { iterations: 0, evaluations: 0, converged: true, reason: "", objective: 0, ms: 0 },
  };
  const yByDs = new Map<number, number>();
  for (let i = 0; i < n0; i++) yByDs.set(allDs[i], Number(series.y[i]));
  model.historyDs = [...new Set(model.historyDs)];
  model.historyY = model.historyDs.map((d) => yByDs.get(d) ?? Number.NaN);

  // Prophet skips the fit of a constant series under linear growth.
  let yMin = Number.POSITIVE_INFINITY;
  let yMax = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < T; r++) {
    yMin = Math.min(yMin, yRaw[r]);
    yMax = Math.max(yMax, yRaw[r]);
  }
  if (yMin === yMax && growth === "linear") {
    model.params = { k: 0, m: y[0], delta: new Array(S).fill(0), sigmaObs: 1e-9, beta: new Array(K).fill(0) };
    model.fit = {
      iterations: 0,
      evaluations: 0,
      converged: true,
      reason: "constant series",
      objective: 0,
      ms: performance.now() - started,
    };
    return model;
  }

  const init = growth === "linear" ? linearInit(t, y) : logisticInit(t, y, capScaled);
  const problem: Problem = {
    growth,
    t,
    y,
    cap: capScaled,
    X,
    K,
    T,
    S,
    cp: Float64Array.from(changepointsT),
    priorScales: Float64Array.from(priorScales),
    isMult: Float64Array.from(modes.map((m) => (m === "multiplicative" ? 1 : 0))),
    anyMult: modes.includes("multiplicative"),
    multAll: Int32Array.from(modes.flatMap((m, j) => (m === "multiplicative" ? [j] : []))),
    addAll: Int32Array.from(modes.flatMap((m, j) => (m === "multiplicative" ? [] : [j]))),
    tau,
  };
  const segStarts = segmentStarts(t, problem.cp);
  const x0 = new Float64Array(3 + S + K);
  x0[0] = init.k;
  x0[1] = init.m;
  x0[2 + S] = 0; // log sigma_obs = 0
  const l1 = new Float64Array(x0.length);
  for (let j = 0; j < S; j++) l1[2 + j] = 1 / tau;
  // The Gram matrix (and the preconditioning taken from its diagonal) only serves the linear-additive posterior
  // and the exact and OWL-QN solvers: built on first use, so Stan's L-BFGS on other models never pays for it.
  let gramMemo: Gram | undefined;
  const gramNow = (): Gram => {
    gramMemo ??= gramOf(problem);
    return gramMemo;
  };
  // Diagonal preconditioning: optimise x' = x / d with d_i ~ 1 / sqrt(curvature_i); the L1 weights scale along.
  const P = 3 + S + K;
  let precondMemo: { d: Float64Array; xs0: Float64Array; l1s: Float64Array } | undefined;
  const precond = () => {
    if (precondMemo) return precondMemo;
    const gram = gramNow();
    const d = new Float64Array(P);
    for (let i = 0; i < P; i++) {
      const prior = i < 2 ? 1 / 25 : i < 2 + S ? 0 : i === 2 + S ? 0 : 1 / priorScales[i - 3 - S] ** 2;
      d[i] =
        i === 2 + S ? 1 / Math.sqrt(2 * T) : 1 / Math.sqrt(gram.diag[i < 2 + S ? i : i - 1] + prior + 1e-9);
    }
    const xs0 = new Float64Array(P);
    const l1s = new Float64Array(P);
    for (let i = 0; i < P; i++) {
      xs0[i] = x0[i] / d[i];
      l1s[i] = l1[i] * d[i];
    }
    precondMemo = { d, xs0, l1s };
    return precondMemo;
  };
  const xFull = new Float64Array(P);
  const gFull = new Float64Array(P);
  const allAdditive = modes.every((mo) => mo === "additive");
  const scratch = makeScratch(T, S, K);
  testHooks.onProblem?.({
    evaluate: (x, g) => objective(problem, segStarts, scratch, x, g),
    x0: Float64Array.from(x0),
    l1,
  });
  const evalFull = (xs: Float64Array, gs: Float64Array): number => {
    const { d } = precond();
    for (let i = 0; i < P; i++) xFull[i] = xs[i] * d[i];
    const f =
      growth === "linear" && allAdditive
        ? quadraticObjective(problem, gramNow(), xFull, gFull)
        : objective(problem, segStarts, scratch, xFull, gFull);
    for (let i = 0; i < P; i++) gs[i] = gFull[i] * d[i];
    return f;
  };
  let result: {
    x: Float64Array;
    value: number;
    iterations: number;
    evaluations: number;
    converged: boolean;
    reason: string;
  };
  const optimizer = options.optimizer ?? "auto";
  const exact = (): typeof result =>
    growth === "linear" && allAdditive ? solveQuadratic(problem, gramNow(), x0, l1) : exactGeneral();
  const exactGeneral = (): typeof result => {
    let r0 = solveGaussNewton(problem, segStarts, scratch, x0, l1);
    if (!r0.converged) {
      // Polish (or rescue) with OWL-QN from where Gauss-Newton stopped.
      const { d, l1s } = precond();
      const xs = new Float64Array(P);
      for (let i = 0; i < P; i++) xs[i] = r0.x[i] / d[i];
      const r = minimize(evalFull, xs, {
        l1: l1s,
        maxIterations: options.maxIterations ?? DEFAULTS.maxIterations,
      });
      if (Number.isFinite(r.value) && !(r.value > r0.value))
        r0 = { ...r, x: r.x.map((v, i) => v * d[i]), reason: `gauss-newton then owl-qn: ${r.reason}` };
    }
    return r0;
  };
  if (optimizer === "stan" || (optimizer === "auto" && T >= 100)) {
    // Stan works on the unscaled parameters with the Laplace term's derivative at 0 taken as 0.
    if (growth === "linear" && allAdditive) gramNow();
    const evalStan = (x: Float64Array, g: Float64Array): number => {
      let f =
        growth === "linear" && allAdditive
          ? quadraticObjective(problem, gramMemo as Gram, x, g)
          : objective(problem, segStarts, scratch, x, g);
      for (let j = 0; j < S; j++) {
        const v = x[2 + j];
        f += l1[2 + j] * Math.abs(v);
        if (v !== 0) g[2 + j] += v > 0 ? l1[2 + j] : -l1[2 + j];
      }
      return f;
    };
    const r = minimizeStanLbfgs(evalStan, x0, {
      maxIterations: options.maxIterations ?? DEFAULTS.maxIterations,
      ...options.stanTolerances,
    });
    result = { ...r, reason: `stan l-bfgs: ${r.reason}` };
    if (optimizer === "auto" && (!r.converged || !Number.isFinite(r.value))) {
      // Prophet retries a failed line search with Newton, which runs to the optimum: the exact solver here.
      // At the iteration limit rstan returns its last point; the exact optimum replaces it only if it scores better.
      const e = exact();
      const lsFailed = r.reason !== "iteration limit" || !Number.isFinite(r.value);
      if (lsFailed || (Number.isFinite(e.value) && e.value <= r.value))
        result = { ...e, reason: `stan l-bfgs ${r.reason}; then ${e.reason}` };
    }
  } else if (optimizer !== "owlqn") {
    result = exact();
  } else {
    const { d, xs0, l1s } = precond();
    const r = minimize(evalFull, xs0, {
      l1: l1s,
      maxIterations: options.maxIterations ?? DEFAULTS.maxIterations,
    });
    result = { ...r, x: r.x.map((v, i) => v * d[i]) };
  }
  const x = result.x;
  const params: ProphetParams = {
    k: x[0],
    m: x[1],
    delta: Array.from(x.subarray(2, 2 + S)),
    sigmaObs: Math.exp(x[2 + S]),
    beta: Array.from(x.subarray(3 + S)),
  };
  if (noChangepoints && growth === "linear") {
    params.k += params.delta[0];
    params.delta[0] = 0;
  }
  const finite =
    Number.isFinite(result.value) &&
    [params.k, params.m, params.sigmaObs, ...params.delta, ...params.beta].every(Number.isFinite);
  if (!finite) throw new ProphetFitError(`optimizer ended on a non-finite point (${result.reason})`);
  model.params = params;
  model.fit = {
    iterations: result.iterations,
    evaluations: result.evaluations,
    converged: result.converged,
    reason: result.reason,
    objective: result.value,
    ms: performance.now() - started,
  };
  return model;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (Math.abs(d - 0.5) < 1e-9) return f % 2 === 0 ? f : f + 1;
  return Math.round(v);
}

function holidayFeaturesOf(events: HolidayEvent[], defaultScale: number): HolidayFeature[] {
  const byName = new Map<string, HolidayFeature>();
  for (const [i, e] of events.entries()) {
    if (!e.holiday)
      throw new NonRetriableError(`holidays[${i}] has no holiday name`, { field: `holidays[${i}].holiday` });
    const day = dayOf(parseDs(e.ds, `holidays[${i}].ds`));
    const lower = e.lowerWindow ?? 0;
    const upper = e.upperWindow ?? 0;
    if (!(lower <= 0 && upper >= 0 && Number.isInteger(lower) && Number.isInteger(upper))) {
      throw new NonRetriableError(
        `holidays[${i}] (${e.holiday}) needs integer lower_window <= 0 <= upper_window, got ${lower}, ${upper}`,
        {
          field: `holidays[${i}].lower_window`,
        },
      );
    }
    const scale = e.priorScale ?? defaultScale;
    for (let o = lower; o <= upper; o++) {
      const name = `${e.holiday}_${o < 0 ? "-" : "+"}${Math.abs(o)}`;
      let f = byName.get(name);
      if (!f) {
        f = { name, days: [], priorScale: scale };
        byName.set(name, f);
      }
      f.days.push(day + o);
    }
  }
  return [...byName.values()];
}

/** Column-major T x K feature matrix. */
function buildFeatures(
  ds: Float64Array,
  components: Component[],
  holidays: HolidayFeature[],
  regressorStats: ProphetModel["regressorStats"],
  regressorValue: (name: string, row: number) => number,
): Float64Array {
  const T = ds.length;
  const K = components.reduce((a, c) => Math.max(a, c.to), 0);
  const X = new Float64Array(T * K);
  for (const c of components) {
    if (c.kind === "seasonality") {
      const period = c.period as number;
      for (let r = 0; r < T; r++) {
        const base = (2 * Math.PI * ds[r]) / period;
        for (let i = 1; i <= (c.order as number); i++) {
          X[(c.from + 2 * (i - 1)) * T + r] = Math.sin(i * base);
          X[(c.from + 2 * (i - 1) + 1) * T + r] = Math.cos(i * base);
        }
      }
    } else if (c.kind === "holiday") {
      const rowByDay = new Map<number, number[]>();
      for (let r = 0; r < T; r++) {
        const d = dayOf(ds[r]);
        const rows = rowByDay.get(d);
        if (rows) rows.push(r);
        else rowByDay.set(d, [r]);
      }
      holidays.forEach((h, j) => {
        for (const d of h.days) for (const r of rowByDay.get(d) ?? []) X[(c.from + j) * T + r] = 1;
      });
    } else {
      const stats = regressorStats.find((s) => s.name === c.name) as { mu: number; std: number };
      for (let r = 0; r < T; r++) X[c.from * T + r] = (regressorValue(c.name, r) - stats.mu) / stats.std;
    }
  }
  return X;
}

function linearInit(t: Float64Array, y: Float64Array): { k: number; m: number } {
  const T = t.length;
  const k = (y[T - 1] - y[0]) / (t[T - 1] - t[0]);
  return { k, m: y[0] - k * t[0] };
}

function logisticInit(t: Float64Array, y: Float64Array, cap: Float64Array): { k: number; m: number } {
  const T = t.length;
  const dt = t[T - 1] - t[0];
  const c0 = cap[0];
  const c1 = cap[T - 1];
  const y0 = Math.max(0.01 * c0, Math.min(0.99 * c0, y[0]));
  const y1 = Math.max(0.01 * c1, Math.min(0.99 * c1, y[T - 1]));
  let r0 = c0 / y0;
  const r1 = c1 / y1;
  if (Math.abs(r0 - r1) <= 0.01) r0 *= 1.05;
  const l0 = Math.log(r0 - 1);
  const l1 = Math.log(r1 - 1);
  return { m: (l0 * dt) / (l0 - l1), k: (l0 - l1) / dt };
}

interface Problem {
  growth: Growth;
  t: Float64Array;
  y: Float64Array;
  cap: Float64Array;
  X: Float64Array;
  K: number;
  T: number;
  S: number;
  cp: Float64Array;
  priorScales: Float64Array;
  isMult: Float64Array;
  /** Whether any column is multiplicative, and the multiplicative and additive column indices in order. */
  anyMult: boolean;
  multAll: Int32Array;
  addAll: Int32Array;
  tau: number;
}

interface Scratch {
  trend: Float64Array;
  sa: Float64Array;
  sm: Float64Array;
  w: Float64Array;
  v: Float64Array;
  u: Float64Array;
  kSeg: Float64Array;
  mSeg: Float64Array;
  kBar: Float64Array;
  mBar: Float64Array;
  addCols: Int32Array;
  multCols: Int32Array;
}

function makeScratch(T: number, S: number, K: number): Scratch {
  return {
    trend: new Float64Array(T),
    sa: new Float64Array(T),
    sm: new Float64Array(T),
    w: new Float64Array(T),
    v: new Float64Array(T),
    u: new Float64Array(T),
    kSeg: new Float64Array(S + 1),
    mSeg: new Float64Array(S + 1),
    kBar: new Float64Array(S + 1),
    mBar: new Float64Array(S + 1),
    addCols: new Int32Array(K),
    multCols: new Int32Array(K),
  };
}

/**
 * Sufficient statistics of linear growth: Z = [t, 1, (t - cp_j)+, X] (P = 2 + S + K columns), G = Z'Z, b = Z'y.
 * With every component additive the likelihood only needs them, so an evaluation costs O(P^2), not O(T P).
 */
interface Gram {
  P: number;
  G: Float64Array;
  b: Float64Array;
  yy: number;
  diag: Float64Array;
}

function gramOf(p: Problem): Gram {
  const { T, S, K, t, y, X } = p;
  const P = 2 + S + K;
  const Z = new Float64Array(P * T);
  for (let r = 0; r < T; r++) {
    Z[r] = t[r];
    Z[T + r] = 1;
  }
  for (let j = 0; j < S; j++) {
    const off = (2 + j) * T;
    for (let r = 0; r < T; r++) Z[off + r] = t[r] >= p.cp[j] ? t[r] - p.cp[j] : 0;
  }
  Z.set(X.subarray(0, K * T), (2 + S) * T);
  const G = new Float64Array(P * P);
  const b = new Float64Array(P);
  for (let a = 0; a < P; a++) {
    const za = Z.subarray(a * T, (a + 1) * T);
    let sb = 0;
    for (let r = 0; r < T; r++) sb += za[r] * y[r];
    b[a] = sb;
    for (let c = a; c < P; c++) {
      const zc = Z.subarray(c * T, (c + 1) * T);
      let acc = 0;
      for (let r = 0; r < T; r++) acc += za[r] * zc[r];
      G[a * P + c] = acc;
      G[c * P + a] = acc;
    }
  }
  let yy = 0;
  for (let r = 0; r < T; r++) yy += y[r] * y[r];
  const diag = new Float64Array(P);
  for (let a = 0; a < P; a++) diag[a] = G[a * P + a];
  return { P, G, b, yy, diag };
}

/**
 * MAP for linear growth with additive components: at fixed sigma the problem is an L1-penalised quadratic in
 * (k, m, delta, beta), solved exactly; sigma then has a closed form (T sigma^2 + 4 sigma^4 = ss); alternate.
 */
function solveQuadratic(p: Problem, gram: Gram, x0: Float64Array, l1: Float64Array) {
  const { S, K, T } = p;
  const { P, G, b } = gram;
  const prior = new Float64Array(P);
  prior[0] = 1 / 25;
  prior[1] = 1 / 25;
  for (let j = 0; j < K; j++) prior[2 + S + j] = 1 / p.priorScales[j] ** 2;
  const lam = new Float64Array(P);
  for (let j = 0; j < S; j++) lam[2 + j] = l1[2 + j];
  let pv: Float64Array = new Float64Array(P);
  pv[0] = x0[0];
  pv[1] = x0[1];
  let sigma = 1;
  const H = new Float64Array(P * P);
  const c = new Float64Array(P);
  const l1s = new Float64Array(P);
  let iterations = 0;
  let steps = 0;
  let converged = false;
  for (; iterations < 500; iterations++) {
    // Multiply the problem through by sigma^2: 1/2 p'(G + s^2 Pr)p - b'p + s^2 sum lam |p|.
    const s2 = sigma * sigma;
    for (let i = 0; i < P * P; i++) H[i] = G[i];
    for (let i = 0; i < P; i++) {
      H[i * P + i] += s2 * prior[i];
      c[i] = b[i];
      l1s[i] = s2 * lam[i];
    }
    const r = minimizeL1Quadratic(H, c, l1s, pv);
    steps += r.steps;
    pv = r.x;
    let ss = gram.yy;
    for (let a = 0; a < P; a++) {
      let acc = 0;
      for (let e = 0; e < P; e++) acc += G[a * P + e] * pv[e];
      ss += pv[a] * (acc - 2 * b[a]);
    }
    ss = Math.max(ss, 0);
    const next = Math.sqrt(Math.max((-T + Math.sqrt(T * T + 16 * ss)) / 8, 1e-300));
    const change = Math.abs(next - sigma) / sigma;
    sigma = next;
    if (change < 1e-12) {
      converged = r.converged;
      break;
    }
  }
  const x = new Float64Array(3 + S + K);
  for (let i = 0; i < 2 + S; i++) x[i] = pv[i];
  x[2 + S] = Math.log(sigma);
  for (let j = 0; j < K; j++) x[3 + S + j] = pv[2 + S + j];
  const g = new Float64Array(x.length);
  let value = quadraticObjective(p, gram, x, g);
  for (let j = 0; j < S; j++) value += l1[2 + j] * Math.abs(x[2 + j]);
  return {
    x,
    value,
    iterations,
    evaluations: steps,
    converged,
    reason: converged ? "active set exact" : "sigma iteration limit",
  };
}

/**
 * MAP for logistic growth or multiplicative terms: proximal Gauss-Newton. At fixed sigma each step solves the
 * L1-penalised quadratic model 1/2 |r - J d|^2 + priors exactly (feature-sign), then backtracks on the true
 * objective; sigma is then set in closed form from the new residuals.
 */
function solveGaussNewton(p: Problem, seg: Int32Array, scratch: Scratch, x0: Float64Array, l1: Float64Array) {
  const { T, S, K, t, X } = p;
  const P = 2 + S + K;
  const n = 3 + S + K;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  const J = new Float64Array(P * T);
  const r = new Float64Array(T);
  const H = new Float64Array(P * P);
  const c = new Float64Array(P);
  const lam = new Float64Array(P);
  const prior = new Float64Array(P);
  prior[0] = 1 / 25;
  prior[1] = 1 / 25;
  for (let j = 0; j < K; j++) prior[2 + S + j] = 1 / p.priorScales[j] ** 2;
  const total = (v: Float64Array) => {
    let f = objective(p, seg, scratch, v, g);
    for (let j = 0; j < S; j++) f += l1[2 + j] * Math.abs(v[2 + j]);
    return f;
  };
  const sigmaFor = (ss: number) => Math.sqrt(Math.max((-T + Math.sqrt(T * T + 16 * ss)) / 8, 1e-300));
  const ssOf = () => {
    let ss = 0;
    for (let i = 0; i < T; i++) {
      const res = p.y[i] - (scratch.trend[i] * (1 + scratch.sm[i]) + scratch.sa[i]);
      ss += res * res;
    }
    return ss;
  };
  let f = total(x);
  if (!Number.isFinite(f))
    return {
      x,
      value: f,
      iterations: 0,
      evaluations: 1,
      converged: false,
      reason: "non-finite objective at the start",
    };
  x[2 + S] = Math.log(sigmaFor(ssOf()));
  f = total(x);
  const dk = new Float64Array((S + 1) * (2 + S));
  const dm = new Float64Array((S + 1) * (2 + S));
  let evaluations = 2;
  for (let it = 1; it <= 200; it++) {
    // Residuals and Jacobian of mu at x (objective() left trend, sa, sm in scratch).
    total(x);
    evaluations++;
    const { trend, sa, sm, kSeg, mSeg } = scratch;
    for (let i = 0; i < T; i++) r[i] = p.y[i] - (trend[i] * (1 + sm[i]) + sa[i]);
    J.fill(0);
    if (p.growth === "linear") {
      for (let i = 0; i < T; i++) {
        const f1 = 1 + sm[i];
        J[i] = t[i] * f1;
        J[T + i] = f1;
      }
      for (let j = 0; j < S; j++) {
        const off = (2 + j) * T;
        for (let i = seg[j + 1]; i < T; i++) J[off + i] = (t[i] - p.cp[j]) * (1 + sm[i]);
      }
    } else {
      // Forward derivatives of each segment's rate k_c and midpoint m_c w.r.t. (k, m, delta).
      const W = 2 + S;
      dk.fill(0);
      dm.fill(0);
      dk[0] = 1;
      dm[1] = 1;
      for (let cc = 1; cc <= S; cc++) {
        for (let q = 0; q < W; q++) dk[cc * W + q] = dk[(cc - 1) * W + q];
        dk[cc * W + 2 + cc - 1] += 1;
        const kj = kSeg[cc - 1];
        const kj1 = kSeg[cc];
        const mj = mSeg[cc - 1];
        const sj = p.cp[cc - 1];
        for (let q = 0; q < W; q++) {
          dm[cc * W + q] =
            (dm[(cc - 1) * W + q] * kj) / kj1 +
            (mj - sj) * (dk[(cc - 1) * W + q] / kj1 - (kj * dk[cc * W + q]) / (kj1 * kj1));
        }
      }
      for (let cc = 0; cc <= S; cc++) {
        const kc = kSeg[cc];
        const mc = mSeg[cc];
        for (let i = seg[cc]; i < seg[cc + 1]; i++) {
          const capR = p.cap[i];
          const sg = capR === 0 ? 0 : trend[i] / capR;
          const dz = capR * sg * (1 - sg) * (1 + sm[i]);
          for (let q = 0; q <= 1 + cc && q < W; q++) {
            const v = dz * (dk[cc * W + q] * (t[i] - mc) - kc * dm[cc * W + q]);
            if (v !== 0) J[q * T + i] = v;
          }
        }
      }
    }
    for (let j = 0; j < K; j++) {
      const off = (2 + S + j) * T;
      const xo = j * T;
      if (p.isMult[j] === 1) for (let i = 0; i < T; i++) J[off + i] = X[xo + i] * trend[i];
      else J.set(X.subarray(xo, xo + T), off);
    }
    const sigma = Math.exp(x[2 + S]);
    const s2 = sigma * sigma;
    const theta = new Float64Array(P);
    for (let i = 0; i < 2 + S; i++) theta[i] = x[i];
    for (let j = 0; j < K; j++) theta[2 + S + j] = x[3 + S + j];
    for (let a = 0; a < P; a++) {
      const ja = J.subarray(a * T, (a + 1) * T);
      let jr = 0;
      for (let i = 0; i < T; i++) jr += ja[i] * r[i];
      c[a] = jr;
      for (let b2 = a; b2 < P; b2++) {
        const jb = J.subarray(b2 * T, (b2 + 1) * T);
        let acc = 0;
        for (let i = 0; i < T; i++) acc += ja[i] * jb[i];
        H[a * P + b2] = acc;
        H[b2 * P + a] = acc;
      }
    }
    for (let a = 0; a < P; a++) {
      let acc = 0;
      for (let b2 = 0; b2 < P; b2++) acc += H[a * P + b2] * theta[b2];
      c[a] += acc;
      H[a * P + a] += s2 * prior[a];
      lam[a] = a >= 2 && a < 2 + S ? s2 * l1[a] : 0;
    }
    const sub = minimizeL1Quadratic(H, c, lam, theta);
    // Backtrack along theta -> sub.x on the true objective at this sigma.
    const cand = new Float64Array(n);
    let step = 1;
    let accepted = false;
    let fNew = f;
    for (let ls = 0; ls < 40; ls++) {
      for (let i = 0; i < 2 + S; i++) cand[i] = theta[i] + step * (sub.x[i] - theta[i]);
      cand[2 + S] = x[2 + S];
      for (let j = 0; j < K; j++)
        cand[3 + S + j] = theta[2 + S + j] + step * (sub.x[2 + S + j] - theta[2 + S + j]);
      fNew = total(cand);
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= f) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted)
      return {
        x,
        value: f,
        iterations: it,
        evaluations,
        converged: false,
        reason: "gauss-newton line search failed",
      };
    cand[2 + S] = Math.log(sigmaFor(ssOf()));
    fNew = total(cand);
    evaluations++;
    const rel = Math.abs(f - fNew) / Math.max(Math.abs(f), Math.abs(fNew), 1);
    let moved = 0;
    for (let i = 0; i < n; i++) moved = Math.max(moved, Math.abs(cand[i] - x[i]));
    x.set(cand);
    f = fNew;
    if (rel < 1e-13 || moved < 1e-10)
      return { x, value: f, iterations: it, evaluations, converged: true, reason: "gauss-newton" };
  }
  return {
    x,
    value: f,
    iterations: 200,
    evaluations,
    converged: false,
    reason: "gauss-newton iteration limit",
  };
}

/** The same negative log posterior as {@link objective}, for linear growth with additive components only. */
function quadraticObjective(p: Problem, gram: Gram, x: Float64Array, g: Float64Array): number {
  const { S, K, T } = p;
  const { P, G, b } = gram;
  const logSigma = x[2 + S];
  const sigma = Math.exp(logSigma);
  const inv2 = 1 / (sigma * sigma);
  // pv = (k, m, delta, beta): x without log sigma.
  const pv = new Float64Array(P);
  for (let i = 0; i < 2 + S; i++) pv[i] = x[i];
  for (let j = 0; j < K; j++) pv[2 + S + j] = x[3 + S + j];
  let ss = gram.yy;
  const gp = new Float64Array(P);
  for (let a = 0; a < P; a++) {
    let acc = 0;
    const row = a * P;
    for (let c = 0; c < P; c++) acc += G[row + c] * pv[c];
    gp[a] = acc - b[a];
    ss += pv[a] * (acc - 2 * b[a]);
  }
  if (ss < 0) ss = 0;
  const k = x[0];
  const m = x[1];
  let f = T * logSigma + 0.5 * ss * inv2 + (sigma * sigma) / 0.5 + (k * k) / 50 + (m * m) / 50;
  for (let i = 0; i < 2 + S; i++) g[i] = gp[i] * inv2;
  g[0] += k / 25;
  g[1] += m / 25;
  g[2 + S] = T - ss * inv2 + (sigma * sigma) / 0.25;
  for (let j = 0; j < K; j++) {
    const bj = x[3 + S + j];
    const ps = p.priorScales[j];
    f += (bj * bj) / (2 * ps * ps);
    g[3 + S + j] = gp[2 + S + j] * inv2 + bj / (ps * ps);
  }
  return f;
}

/** target[r] += b_j X_jr for the listed columns j in order, four columns per pass. */
function addColumns(
  target: Float64Array,
  X: Float64Array,
  x: Float64Array,
  at: number,
  T: number,
  cols: Int32Array,
  n: number,
): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o0 = cols[i] * T;
    const o1 = cols[i + 1] * T;
    const o2 = cols[i + 2] * T;
    const o3 = cols[i + 3] * T;
    const o4 = cols[i + 4] * T;
    const o5 = cols[i + 5] * T;
    const o6 = cols[i + 6] * T;
    const o7 = cols[i + 7] * T;
    const b0 = x[at + cols[i]];
    const b1 = x[at + cols[i + 1]];
    const b2 = x[at + cols[i + 2]];
    const b3 = x[at + cols[i + 3]];
    const b4 = x[at + cols[i + 4]];
    const b5 = x[at + cols[i + 5]];
    const b6 = x[at + cols[i + 6]];
    const b7 = x[at + cols[i + 7]];
    for (let r = 0; r < T; r++)
      target[r] =
        target[r] +
        b0 * X[o0 + r] +
        b1 * X[o1 + r] +
        b2 * X[o2 + r] +
        b3 * X[o3 + r] +
        b4 * X[o4 + r] +
        b5 * X[o5 + r] +
        b6 * X[o6 + r] +
        b7 * X[o7 + r];
  }
  for (; i + 4 <= n; i += 4) {
    const o0 = cols[i] * T;
    const o1 = cols[i + 1] * T;
    const o2 = cols[i + 2] * T;
    const o3 = cols[i + 3] * T;
    const b0 = x[at + cols[i]];
    const b1 = x[at + cols[i + 1]];
    const b2 = x[at + cols[i + 2]];
    const b3 = x[at + cols[i + 3]];
    for (let r = 0; r < T; r++)
      target[r] = target[r] + b0 * X[o0 + r] + b1 * X[o1 + r] + b2 * X[o2 + r] + b3 * X[o3 + r];
  }
  for (; i < n; i++) {
    const o = cols[i] * T;
    const b = x[at + cols[i]];
    for (let r = 0; r < T; r++) target[r] += b * X[o + r];
  }
}

/** g[at + j] += sum_r v_r X_jr (summed in row order) for the listed columns j, four columns per pass. */
function dotColumns(
  g: Float64Array,
  at: number,
  v: Float64Array,
  X: Float64Array,
  T: number,
  cols: Int32Array,
  n: number,
): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o0 = cols[i] * T;
    const o1 = cols[i + 1] * T;
    const o2 = cols[i + 2] * T;
    const o3 = cols[i + 3] * T;
    const o4 = cols[i + 4] * T;
    const o5 = cols[i + 5] * T;
    const o6 = cols[i + 6] * T;
    const o7 = cols[i + 7] * T;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let a4 = 0;
    let a5 = 0;
    let a6 = 0;
    let a7 = 0;
    for (let r = 0; r < T; r++) {
      const vr = v[r];
      a0 += vr * X[o0 + r];
      a1 += vr * X[o1 + r];
      a2 += vr * X[o2 + r];
      a3 += vr * X[o3 + r];
      a4 += vr * X[o4 + r];
      a5 += vr * X[o5 + r];
      a6 += vr * X[o6 + r];
      a7 += vr * X[o7 + r];
    }
    g[at + cols[i]] += a0;
    g[at + cols[i + 1]] += a1;
    g[at + cols[i + 2]] += a2;
    g[at + cols[i + 3]] += a3;
    g[at + cols[i + 4]] += a4;
    g[at + cols[i + 5]] += a5;
    g[at + cols[i + 6]] += a6;
    g[at + cols[i + 7]] += a7;
  }
  for (; i + 4 <= n; i += 4) {
    const o0 = cols[i] * T;
    const o1 = cols[i + 1] * T;
    const o2 = cols[i + 2] * T;
    const o3 = cols[i + 3] * T;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let r = 0; r < T; r++) {
      const vr = v[r];
      a0 += vr * X[o0 + r];
      a1 += vr * X[o1 + r];
      a2 += vr * X[o2 + r];
      a3 += vr * X[o3 + r];
    }
    g[at + cols[i]] += a0;
    g[at + cols[i + 1]] += a1;
    g[at + cols[i + 2]] += a2;
    g[at + cols[i + 3]] += a3;
  }
  for (; i < n; i++) {
    const o = cols[i] * T;
    let a = 0;
    for (let r = 0; r < T; r++) a += v[r] * X[o + r];
    g[at + cols[i]] += a;
  }
}

/** segStarts[c] = first row whose t >= cp[c-1] (segment c has c active changepoints); segStarts[S+1] = T. */
function segmentStarts(t: Float64Array, cp: Float64Array): Int32Array {
  const S = cp.length;
  const out = new Int32Array(S + 2);
  let r = 0;
  for (let c = 1; c <= S; c++) {
    while (r < t.length && t[r] < cp[c - 1]) r++;
    out[c] = r;
  }
  out[S + 1] = t.length;
  return out;
}

/** Negative log posterior (without the delta L1 term, which the optimizer adds) and its gradient. */
function objective(p: Problem, seg: Int32Array, s: Scratch, x: Float64Array, g: Float64Array): number {
  const { T, S, K, t, y, X } = p;
  const k = x[0];
  const m = x[1];
  const logSigma = x[2 + S];
  const sigma = Math.exp(logSigma);
  const { trend, sa, sm, w, v, u, kSeg, mSeg, kBar, mBar } = s;
  g.fill(0);

  // Trend per segment.
  kSeg[0] = k;
  mSeg[0] = m;
  if (p.growth === "linear") {
    // Segment c: rate k + sum_{j<c} delta_j, offset m - sum_{j<c} cp_j delta_j.
    for (let c = 1; c <= S; c++) {
      kSeg[c] = kSeg[c - 1] + x[2 + c - 1];
      mSeg[c] = mSeg[c - 1] - p.cp[c - 1] * x[2 + c - 1];
    }
    for (let c = 0; c <= S; c++) {
      const kc = kSeg[c];
      const mc = mSeg[c];
      for (let r = seg[c]; r < seg[c + 1]; r++) trend[r] = kc * t[r] + mc;
    }
  } else {
    // Segment c: rate k_c, midpoint m_c with m_{c+1} = m_c + (cp_c - m_c)(1 - k_c / k_{c+1}) (Prophet's gamma).
    for (let c = 1; c <= S; c++) {
      kSeg[c] = kSeg[c - 1] + x[2 + c - 1];
      mSeg[c] = mSeg[c - 1] + (p.cp[c - 1] - mSeg[c - 1]) * (1 - kSeg[c - 1] / kSeg[c]);
    }
    for (let c = 0; c <= S; c++) {
      const kc = kSeg[c];
      const mc = mSeg[c];
      for (let r = seg[c]; r < seg[c + 1]; r++) trend[r] = p.cap[r] / (1 + Math.exp(-kc * (t[r] - mc)));
    }
  }

  // Seasonal terms, up to four columns per pass over the rows. Each row still adds its columns in column order,
  // one rounding at a time, so the sums are bit for bit those of one column per pass.
  sa.fill(0);
  sm.fill(0);
  const { addCols, multCols } = s;
  let nAdd = 0;
  let nMult = 0;
  for (let j = 0; j < K; j++) {
    if (x[3 + S + j] === 0) continue;
    if (p.isMult[j] === 1) multCols[nMult++] = j;
    else addCols[nAdd++] = j;
  }
  // Multiplicative columns need d f / d beta = sum w trend X even where beta is 0.
  const anyMult = p.anyMult;
  addColumns(sa, X, x, 3 + S, T, addCols, nAdd);
  addColumns(sm, X, x, 3 + S, T, multCols, nMult);

  // Likelihood.
  const inv2 = 1 / (sigma * sigma);
  let ss = 0;
  for (let r = 0; r < T; r++) {
    const mu = trend[r] * (1 + sm[r]) + sa[r];
    const res = y[r] - mu;
    ss += res * res;
    w[r] = -res * inv2; // d f / d mu
    v[r] = w[r] * (1 + sm[r]); // d f / d trend
    if (anyMult) u[r] = w[r] * trend[r];
  }
  let f = T * logSigma + 0.5 * ss * inv2;
  g[2 + S] = T - ss * inv2 + (sigma * sigma) / 0.25;
  f += (sigma * sigma) / 0.5;
  // Priors.
  f += (k * k) / 50 + (m * m) / 50;
  g[0] += k / 25;
  g[1] += m / 25;
  for (let j = 0; j < K; j++) {
    const b = x[3 + S + j];
    const ps = p.priorScales[j];
    f += (b * b) / (2 * ps * ps);
    g[3 + S + j] = b / (ps * ps);
  }
  // d f / d beta_j = prior + sum_r (u or w)_r X_jr, four columns per pass, each summed in row order.
  dotColumns(g, 3 + S, u, X, T, p.multAll, p.multAll.length);
  dotColumns(g, 3 + S, w, X, T, p.addAll, p.addAll.length);

  // Trend gradient.
  if (p.growth === "linear") {
    // d/d delta_j = sum_{segments c > j} sum_r v_r (t_r - cp_j).
    let sv = 0;
    let svt = 0;
    for (let c = S; c >= 0; c--) {
      for (let r = seg[c]; r < seg[c + 1]; r++) {
        sv += v[r];
        svt += v[r] * t[r];
      }
      if (c >= 1) g[2 + c - 1] = svt - p.cp[c - 1] * sv;
    }
    g[0] += svt;
    g[1] += sv;
  } else {
    for (let c = 0; c <= S; c++) {
      const kc = kSeg[c];
      const mc = mSeg[c];
      let kb = 0;
      let mb = 0;
      for (let r = seg[c]; r < seg[c + 1]; r++) {
        const capR = p.cap[r];
        const sg = capR === 0 ? 0 : trend[r] / capR;
        const dz = v[r] * capR * sg * (1 - sg);
        kb += dz * (t[r] - mc);
        mb -= dz * kc;
      }
      kBar[c] = kb;
      mBar[c] = mb;
    }
    for (let j = S - 1; j >= 0; j--) {
      // m_{j+1} = m_j k_j / k_{j+1} + cp_j (1 - k_j / k_{j+1})
      const kj = kSeg[j];
      const kj1 = kSeg[j + 1];
      const mj = mSeg[j];
      const mb1 = mBar[j + 1];
      mBar[j] += (mb1 * kj) / kj1;
      kBar[j] += (mb1 * (mj - p.cp[j])) / kj1;
      kBar[j + 1] -= (mb1 * (mj - p.cp[j]) * kj) / (kj1 * kj1);
      g[2 + j] = kBar[j + 1];
      kBar[j] += kBar[j + 1];
    }
    g[0] += kBar[0];
    g[1] += mBar[0];
  }
  return f;
}

export interface PredictOptions {
  /** Future days after the last history date (daily steps). */
  periods?: number;
  /** Explicit dates to predict instead of history + periods. */
  dates?: string[];
  includeHistory?: boolean;
  cap?: number | ArrayLike<number>;
  floor?: number | ArrayLike<number>;
  regressors?: Record<string, ArrayLike<number>>;
  samples?: number;
  seed?: number;
  intervalWidth?: number;
  /** Return the sample paths (dates x samples, date-major). */
  keepSamples?: boolean;
  /**
   * Compute the uncertainty bands (default true). With `false` and `keepSamples`, the paths are drawn (the same
   * draws) but no quantile is taken: the bands are left at yhat and trend, for callers that only read the paths.
   */
  bands?: boolean;
  /**
   * Bands on dates without trend uncertainty (history): "exact" (default) gives yhat +- sigma * z, the limit of
   * Prophet's simulation there, without drawing; "simulated" draws them as Prophet does. Sample paths, when
   * kept, are always drawn.
   */
  historyIntervals?: "exact" | "simulated";
}

export interface Forecast {
  ds: string[];
  days: Float64Array;
  yhat: Float64Array;
  yhatLower: Float64Array;
  yhatUpper: Float64Array;
  trend: Float64Array;
  trendLower: Float64Array;
  trendUpper: Float64Array;
  /** Each seasonality, "holidays", each regressor, plus additive_terms and multiplicative_terms (Prophet's units). */
  components: Record<string, Float64Array>;
  /** Date-major: samples[d * nSamples + s]. */
  samples?: Float64Array;
  nSamples: number;
  intervalWidth: number;
}

export function futureDays(model: { historyDs: number[] }, periods: number, includeHistory = true): number[] {
  const hist = model.historyDs;
  const last = hist[hist.length - 1];
  const out = includeHistory ? hist.slice() : [];
  const lastDay = Math.floor(last);
  for (let i = 1; i <= periods; i++) out.push(lastDay + i + (last - lastDay));
  return out;
}

export function predictProphet(model: ProphetModel, options: PredictOptions = {}): Forecast {
  const days = options.dates
    ? options.dates.map((d, i) => parseDs(d, `dates[${i}]`))
    : futureDays(model, options.periods ?? 0, options.includeHistory ?? true);
  const N = days.length;
  const dsArr = Float64Array.from(days);
  const t = new Float64Array(N);
  for (let i = 0; i < N; i++) t[i] = (days[i] - model.start) / model.tScale;
  const floor = perRow(options.floor, N, model.growth === "logistic" ? model.lastFloor : 0);
  const capScaled = new Float64Array(N);
  if (model.growth === "logistic") {
    const cap = perRow(options.cap, N, model.lastCap);
    for (let i = 0; i < N; i++) capScaled[i] = (cap[i] - floor[i]) / model.yScale;
  }
  const X = buildFeatures(dsArr, model.components, model.holidayFeatures, model.regressorStats, (name, r) => {
    const v = options.regressors?.[name]?.[r];
    if (v === undefined || !Number.isFinite(Number(v))) {
      throw new NonRetriableError(`regressor "${name}" needs a value for ${formatDs(days[r])}`, {
        field: `regressors.${name}`,
      });
    }
    return Number(v);
  });
  const { params } = model;
  const trendScaled = trendAt(
    model.growth,
    t,
    capScaled,
    params.k,
    params.m,
    params.delta,
    model.changepointsT,
  );
  const trend = new Float64Array(N);
  for (let i = 0; i < N; i++) trend[i] = trendScaled[i] * model.yScale + floor[i];
  const components: Record<string, Float64Array> = {};
  const additive = new Float64Array(N);
  const multiplicative = new Float64Array(N);
  for (const c of model.components) {
    const out = new Float64Array(N);
    for (let j = c.from; j < c.to; j++) {
      const b = params.beta[j];
      if (b === 0) continue;
      const off = j * N;
      for (let i = 0; i < N; i++) out[i] += b * X[off + i];
    }
    if (c.mode === "additive") {
      for (let i = 0; i < N; i++) {
        out[i] *= model.yScale;
        additive[i] += out[i];
      }
    } else for (let i = 0; i < N; i++) multiplicative[i] += out[i];
    components[c.name] = out;
  }
  components.additive_terms = additive;
  components.multiplicative_terms = multiplicative;
  const yhat = new Float64Array(N);
  for (let i = 0; i < N; i++) yhat[i] = trend[i] * (1 + multiplicative[i]) + additive[i];

  const nSamples = options.samples ?? model.uncertaintySamples;
  const width = options.intervalWidth ?? model.intervalWidth;
  const result: Forecast = {
    ds: days.map(formatDs),
    days: dsArr,
    yhat,
    yhatLower: yhat.slice(),
    yhatUpper: yhat.slice(),
    trend,
    trendLower: trend.slice(),
    trendUpper: trend.slice(),
    components,
    nSamples: 0,
    intervalWidth: width,
  };
  if (nSamples > 0) {
    const sim = simulate(
      model,
      t,
      capScaled,
      floor,
      trend,
      additive,
      multiplicative,
      nSamples,
      options.seed ?? 0,
      width,
      options.keepSamples === true,
      options.historyIntervals === "simulated",
      options.bands !== false,
    );
    result.yhatLower = sim.yhatLower;
    result.yhatUpper = sim.yhatUpper;
    result.trendLower = sim.trendLower;
    result.trendUpper = sim.trendUpper;
    result.nSamples = nSamples;
    if (sim.samples) result.samples = sim.samples;
  }
  return result;
}

function perRow(v: number | ArrayLike<number> | undefined, n: number, fallback: number): Float64Array {
  const out = new Float64Array(n);
  if (v === undefined) out.fill(fallback);
  else if (typeof v === "number") out.fill(v);
  else for (let i = 0; i < n; i++) out[i] = Number(v[i] ?? fallback);
  return out;
}

/** Prophet's piecewise_linear / piecewise_logistic on scaled time. */
export function trendAt(
  growth: Growth,
  t: Float64Array,
  cap: Float64Array,
  k: number,
  m: number,
  delta: ArrayLike<number>,
  cps: ArrayLike<number>,
): Float64Array {
  const N = t.length;
  const S = cps.length;
  const out = new Float64Array(N);
  if (growth === "linear") {
    for (let i = 0; i < N; i++) {
      let kt = k;
      let mt = m;
      for (let j = 0; j < S; j++) {
        if (t[i] >= cps[j]) {
          kt += delta[j];
          mt -= cps[j] * delta[j];
        }
      }
      out[i] = kt * t[i] + mt;
    }
    return out;
  }
  // Logistic: per-changepoint rates and offsets (gamma) in changepoint order.
  const idx = Array.from({ length: S }, (_, j) => j).sort((a, b) => cps[a] - cps[b]);
  const kS = new Float64Array(S + 1);
  const mS = new Float64Array(S + 1);
  const cS = new Float64Array(S);
  kS[0] = k;
  mS[0] = m;
  for (let c = 1; c <= S; c++) {
    const j = idx[c - 1];
    cS[c - 1] = cps[j];
    kS[c] = kS[c - 1] + delta[j];
    mS[c] = mS[c - 1] + (cps[j] - mS[c - 1]) * (1 - kS[c - 1] / kS[c]);
  }
  for (let i = 0; i < N; i++) {
    let c = 0;
    while (c < S && t[i] >= cS[c]) c++;
    out[i] = cap[i] / (1 + Math.exp(-kS[c] * (t[i] - mS[c])));
  }
  return out;
}

/**
 * Prophet's predictive simulation: per sample, new changepoints on (1, T] from a Poisson process with the
 * history's changepoint rate, Laplace deltas with scale mean|delta|, plus normal observation noise. The seasonal
 * terms are the MAP ones (Prophet's MAP fit has a single parameter draw). Works date by date so that the
 * quantiles never need the whole sample matrix unless it is asked for.
 */
function simulate(
  model: ProphetModel,
  t: Float64Array,
  capScaled: Float64Array,
  floor: Float64Array,
  trend: Float64Array,
  additive: Float64Array,
  multiplicative: Float64Array,
  nSamples: number,
  seed: number,
  width: number,
  keep: boolean,
  simulateHistory: boolean,
  bands: boolean,
) {
  const rng = createRandom(seed);
  const N = t.length;
  const { params } = model;
  const S = model.changepointsT.length;
  let tMax = 0;
  for (let i = 0; i < N; i++) tMax = Math.max(tMax, t[i]);
  let lambda = 1e-8;
  for (const d of params.delta) lambda += Math.abs(d) / S;
  const future: number[] = [];
  for (let i = 0; i < N; i++) if (t[i] > 1) future.push(i);
  const F = future.length;
  const ft = Float64Array.from(future.map((i) => t[i]));
  const fcap = Float64Array.from(future.map((i) => capScaled[i]));
  // Future trend changes per sample, drawn first for every sample (the RNG order: per sample a Poisson count,
  // the new changepoints' uniforms, then their Laplace deltas; then the noise date by date). Linear growth keeps
  // each sample's new changepoints (offsets into cAll/dAll) and adds their ramps day by day below; logistic
  // growth needs the whole curve per sample.
  const linear = model.growth === "linear";
  const ftr = linear ? new Float64Array(0) : new Float64Array(F * nSamples);
  // Logistic: the history's segments (rates kS, midpoints mS in changepoint order, as trendAt) are the same for
  // every sample; each sample only extends them with its new changepoints, which all come after the history's.
  const cpSorted = Float64Array.from(model.changepointsT).sort();
  const extend = !linear && S > 0 && cpSorted[S - 1] < 1;
  let kS = new Float64Array(0);
  let mS = new Float64Array(0);
  if (extend) {
    const idx = Array.from({ length: S }, (_, j) => j).sort(
      (a, b) => model.changepointsT[a] - model.changepointsT[b],
    );
    kS = new Float64Array(S + 1 + 64);
    mS = new Float64Array(S + 1 + 64);
    kS[0] = params.k;
    mS[0] = params.m;
    for (let c = 1; c <= S; c++) {
      const j = idx[c - 1];
      const cp = model.changepointsT[j];
      kS[c] = kS[c - 1] + params.delta[j];
      mS[c] = mS[c - 1] + (cp - mS[c - 1]) * (1 - kS[c - 1] / kS[c]);
    }
  }
  const cStart = new Int32Array(nSamples + 1);
  let cAll = new Float64Array(64);
  let dAll = new Float64Array(64);
  let used = 0;
  let cNew = new Float64Array(16);
  for (let s = 0; s < nSamples; s++) {
    const nNew = tMax > 1 ? rng.poisson(S * (tMax - 1)) : 0;
    cStart[s] = used;
    if (nNew === 0 || F === 0) {
      if (!linear) {
        const row = ftr.subarray(s * F, (s + 1) * F);
        for (let q = 0; q < F; q++) row[q] = (trend[future[q]] - floor[future[q]]) / model.yScale;
      }
      continue;
    }
    if (nNew > cNew.length) cNew = new Float64Array(2 * nNew);
    const cs = cNew.subarray(0, nNew);
    for (let j = 0; j < nNew; j++) cs[j] = 1 + rng.uniform() * (tMax - 1);
    cs.sort();
    if (linear || extend) {
      if (used + nNew > cAll.length) {
        const grow = Math.max(2 * cAll.length, used + nNew);
        const c2 = new Float64Array(grow);
        const d2 = new Float64Array(grow);
        c2.set(cAll);
        d2.set(dAll);
        cAll = c2;
        dAll = d2;
      }
      for (let j = 0; j < nNew; j++) {
        cAll[used + j] = cs[j];
        dAll[used + j] = rng.laplace(lambda);
      }
      used += nNew;
    } else {
      const dNew = Array.from(cs, () => rng.laplace(lambda));
      ftr
        .subarray(s * F, (s + 1) * F)
        .set(
          trendAt(
            "logistic",
            ft,
            fcap,
            params.k,
            params.m,
            [...params.delta, ...dNew],
            [...model.changepointsT, ...cs],
          ),
        );
    }
  }
  cStart[nSamples] = used;
  if (extend) {
    for (let s = 0; s < nSamples; s++) {
      const from = cStart[s];
      const nNew = cStart[s + 1] - from;
      if (nNew === 0 || F === 0) continue;
      if (S + 1 + nNew > kS.length) {
        const k2 = new Float64Array(2 * (S + 1 + nNew));
        const m2 = new Float64Array(k2.length);
        k2.set(kS);
        m2.set(mS);
        kS = k2;
        mS = m2;
      }
      for (let c = S + 1; c <= S + nNew; c++) {
        const cp = cAll[from + c - S - 1];
        kS[c] = kS[c - 1] + dAll[from + c - S - 1];
        mS[c] = mS[c - 1] + (cp - mS[c - 1]) * (1 - kS[c - 1] / kS[c]);
      }
      const row = ftr.subarray(s * F, (s + 1) * F);
      // Every future date is past all of the history's changepoints; count this sample's new ones.
      let c = S;
      for (let q = 0; q < F; q++) {
        const tq = ft[q];
        if (c > S && tq < cAll[from + c - S - 1]) c = S;
        while (c < S + nNew && tq >= cAll[from + c - S]) c++;
        row[q] = fcap[q] / (1 + Math.exp(-kS[c] * (tq - mS[c])));
      }
    }
  }
  const lo = (1 - width) / 2;
  const hi = 1 - lo;
  const yhatLower = bands ? new Float64Array(N) : trend.slice();
  const yhatUpper = bands ? new Float64Array(N) : trend.slice();
  const trendLower = trend.slice();
  const trendUpper = trend.slice();
  const samples = keep ? new Float64Array(N * nSamples) : undefined;
  const buf = new Float64Array(nSamples);
  const tb = new Float64Array(nSamples);
  const noiseScale = params.sigmaObs * model.yScale;
  const zLo = normalQuantile(lo);
  const zHi = normalQuantile(hi);
  let q = 0;
  for (let i = 0; i < N; i++) {
    const mult = 1 + multiplicative[i];
    const add = additive[i];
    if (!bands) {
      const base = trend[i] * mult + add;
      yhatLower[i] = base;
      yhatUpper[i] = base;
    }
    if (q < F && future[q] === i) {
      if (linear) {
        const tq = ft[q];
        const base = trend[i];
        for (let s = 0; s < nSamples; s++) {
          let ramp = 0;
          for (let j = cStart[s]; j < cStart[s + 1] && cAll[j] <= tq; j++) ramp += dAll[j] * (tq - cAll[j]);
          const tr = base + ramp * model.yScale;
          tb[s] = tr;
          buf[s] = tr * mult + add + rng.normal() * noiseScale;
        }
      } else {
        for (let s = 0; s < nSamples; s++) {
          const tr = ftr[s * F + q] * model.yScale + floor[i];
          tb[s] = tr;
          buf[s] = tr * mult + add + rng.normal() * noiseScale;
        }
      }
      q++;
      if (samples) samples.set(buf, i * nSamples);
      if (!bands) continue;
      trendLower[i] = quantileInPlace(tb, lo);
      trendUpper[i] = quantileInPlace(tb, hi);
    } else {
      const base = trend[i] * mult + add;
      if (!samples && !simulateHistory) {
        if (bands) {
          yhatLower[i] = base + zLo * noiseScale;
          yhatUpper[i] = base + zHi * noiseScale;
        }
        continue;
      }
      for (let s = 0; s < nSamples; s++) buf[s] = base + rng.normal() * noiseScale;
      if (samples) samples.set(buf, i * nSamples);
      if (!bands) continue;
    }
    yhatLower[i] = quantileInPlace(buf, lo);
    yhatUpper[i] = quantileInPlace(buf, hi);
  }
  return { yhatLower, yhatUpper, trendLower, trendUpper, samples };
}

/** numpy's default (linear) percentile; reorders `a`. */
export function quantileInPlace(a: Float64Array, q: number): number {
  const n = a.length;
  if (n === 0) return Number.NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const vLo = select(a, lo);
  if (frac === 0 || lo + 1 >= n) return vLo;
  let vHi = Number.POSITIVE_INFINITY;
  for (let i = lo + 1; i < n; i++) if (a[i] < vHi) vHi = a[i];
  return vLo + frac * (vHi - vLo);
}

/** Quickselect: puts the k-th smallest at a[k], smaller before, larger-or-equal after. */
function select(a: Float64Array, k: number): number {
  let left = 0;
  let right = a.length - 1;
  while (right > left) {
    const pivot = a[(left + right) >> 1];
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else break;
  }
  return a[k];
}
