import { NonRetriableError } from "../../shared/core/errors.ts";
import type { ModelFrame } from "./frame.ts";
import { evaluateModel, hyperNames, type ModelSpec, type PreparedModel, prepareModel } from "./model.ts";
import { createRng, type Rng } from "./rng.ts";

/**
 * The hyperparameter search (Robyn `robyn_run`/`robyn_mmm` with Nevergrad's TwoPointsDE): per trial, a differential
 * evolution over the unit cube of the searched hyperparameters (population max(30, batch), donor
 * `parent + F1·(a − b) + F2·(best − parent)` with F1 = F2 = 0.8, two-point crossover, bouncing at the bounds), asked
 * and told in rounds of `batch` candidates; objectives NRMSE, DECOMP.RSSD (and MAPE.LIFT with calibration) are
 * minimised jointly through Nevergrad's hypervolume scalarisation (`frontLoss`): a child replaces its parent when its
 * loss against the trial's current Pareto front is not worse, and the "best" of the donor formula is drawn from that
 * front. Unit values map to `lo + u·(hi − lo)` after
 * `signif(u, 10)`, as Robyn's `qunif`. Each trial is seeded with `seed + trial` through its own PRNG, so results are
 * identical for a seed whatever the machine or the number of threads.
 */

export interface SearchOptions {
  iterations: number;
  trials: number;
  seed: number;
  /** Searched hyperparameters (Robyn names) and their ranges. */
  ranges: Record<string, [number, number]>;
  /** Fixed hyperparameters. */
  fixed: Record<string, number>;
  /** Candidates per ask/tell round (Robyn: `cores`). Default 1. */
  batch?: number;
  /** Robyn `objective_weights` (NRMSE, DECOMP.RSSD[, MAPE.LIFT]), scaling each objective in the search. Default 1s. */
  objectiveWeights?: number[];
}

export interface Candidate {
  solID: string;
  trial: number;
  iterNG: number;
  iterPar: number;
  hyp: Record<string, number>;
  nrmse: number;
  decompRssd: number;
  mape: number;
  nrmseTrain: number;
  nrmseVal: number;
  nrmseTest: number;
  rsqTrain: number;
  adjRsqTrain: number;
  rsqVal: number;
  rsqTest: number;
  lambda: number;
  interceptDropped: boolean;
  /** 1 when every decomposition share is ≥ 0 (Robyn `pos`). */
  pos: number;
}

/** Fills in Robyn's defaults: lambda [0,1] always searched unless fixed; train_size [0.5,0.8] with ts_validation, else 1. */
export function completeRanges(
  prep: PreparedModel,
  ranges: Record<string, [number, number]>,
  fixed: Record<string, number>,
): { names: string[]; ranges: Record<string, [number, number]>; fixed: Record<string, number> } {
  const r = { ...ranges };
  const f = { ...fixed };
  if (r.lambda === undefined && f.lambda === undefined) r.lambda = [0, 1];
  if (r.train_size === undefined && f.train_size === undefined) {
    if (prep.spec.tsValidation) r.train_size = [0.5, 0.8];
    else f.train_size = 1;
  }
  const all = hyperNames(prep);
  for (const n of all) {
    if (r[n] === undefined && f[n] === undefined) {
      throw new NonRetriableError(`hyperparameter "${n}" has neither a value nor a range`, {
        field: `hyperparameters.${n}`,
        fix: "give a value or a [lo, hi] range for every media hyperparameter",
      });
    }
  }
  for (const k of Object.keys(r)) {
    if (!all.includes(k))
      throw new NonRetriableError(`unknown hyperparameter "${k}"`, {
        field: `hyperparameters.${k}`,
        fix: `use: ${all.join(", ")}`,
      });
  }
  return { names: all.filter((n) => r[n] !== undefined), ranges: r, fixed: f };
}

function signif10(u: number): number {
  if (u === 0) return 0;
  return Number(u.toPrecision(10));
}

function dominates(a: number[], b: number[]): boolean {
  let strict = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) strict = true;
  }
  return strict;
}

/**
 * Nevergrad-style scalar loss of a point against the current front (`HypervolumePareto` with reference point 1):
 * a dominated point scores its Euclidean distance to the front's dominated region (> 0); a front point scores minus
 * its exclusive hypervolume contribution (2 objectives) or 0 (3 objectives).
 */
export function frontLoss(f: number[], front: number[][]): number {
  let dist = Number.POSITIVE_INFINITY;
  let dominated = false;
  for (const q of front) {
    if (q === f) continue;
    let d = 0;
    for (let i = 0; i < f.length; i++) {
      const e = f[i] - q[i];
      if (e > 0) d += e * e;
    }
    if (dominates(q, f)) dominated = true;
    if (d < dist) dist = d;
  }
  if (dominated) return Math.sqrt(dist);
  if (f.length !== 2) return 0;
  // Exclusive area: between the neighbours on the front sorted by the first objective, capped at the reference (1, 1).
  let left = Number.POSITIVE_INFINITY; // the neighbour with the next larger f0 bounds f0
  let up = 1; // the neighbour with the next smaller f0 bounds f1
  let right = 1;
  for (const q of front) {
    if (q === f) continue;
    if (q[0] > f[0] && q[0] < left) left = q[0];
    if (q[0] < f[0] && q[1] < up) up = q[1];
  }
  right = Math.min(1, left);
  const w = Math.max(0, right - f[0]);
  const h = Math.max(0, up - f[1]);
  return -(w * h) - 1e-12;
}

function bounce(v: number): number {
  let x = v;
  for (let k = 0; k < 4 && (x < 0 || x > 1); k++) x = x < 0 ? -x : 2 - x;
  return Math.min(1, Math.max(0, x));
}

interface Member {
  u: Float64Array;
  f: number[];
}

/** One trial: `iterations` evaluations; returns every candidate in evaluation order. */
export function runTrial(prep: PreparedModel, opts: SearchOptions, trial: number): Candidate[] {
  const { names, ranges, fixed } = completeRanges(prep, opts.ranges, opts.fixed);
  const d = names.length;
  const batch = Math.max(1, opts.batch ?? 1);
  const rng: Rng = createRng((opts.seed + trial) * 2654435761);
  const lo = names.map((n) => ranges[n][0]);
  const hi = names.map((n) => ranges[n][1]);
  const calibrated = (prep.spec.calibration?.length ?? 0) > 0;
  const popSize = Math.max(30, batch);
  const population: Member[] = [];
  let queue = 0;
  // The trial's current non-dominated set.
  let front: Member[] = [];
  const out: Candidate[] = [];
  const hyp: Record<string, number> = { ...fixed };
  const rounds = Math.ceil(opts.iterations / batch);
  for (let round = 1; round <= rounds; round++) {
    const asked: { u: Float64Array; parent: number }[] = [];
    for (let k = 0; k < batch && out.length + asked.length < opts.iterations; k++) {
      if (population.length + asked.filter((a) => a.parent < 0).length < popSize) {
        const u = new Float64Array(d);
        for (let i = 0; i < d; i++) u[i] = rng.next();
        asked.push({ u, parent: -1 });
        continue;
      }
      const pi = queue++ % population.length;
      const parent = population[pi];
      const a = population[rng.int(population.length)];
      const b = population[rng.int(population.length)];
      const best = front.length > 0 ? front[rng.int(front.length)] : parent;
      const donor = new Float64Array(d);
      for (let i = 0; i < d; i++)
        donor[i] = parent.u[i] + 0.8 * (a.u[i] - b.u[i]) + 0.8 * (best.u[i] - parent.u[i]);
      // Two-point crossover: a segment [s, e) from the donor, the rest from the parent (at least one donor gene).
      let s = rng.int(d);
      let e = rng.int(d + 1);
      if (s > e) [s, e] = [e, s];
      if (s === e) e = s + 1;
      const u = Float64Array.from(parent.u);
      for (let i = s; i < e; i++) u[i] = bounce(donor[i]);
      asked.push({ u, parent: pi });
    }
    for (let k = 0; k < asked.length; k++) {
      const { u, parent } = asked[k];
      for (let i = 0; i < d; i++) hyp[names[i]] = lo[i] + signif10(u[i]) * (hi[i] - lo[i]);
      const res = evaluateModel(prep, hyp);
      let pos = 1;
      for (const v of res.xDecompAgg) if (v < 0) pos = 0;
      const cand: Candidate = {
        solID: `${trial}_${round}_${k + 1}`,
        trial,
        iterNG: round,
        iterPar: k + 1,
        hyp: { ...hyp },
        nrmse: res.nrmse,
        decompRssd: res.decompRssd,
        mape: res.mape,
        nrmseTrain: res.nrmseTrain,
        nrmseVal: res.nrmseVal,
        nrmseTest: res.nrmseTest,
        rsqTrain: res.rsqTrain,
        adjRsqTrain: res.adjRsqTrain,
        rsqVal: res.rsqVal,
        rsqTest: res.rsqTest,
        lambda: res.lambda,
        interceptDropped: res.interceptDropped,
        pos,
      };
      out.push(cand);
      const f = calibrated ? [cand.nrmse, cand.decompRssd, cand.mape] : [cand.nrmse, cand.decompRssd];
      for (let i = 0; i < f.length; i++) {
        if (!Number.isFinite(f[i])) f[i] = Number.MAX_VALUE;
        else if (opts.objectiveWeights) f[i] *= opts.objectiveWeights[i] ?? 1;
      }
      const m: Member = { u, f };
      const onFront = !front.some((q) => dominates(q.f, f));
      if (onFront) front = [...front.filter((q) => !dominates(f, q.f)), m];
      if (parent < 0) population.push(m);
      else {
        const fs = front.map((q) => q.f);
        if (frontLoss(f, fs) <= frontLoss(population[parent].f, fs)) population[parent] = m;
      }
    }
  }
  return out;
}

export interface SearchResult {
  candidates: Candidate[];
  /** Searched names and their ranges, fixed values. */
  names: string[];
  ranges: Record<string, [number, number]>;
  fixed: Record<string, number>;
  elapsedMs: number;
}

export interface SearchRunOptions extends SearchOptions {
  /** Worker threads for trials (default min(trials, available cores)); 0 or 1 runs in this thread. */
  workers?: number;
  onProgress?: (done: { trial: number; candidates: number }) => void;
}

/** Runs all trials, over worker threads when `workers > 1`. */
export async function search(
  frame: ModelFrame,
  spec: ModelSpec,
  opts: SearchRunOptions,
): Promise<SearchResult> {
  if (!(opts.iterations >= 1) || !(opts.trials >= 1)) {
    throw new NonRetriableError("iterations and trials must be ≥ 1", { field: "iterations" });
  }
  const t0 = performance.now();
  const prep = prepareModel(frame, spec);
  const meta = completeRanges(prep, opts.ranges, opts.fixed);
  const { availableParallelism } = await import("node:os");
  const workers = Math.min(opts.trials, opts.workers ?? availableParallelism());
  const trials = Array.from({ length: opts.trials }, (_, i) => i + 1);
  const base: SearchOptions = {
    iterations: opts.iterations,
    trials: opts.trials,
    seed: opts.seed,
    ranges: opts.ranges,
    fixed: opts.fixed,
    batch: opts.batch,
  };
  const byTrial = new Map<number, Candidate[]>();
  if (workers <= 1) {
    for (const t of trials) {
      byTrial.set(t, runTrial(prep, base, t));
      opts.onProgress?.({ trial: t, candidates: opts.iterations });
    }
  } else {
    const { runTrialsInWorkers } = await import("./workers.ts");
    await runTrialsInWorkers(frame, spec, base, trials, workers, (t, c) => {
      byTrial.set(t, c);
      opts.onProgress?.({ trial: t, candidates: c.length });
    });
  }
  const candidates = trials.flatMap((t) => byTrial.get(t) ?? []);
  return {
    candidates,
    names: meta.names,
    ranges: meta.ranges,
    fixed: meta.fixed,
    elapsedMs: performance.now() - t0,
  };
}
