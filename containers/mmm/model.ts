import { NonRetriableError } from "../../shared/core/errors.ts";
import { closestRow, dayNumber, type ModelFrame } from "./frame.ts";
import { fitRidge } from "./ridge.ts";
import { type AdstockType, adstock, hillInflexion, saturateHill } from "./transform.ts";

/**
 * One Robyn model (3.12.1 `robyn_mmm` per iteration): adstock on the whole series, Hill on the window with the
 * inflexion from the window's maximum, glmnet-equivalent ridge with Robyn's limits and intercept rule, decomposition,
 * NRMSE / DECOMP.RSSD / MAPE.LIFT and R².
 */

export type Sign = "positive" | "negative" | "default";

/** A lift study (Robyn `calibration_input`); `channel` may join several media with "+". */
export interface LiftStudy {
  channel: string;
  liftStartDate: string;
  liftEndDate: string;
  liftAbs: number;
  calibrationScope?: "immediate" | "total";
}

export interface ModelSpec {
  /** Column of the dependent variable in the frame. Default "dep_var". */
  depVar?: string;
  /** Date column. Default "ds". */
  dateVar?: string;
  depVarType?: "revenue" | "conversion";
  prophetVars?: string[];
  contextVars?: string[];
  /** Modelled paid media columns (exposures already rescaled to spend units, as in Robyn's `dt_mod`). */
  paidMediaVars: string[];
  organicVars?: string[];
  adstock: AdstockType;
  /** Modelling window; each end snaps to the closest frame date. Default: the whole frame. */
  window?: { start?: string; end?: string };
  /** Window spend total of each paid channel, keyed by its paid media var (for DECOMP.RSSD and ROAS). */
  spendTotals?: Record<string, number>;
  /** Or: the spend column of each paid media var in the frame, totals then computed over the window. */
  paidMediaSpends?: string[];
  /** Signs of context/organic/paid variables. Defaults: context "default", media and organic "positive". */
  signs?: Record<string, Sign>;
  interceptSign?: "non_negative" | "unconstrained";
  rssdZeroPenalty?: boolean;
  /** Robyn `ts_validation`: the NRMSE objective is then the validation split's. */
  tsValidation?: boolean;
  calibration?: LiftStudy[];
}

export interface PreparedModel {
  spec: ModelSpec;
  dates: string[];
  /** Window rows `[ws, we)`. */
  ws: number;
  we: number;
  y: Float64Array;
  baselineNames: string[];
  baselineCols: Float64Array[];
  /** Paid media vars then organic vars. */
  mediaNames: string[];
  mediaCols: Float64Array[];
  /** Hyperparameter names of each media. */
  mediaKeys: { thetas: string; shapes: string; scales: string; alphas: string; gammas: string }[];
  paidCount: number;
  /** The regressors in model order: prophet, context, paid media, organic. */
  names: string[];
  lower: Float64Array;
  upper: Float64Array;
  trendIndex: number;
  lambdaMax: number;
  lambdaMin: number;
  totalSpend: Float64Array;
  spendShare: Float64Array;
  /** Sum of the window's dep var per row count, used by ROAS. */
  adstock: AdstockType;
}

export interface ModelResult {
  names: string[];
  coef: Float64Array;
  intercept: number;
  interceptDropped: boolean;
  lambda: number;
  lambdaHp: number;
  nrmse: number;
  nrmseTrain: number;
  nrmseVal: number;
  nrmseTest: number;
  rsqTrain: number;
  adjRsqTrain: number;
  rsqVal: number;
  rsqTest: number;
  decompRssd: number;
  mape: number;
  trainSize: number;
  /** Window-row predictions. */
  yPred: Float64Array;
  /** Per regressor (intercept first when kept in the output list `decompNames`). */
  decompNames: string[];
  xDecompAgg: Float64Array;
  xDecompPerc: Float64Array;
  effectShare: Float64Array;
  spendShare: Float64Array;
  roiTotal: Float64Array;
  /** Per media (paid then organic). */
  inflexion: Float64Array;
  inflation: Float64Array;
  /** Saturated window columns of each media (kept for response curves and decomposition). */
  mediaSaturated?: Float64Array[];
  mediaAdstocked?: Float64Array[];
  mediaImmediate?: Float64Array[];
}

function column(frame: ModelFrame, name: string, role: string): Float64Array {
  const c = frame.columns[name];
  if (!c) {
    throw new NonRetriableError(`the frame has no column "${name}" (${role})`, {
      field: role,
      fix: `use one of: ${Object.keys(frame.columns).join(", ")}`,
    });
  }
  return c;
}

/**
 * Robyn's `lambda_seq` on the raw model frame (all rows): `max|Σ sx·y| / (0.001·n)` with `sx` centred and scaled by
 * the population SD, then `lambda_max = 0.1 × that`, `lambda_min = 1e-4 × lambda_max`.
 */
export function lambdaRange(
  cols: Float64Array[],
  y: ArrayLike<number>,
): { lambdaMax: number; lambdaMin: number } {
  const n = y.length;
  let best = 0;
  for (const c of cols) {
    let m = 0;
    for (let i = 0; i < n; i++) m += c[i];
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (c[i] - m) ** 2;
    const sd = Math.sqrt(v / n);
    if (!(sd > 0)) continue;
    let s = 0;
    for (let i = 0; i < n; i++) s += ((c[i] - m) / sd) * y[i];
    if (Math.abs(s) > best) best = Math.abs(s);
  }
  const lambdaMax = (best / (0.001 * n)) * 0.1;
  return { lambdaMax, lambdaMin: lambdaMax * 1e-4 };
}

function signBounds(sign: Sign): [number, number] {
  if (sign === "positive") return [0, Number.POSITIVE_INFINITY];
  if (sign === "negative") return [Number.NEGATIVE_INFINITY, 0];
  return [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
}

/** Validates the spec against the frame and precomputes everything that does not depend on hyperparameters. */
export function prepareModel(frame: ModelFrame, spec: ModelSpec): PreparedModel {
  const depVar = spec.depVar ?? "dep_var";
  const y = column(frame, depVar, "dep_var");
  const prophetVars = spec.prophetVars ?? [];
  const contextVars = spec.contextVars ?? [];
  const organicVars = spec.organicVars ?? [];
  if (spec.paidMediaVars.length === 0) {
    throw new NonRetriableError("paid_media_vars is empty", {
      field: "paid_media_vars",
      fix: "name at least one paid channel",
    });
  }
  const baselineNames = [...prophetVars, ...contextVars];
  const mediaNames = [...spec.paidMediaVars, ...organicVars];
  const names = [...baselineNames, ...mediaNames];
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new NonRetriableError(`variable "${n}" has two roles`, { field: n });
    seen.add(n);
  }
  const baselineCols = baselineNames.map((n, i) =>
    column(frame, n, i < prophetVars.length ? "prophet_vars" : "context_vars"),
  );
  const mediaCols = mediaNames.map((n, i) =>
    column(frame, n, i < spec.paidMediaVars.length ? "paid_media_vars" : "organic_vars"),
  );
  const rows = frame.dates.length;
  const ws = spec.window?.start ? closestRow(frame.dates, spec.window.start) : 0;
  const we = (spec.window?.end ? closestRow(frame.dates, spec.window.end) : rows - 1) + 1;
  if (we - ws < 3)
    throw new NonRetriableError(`the window has ${we - ws} rows`, {
      field: "window",
      fix: "widen the window",
    });
  for (let m = 0; m < mediaNames.length; m++) {
    let s = 0;
    for (let i = ws; i < we; i++) s += mediaCols[m][i];
    if (!(s > 0)) {
      throw new NonRetriableError(`media "${mediaNames[m]}" sums to ${s} inside the window`, {
        field: mediaNames[m],
        fix: "drop the channel or widen the window",
      });
    }
  }
  for (let j = 0; j < baselineNames.length; j++) {
    const c = baselineCols[j];
    let constant = true;
    for (let i = ws + 1; i < we && constant; i++) if (c[i] !== c[ws]) constant = false;
    if (constant) {
      throw new NonRetriableError(`"${baselineNames[j]}" is constant inside the window (Robyn check_novar)`, {
        field: baselineNames[j],
        fix: "drop the variable",
      });
    }
  }
  const p = names.length;
  const lower = new Float64Array(p);
  const upper = new Float64Array(p);
  const signs = spec.signs ?? {};
  for (let j = 0; j < p; j++) {
    if (j < prophetVars.length) {
      lower[j] = 0;
      upper[j] = 1;
    } else {
      const name = names[j];
      const def: Sign = j < baselineNames.length ? "default" : "positive";
      const s = signs[name] ?? def;
      if (s !== "positive" && s !== "negative" && s !== "default") {
        throw new NonRetriableError(`sign of "${name}" is "${s}"`, {
          field: `signs.${name}`,
          fix: "use positive, negative or default",
        });
      }
      [lower[j], upper[j]] = signBounds(s);
    }
  }
  const { lambdaMax, lambdaMin } = lambdaRange([...baselineCols, ...mediaCols], y);
  const paidCount = spec.paidMediaVars.length;
  const totalSpend = new Float64Array(paidCount);
  for (let k = 0; k < paidCount; k++) {
    const v = spec.paidMediaVars[k];
    if (spec.spendTotals && spec.spendTotals[v] !== undefined) totalSpend[k] = spec.spendTotals[v];
    else if (spec.paidMediaSpends?.[k]) {
      const c = column(frame, spec.paidMediaSpends[k], "paid_media_spends");
      for (let i = ws; i < we; i++) totalSpend[k] += c[i];
    } else {
      const c = mediaCols[k];
      for (let i = ws; i < we; i++) totalSpend[k] += c[i];
    }
    if (!(totalSpend[k] >= 0) || !Number.isFinite(totalSpend[k])) {
      throw new NonRetriableError(`spend total of "${v}" is ${totalSpend[k]}`, {
        field: `spend_totals.${v}`,
        fix: "give a finite total ≥ 0",
      });
    }
  }
  const sumSpend = totalSpend.reduce((a, b) => a + b, 0);
  const spendShare = totalSpend.map((s) => s / sumSpend);
  for (const c of spec.calibration ?? []) {
    for (const ch of c.channel.split("+")) {
      if (!mediaNames.includes(ch)) {
        throw new NonRetriableError(`calibration channel "${ch}" is not a media variable`, {
          field: "calibration.channel",
        });
      }
    }
  }
  return {
    spec,
    dates: frame.dates,
    ws,
    we,
    y,
    baselineNames,
    baselineCols,
    mediaNames,
    mediaCols,
    mediaKeys: mediaNames.map((m) => ({
      thetas: `${m}_thetas`,
      shapes: `${m}_shapes`,
      scales: `${m}_scales`,
      alphas: `${m}_alphas`,
      gammas: `${m}_gammas`,
    })),
    paidCount,
    names,
    lower,
    upper,
    trendIndex: prophetVars.indexOf("trend"),
    lambdaMax,
    lambdaMin,
    totalSpend,
    spendShare,
    adstock: spec.adstock,
  };
}

/** The hyperparameter names Robyn searches for this model, sorted as Robyn sorts them, then lambda and train_size. */
export function hyperNames(prep: PreparedModel): string[] {
  const suffixes =
    prep.adstock === "geometric" ? ["alphas", "gammas", "thetas"] : ["alphas", "gammas", "scales", "shapes"];
  const media = prep.mediaNames.flatMap((m) => suffixes.map((s) => `${m}_${s}`));
  media.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [...media, "lambda", "train_size"];
}

function need(h: Record<string, number>, key: string): number {
  const v = h[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new NonRetriableError(`hyperparameter "${key}" is missing or not a number`, {
      field: `hyperparameters.${key}`,
      fix: "give every media's adstock/alphas/gammas and lambda",
    });
  }
  return v;
}

/** Robyn's split: `train = floor(1 + size·(n−1))` rows, then `floor((1−size)/2·n)` validation rows, the rest test. */
export function splitRows(n: number, trainSize: number): { train: number; val: number } {
  if (trainSize >= 1) return { train: n, val: n };
  const train = Math.floor(1 + trainSize * (n - 1));
  const val = train + Math.floor(((1 - trainSize) / 2) * n);
  return { train, val };
}

function nrmseOf(y: ArrayLike<number>, pred: ArrayLike<number>, from: number, to: number): number {
  if (to <= from) return Number.NaN;
  let sse = 0;
  let mn = Number.POSITIVE_INFINITY;
  let mx = Number.NEGATIVE_INFINITY;
  for (let i = from; i < to; i++) {
    sse += (y[i] - pred[i]) ** 2;
    if (y[i] < mn) mn = y[i];
    if (y[i] > mx) mx = y[i];
  }
  return Math.sqrt(sse / (to - from)) / (mx - mn);
}

function rsqOf(y: ArrayLike<number>, pred: ArrayLike<number>, from: number, to: number): number {
  if (to <= from) return Number.NaN;
  let m = 0;
  for (let i = from; i < to; i++) m += y[i];
  m /= to - from;
  let sse = 0;
  let sst = 0;
  for (let i = from; i < to; i++) {
    sse += (pred[i] - y[i]) ** 2;
    sst += (y[i] - m) ** 2;
  }
  return 1 - sse / sst;
}

export interface EvaluateOptions {
  /** Keep the transformed media series in the result (for response curves, plots). */
  keepSeries?: boolean;
  /** Use this lambda instead of the one from the lambda hyperparameter (Robyn's fixed-hyperparameter refit). */
  lambda?: number;
}

/** Fits one model with fixed hyperparameters (Robyn names: `{media}_thetas|shapes|scales|alphas|gammas`, `lambda`, `train_size`). */
export function evaluateModel(
  prep: PreparedModel,
  hyp: Record<string, number>,
  opts: EvaluateOptions = {},
): ModelResult {
  const { ws, we, y } = prep;
  const nw = we - ws;
  const nm = prep.mediaNames.length;
  const nb = prep.baselineNames.length;
  const satCols: Float64Array[] = new Array(nm);
  const inflexion = new Float64Array(nm);
  const inflation = new Float64Array(nm);
  const keepA: Float64Array[] = [];
  const keepI: Float64Array[] = [];
  for (let m = 0; m < nm; m++) {
    const keys = prep.mediaKeys[m];
    const x = prep.mediaCols[m];
    const params =
      prep.adstock === "geometric"
        ? { theta: need(hyp, keys.thetas) }
        : { shape: need(hyp, keys.shapes), scale: need(hyp, keys.scales) };
    const ad = adstock(x, prep.adstock, params);
    let sx = 0;
    let sd = 0;
    for (let i = 0; i < x.length; i++) {
      sx += x[i];
      sd += ad.decayed[i];
    }
    inflation[m] = sd / sx;
    const alpha = need(hyp, keys.alphas);
    const gamma = need(hyp, keys.gammas);
    inflexion[m] = hillInflexion(ad.decayed, gamma, ws, we);
    satCols[m] = saturateHill(ad.decayed, alpha, inflexion[m], ws, we);
    if (opts.keepSeries) {
      keepA.push(ad.decayed);
      keepI.push(ad.immediate);
    }
  }
  const cols: Float64Array[] = [...prep.baselineCols.map((c) => c.subarray(ws, we)), ...satCols];
  const yw = y.subarray(ws, we);
  const trainSize = hyp.train_size ?? 1;
  const { train, val } = splitRows(nw, trainSize);
  const lower = prep.lower.slice();
  const upper = prep.upper.slice();
  if (prep.trendIndex >= 0) {
    let s = 0;
    const t = cols[prep.trendIndex];
    for (let i = 0; i < train; i++) s += t[i];
    if (s < 0) {
      lower[prep.trendIndex] = -1;
      upper[prep.trendIndex] = 0;
    }
  }
  const lambdaHp = hyp.lambda ?? Number.NaN;
  const lambda = opts.lambda ?? prep.lambdaMin + (prep.lambdaMax - prep.lambdaMin) * need(hyp, "lambda");
  let fit = fitRidge({ cols, y: yw, from: 0, to: train, lambda, lower, upper, intercept: true });
  let interceptDropped = false;
  if ((prep.spec.interceptSign ?? "non_negative") === "non_negative" && fit.intercept < 0) {
    fit = fitRidge({ cols, y: yw, from: 0, to: train, lambda, lower, upper, intercept: false });
    interceptDropped = true;
  }
  const p = cols.length;
  const yPred = new Float64Array(nw).fill(fit.intercept);
  const colSum = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    const c = cols[j];
    const b = fit.coef[j];
    let s = 0;
    for (let i = 0; i < nw; i++) {
      yPred[i] += b * c[i];
      s += c[i];
    }
    colSum[j] = s;
  }
  const nrmseTrain = nrmseOf(yw, yPred, 0, train);
  const nrmseVal = trainSize < 1 ? nrmseOf(yw, yPred, train, val) : Number.NaN;
  const nrmseTest = trainSize < 1 ? nrmseOf(yw, yPred, val, nw) : Number.NaN;
  const rsqTrain = rsqOf(yw, yPred, 0, train);
  const dfInt = interceptDropped ? 0 : 1;
  const adjRsqTrain = 1 - (1 - rsqTrain) * ((train - dfInt) / (train - p - 1));
  const rsqVal = trainSize < 1 ? rsqOf(yw, yPred, train, val) : Number.NaN;
  const rsqTest = trainSize < 1 ? rsqOf(yw, yPred, val, nw) : Number.NaN;
  // Decomposition over the whole window; intercept first.
  const decompNames = ["(Intercept)", ...prep.names];
  const xDecompAgg = new Float64Array(p + 1);
  xDecompAgg[0] = fit.intercept * nw;
  let yHatSum = xDecompAgg[0];
  for (let j = 0; j < p; j++) {
    xDecompAgg[j + 1] = fit.coef[j] * colSum[j];
    yHatSum += xDecompAgg[j + 1];
  }
  const xDecompPerc = xDecompAgg.map((v) => v / yHatSum);
  const pc = prep.paidCount;
  const effectShare = new Float64Array(pc);
  let effSum = 0;
  for (let k = 0; k < pc; k++) effSum += xDecompPerc[1 + nb + k];
  let rss = 0;
  let zeros = 0;
  for (let k = 0; k < pc; k++) {
    effectShare[k] = xDecompPerc[1 + nb + k] / effSum;
    rss += (effectShare[k] - prep.spendShare[k]) ** 2;
    if (Math.round(effectShare[k] * 1e4) === 0) zeros++;
  }
  let decompRssd = Math.sqrt(rss);
  if (prep.spec.rssdZeroPenalty ?? true) decompRssd *= 1 + zeros / pc;
  if (Number.isNaN(decompRssd)) decompRssd = Number.POSITIVE_INFINITY;
  const roiTotal = new Float64Array(pc);
  for (let k = 0; k < pc; k++) roiTotal[k] = xDecompAgg[1 + nb + k] / prep.totalSpend[k];
  const result: ModelResult = {
    names: prep.names,
    coef: fit.coef,
    intercept: fit.intercept,
    interceptDropped,
    lambda,
    lambdaHp,
    nrmse: prep.spec.tsValidation ? nrmseVal : nrmseTrain,
    nrmseTrain,
    nrmseVal,
    nrmseTest,
    rsqTrain,
    adjRsqTrain,
    rsqVal,
    rsqTest,
    decompRssd,
    mape: Number.NaN,
    trainSize,
    yPred,
    decompNames,
    xDecompAgg,
    xDecompPerc,
    effectShare,
    spendShare: prep.spendShare,
    roiTotal,
    inflexion,
    inflation,
  };
  if (opts.keepSeries || prep.spec.calibration?.length) {
    result.mediaSaturated = satCols;
    if (opts.keepSeries) {
      result.mediaAdstocked = keepA;
      result.mediaImmediate = keepI;
    }
  }
  if (prep.spec.calibration?.length) result.mape = liftMape(prep, hyp, result);
  return result;
}

/**
 * MAPE.LIFT (Robyn `lift_calibration`): per study, the model's predicted effect of the channel(s) over the study
 * rows (plus the preceding row when the study starts between rows), minus the carryover from before the study for
 * scope "immediate", scaled to the study's length, against `liftAbs`. Returns the mean absolute percentage error.
 */
export function liftMape(prep: PreparedModel, hyp: Record<string, number>, res: ModelResult): number {
  const studies = prep.spec.calibration ?? [];
  if (studies.length === 0) return Number.NaN;
  const nb = prep.baselineNames.length;
  const days = prep.dates.map(dayNumber);
  const interval = prep.dates.length > 1 ? days[1] - days[0] : 1;
  let total = 0;
  for (const st of studies) {
    const s = dayNumber(st.liftStartDate);
    const e = dayNumber(st.liftEndDate);
    const pos: number[] = [];
    for (let i = prep.ws; i < prep.we; i++) if (days[i] >= s && days[i] <= e) pos.push(i);
    if (pos.length === 0) {
      throw new NonRetriableError(
        `lift study ${st.channel} ${st.liftStartDate}..${st.liftEndDate} is outside the window`,
        {
          field: "calibration",
        },
      );
    }
    if (days[pos[0]] !== s && pos[0] > prep.ws) pos.unshift(pos[0] - 1);
    let pred = 0;
    for (const ch of st.channel.split("+")) {
      const m = prep.mediaNames.indexOf(ch);
      const coef = res.coef[nb + m];
      const sat = res.mediaSaturated?.[m];
      if (!sat) continue;
      for (const i of pos) pred += coef * sat[i - prep.ws];
      if ((st.calibrationScope ?? "immediate") === "immediate") {
        // Carryover from before the study: total adstock minus the adstock restarted at the study's first row.
        const x = prep.mediaCols[m];
        const params =
          prep.adstock === "geometric"
            ? { theta: hyp[`${ch}_thetas`] }
            : { shape: hyp[`${ch}_shapes`], scale: hyp[`${ch}_scales`] };
        const full = adstock(x, prep.adstock, params).decayed;
        const inStudy = adstock(x.subarray(pos[0], pos[pos.length - 1] + 1), prep.adstock, params).decayed;
        const alpha = hyp[`${ch}_alphas`];
        const infl = res.inflexion[m];
        for (let k = 0; k < pos.length; k++) {
          const carry = full[pos[k]] - inStudy[k];
          pred -= coef * (carry > 0 ? carry ** alpha / (carry ** alpha + infl ** alpha) : 0);
        }
      }
    }
    const decompDays = pos.length * interval;
    const liftDays = e - s + 1;
    const scaled = (pred / decompDays) * liftDays;
    total += Math.abs(scaled - st.liftAbs) / Math.abs(st.liftAbs);
  }
  return total / studies.length;
}
