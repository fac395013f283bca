import { NonRetriableError } from "../../shared/core/errors.ts";
import { evaluateModel, type ModelResult, type PreparedModel } from "./model.ts";
import { hill } from "./transform.ts";

/**
 * Decomposition, ROAS/CPA and response curves of one model (Robyn `model_decomp`, `robyn_pareto`, `robyn_response`
 * and the allocator's closed form `coef · hill(spend + mean historical carryover)` with the window's inflexion).
 */

export interface ChannelSummary {
  name: string;
  paid: boolean;
  coef: number;
  alpha: number;
  inflexion: number;
  /** Mean over the window of the adstock's carryover part (`decayed − immediate`). */
  meanCarryover: number;
  /** Window totals: spend (paid only) and modelled effect. */
  totalSpend: number;
  xDecompAgg: number;
  /** Mean spend and mean response per period over the window. */
  meanSpend: number;
  meanResponse: number;
  /** Window totals of the effect split into immediate and carryover (Robyn `coef × sat_immediate|sat_carryover`). */
  immediateAgg: number;
  carryoverAgg: number;
  /** Revenue per spend (dep_var_type revenue) and spend per conversion (conversion); null for organic. */
  roiTotal: number | null;
  cpaTotal: number | null;
  effectShare: number | null;
  spendShare: number | null;
}

export interface ModelDetails {
  result: ModelResult;
  channels: ChannelSummary[];
  /** Per regressor (intercept first): window total, share of the fitted total, mean of the non-zero rows. */
  decomposition: {
    name: string;
    coef: number;
    xDecompAgg: number;
    xDecompPerc: number;
    xDecompMeanNon0: number;
  }[];
}

/** Re-evaluates a model keeping the transformed series and summarises decomposition, ROAS/CPA per channel. */
export function modelDetails(prep: PreparedModel, hyp: Record<string, number>): ModelDetails {
  const res = evaluateModel(prep, hyp, { keepSeries: true });
  const nb = prep.baselineNames.length;
  const nw = prep.we - prep.ws;
  const channels: ChannelSummary[] = prep.mediaNames.map((name, m) => {
    const paid = m < prep.paidCount;
    const dec = res.mediaAdstocked?.[m] as Float64Array;
    const imm = res.mediaImmediate?.[m] as Float64Array;
    let carry = 0;
    for (let i = prep.ws; i < prep.we; i++) carry += dec[i] - imm[i];
    const xDecompAgg = res.xDecompAgg[1 + nb + m];
    // Carryover share: Hill of the carryover part with the window's inflexion; immediate = total − carryover.
    const alpha = hyp[prep.mediaKeys[m].alphas];
    const coef = res.coef[nb + m];
    let carryoverAgg = 0;
    for (let i = prep.ws; i < prep.we; i++)
      carryoverAgg += coef * hill(Math.max(0, dec[i] - imm[i]), alpha, res.inflexion[m]);
    const totalSpend = paid ? prep.totalSpend[m] : 0;
    return {
      name,
      paid,
      coef,
      alpha,
      inflexion: res.inflexion[m],
      meanCarryover: carry / nw,
      totalSpend,
      xDecompAgg,
      immediateAgg: xDecompAgg - carryoverAgg,
      carryoverAgg,
      meanSpend: totalSpend / nw,
      meanResponse: xDecompAgg / nw,
      roiTotal: paid ? xDecompAgg / totalSpend : null,
      cpaTotal: paid ? totalSpend / xDecompAgg : null,
      effectShare: paid ? res.effectShare[m] : null,
      spendShare: paid ? res.spendShare[m] : null,
    };
  });
  const cols = [...prep.baselineCols.map((c) => c.subarray(prep.ws, prep.we)), ...(res.mediaSaturated ?? [])];
  const decomposition = res.decompNames.map((name, j) => {
    const coef = j === 0 ? res.intercept : res.coef[j - 1];
    let s = 0;
    let k = 0;
    if (j === 0) {
      s = res.intercept * nw;
      k = res.intercept !== 0 ? nw : 0;
    } else {
      for (const v of cols[j - 1]) {
        const d = v * coef;
        if (d !== 0) {
          s += d;
          k++;
        }
      }
    }
    return {
      name,
      coef,
      xDecompAgg: res.xDecompAgg[j],
      xDecompPerc: res.xDecompPerc[j],
      xDecompMeanNon0: k > 0 ? s / k : 0,
    };
  });
  return { result: res, channels, decomposition };
}

/** Response per period at each spend level per period: `coef · hill(spend + meanCarryover; alpha, inflexion)`. */
export function responseCurve(ch: ChannelSummary, spends: number[]): number[] {
  return spends.map((x) => ch.coef * hill(x + ch.meanCarryover, ch.alpha, ch.inflexion));
}

/** Marginal response (the allocator's analytic gradient). */
export function marginalResponse(ch: ChannelSummary, spend: number): number {
  const X = spend + ch.meanCarryover;
  if (X <= 0) return 0;
  const ia = ch.inflexion ** ch.alpha;
  return (ch.coef * ch.alpha * ia * X ** (ch.alpha - 1)) / (X ** ch.alpha + ia) ** 2;
}

export interface AllocationInput {
  channels: ChannelSummary[];
  /** Total budget per period to allocate; default the current mean spend total. */
  budget?: number;
  /** Bounds as multiples of the current mean spend (Robyn `channel_constr_low/up`, defaults 0.5 and 2). */
  low?: number | Record<string, number>;
  up?: number | Record<string, number>;
}

export interface Allocation {
  channel: string;
  initSpend: number;
  optimalSpend: number;
  initResponse: number;
  optimalResponse: number;
}

/**
 * Robyn's `max_response` scenario: maximise Σ response subject to Σ spend = budget and per-channel bounds, channels
 * with a zero coefficient excluded. Solved by projected gradient ascent with backtracking (the response curves are
 * smooth; for S-shaped curves this is a local optimum as SLSQP's is).
 */
export function allocateBudget(inp: AllocationInput): Allocation[] {
  const chans = inp.channels.filter((c) => c.paid && c.coef > 0);
  if (chans.length === 0)
    throw new NonRetriableError("no paid channel has a positive coefficient", { field: "select_model" });
  const init = chans.map((c) => c.meanSpend);
  const bound = (v: number | Record<string, number> | undefined, name: string, def: number) =>
    v === undefined ? def : typeof v === "number" ? v : (v[name] ?? def);
  const lo = chans.map((c, i) => bound(inp.low, c.name, 0.5) * init[i]);
  const hi = chans.map((c, i) => bound(inp.up, c.name, 2) * init[i]);
  const budget = inp.budget ?? init.reduce((a, b) => a + b, 0);
  const sumLo = lo.reduce((a, b) => a + b, 0);
  const sumHi = hi.reduce((a, b) => a + b, 0);
  if (budget < sumLo - 1e-9 || budget > sumHi + 1e-9) {
    throw new NonRetriableError(`budget ${budget} is outside the bounds' range [${sumLo}, ${sumHi}]`, {
      field: "expected_spend",
      fix: "change the budget or the channel constraints",
    });
  }
  // Projection onto {Σx = budget, lo ≤ x ≤ hi} by bisection on the shift.
  const project = (v: number[]) => {
    let a = Math.min(...v.map((x, i) => lo[i] - x));
    let b = Math.max(...v.map((x, i) => hi[i] - x));
    for (let k = 0; k < 200; k++) {
      const t = (a + b) / 2;
      const s = v.reduce((acc, x, i) => acc + Math.min(hi[i], Math.max(lo[i], x + t)), 0);
      if (s > budget) b = t;
      else a = t;
    }
    const t = (a + b) / 2;
    return v.map((x, i) => Math.min(hi[i], Math.max(lo[i], x + t)));
  };
  const total = (x: number[]) => x.reduce((s, v, i) => s + responseCurve(chans[i], [v])[0], 0);
  let x = project(init);
  let f = total(x);
  let step = budget;
  for (let it = 0; it < 5000 && step > budget * 1e-12; it++) {
    const g = x.map((v, i) => marginalResponse(chans[i], v));
    const gn = Math.sqrt(g.reduce((s, v) => s + v * v, 0)) || 1;
    const cand = project(x.map((v, i) => v + (step * g[i]) / gn));
    const fc = total(cand);
    if (fc > f + 1e-12 * Math.abs(f)) {
      x = cand;
      f = fc;
      step *= 1.5;
    } else step /= 2;
  }
  return chans.map((c, i) => ({
    channel: c.name,
    initSpend: init[i],
    optimalSpend: x[i],
    initResponse: responseCurve(c, [init[i]])[0],
    optimalResponse: responseCurve(c, [x[i]])[0],
  }));
}

export interface EfficiencyResult {
  allocations: Allocation[];
  /** The target as given or defaulted: ROAS (revenue) or CPA (conversion). */
  target: number;
  metric: "ROAS" | "CPA";
  /** Historical and achieved efficiency in the target's metric. */
  historical: number;
  achieved: number;
  /** Whether the bounds let the optimum reach the target (else the nearest bound's budget is used). */
  reached: boolean;
}

/**
 * Robyn's `target_efficiency` scenario: the largest response whose total ROAS equals the target (or whose CPA
 * equals the target on conversions), i.e. the budget where the max-response allocation's efficiency falls to
 * the target, found by bisection on the total budget between the bounds (defaults 0.1 and 10 times the current
 * mean spend). The default target is 0.8 × the historical ROAS, or 1.2 × the historical CPA.
 */
export function allocateTargetEfficiency(inp: {
  channels: ChannelSummary[];
  depVarType: "revenue" | "conversion";
  target?: number;
  low?: number | Record<string, number>;
  up?: number | Record<string, number>;
}): EfficiencyResult {
  const low = inp.low ?? 0.1;
  const up = inp.up ?? 10;
  const hist = allocateBudget({ channels: inp.channels, low: 1, up: 1 });
  const histSpend = hist.reduce((s, a) => s + a.initSpend, 0);
  const histResp = hist.reduce((s, a) => s + a.initResponse, 0);
  const roas = (a: Allocation[]) =>
    a.reduce((s, x) => s + x.optimalResponse, 0) / a.reduce((s, x) => s + x.optimalSpend, 0);
  const metric = inp.depVarType === "conversion" ? "CPA" : "ROAS";
  const historical = metric === "ROAS" ? histResp / histSpend : histSpend / histResp;
  const target = inp.target ?? (metric === "ROAS" ? 0.8 : 1.2) * historical;
  if (!(target > 0) || !Number.isFinite(target))
    throw new NonRetriableError(`target_value ${target} is not a positive number`, {
      field: "target_value",
      fix: "give a positive ROAS (revenue) or CPA (conversion) target",
    });
  // The efficiency the search compares: response per spend in both cases.
  const want = metric === "ROAS" ? target : 1 / target;
  const chans = inp.channels.filter((c) => c.paid && c.coef > 0);
  const bound = (v: number | Record<string, number>, name: string) =>
    typeof v === "number" ? v : (v[name] ?? 1);
  const sumLo = chans.reduce((s, c) => s + bound(low, c.name) * c.meanSpend, 0);
  const sumHi = chans.reduce((s, c) => s + bound(up, c.name) * c.meanSpend, 0);
  const at = (budget: number) => allocateBudget({ channels: inp.channels, budget, low, up });
  let best = at(sumLo);
  let reached = roas(best) >= want;
  if (reached) {
    const top = at(sumHi);
    if (roas(top) >= want) best = top;
    else {
      let a = sumLo;
      let b = sumHi;
      for (let k = 0; k < 50 && b - a > 1e-9 * sumHi; k++) {
        const mid = (a + b) / 2;
        const alloc = at(mid);
        if (roas(alloc) >= want) {
          a = mid;
          best = alloc;
        } else b = mid;
      }
    }
  }
  const e = roas(best);
  reached &&= Math.abs(e - want) <= 1e-4 * want || e >= want;
  return {
    allocations: best,
    target,
    metric,
    historical,
    achieved: metric === "ROAS" ? e : 1 / e,
    reached,
  };
}

/**
 * The allocator's inputs as the original app derived them from the job config (`run_all.R`): the budget per
 * period from `expected_spend` (a total over the last 365 days of data, `periods` rows), and bounds from
 * `channel_budgets` (normalised to expected_spend; each channel's target multiple of its historical spend
 * ± 5 %, [0, 0] where it spent nothing) or, with expected_spend alone below 0.9 × history, [0.01, min(2·ratio, 2)].
 */
export function allocatorBounds(
  channels: ChannelSummary[],
  opts: { expectedSpend?: number; channelBudgets?: Record<string, number>; periods: number },
): { budget?: number; low?: number | Record<string, number>; up?: number | Record<string, number> } {
  if (opts.expectedSpend === undefined) return {};
  const paid = channels.filter((c) => c.paid && c.coef > 0);
  const histPerPeriod = paid.reduce((s, c) => s + c.meanSpend, 0);
  const budget = opts.expectedSpend / opts.periods;
  if (opts.channelBudgets && Object.keys(opts.channelBudgets).length > 0) {
    const given = Object.fromEntries(
      Object.entries(opts.channelBudgets).map(([k, v]) => [k.toUpperCase(), v]),
    );
    const total = Object.values(given).reduce((a, b) => a + b, 0);
    const low: Record<string, number> = {};
    const up: Record<string, number> = {};
    for (const c of paid) {
      const share = total > 0 ? (given[c.name.toUpperCase()] ?? 0) / total : 0;
      const m = c.meanSpend > 0 ? (share * budget) / c.meanSpend : 0;
      low[c.name] = c.meanSpend > 0 ? Math.max(0, m * 0.95) : 0;
      up[c.name] = c.meanSpend > 0 ? m * 1.05 : 0;
    }
    return { budget, low, up };
  }
  const ratio = budget / histPerPeriod;
  if (ratio < 0.9) return { budget, low: 0.01, up: Math.min(2 * ratio, 2) };
  return { budget };
}
