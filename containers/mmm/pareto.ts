import type { Candidate } from "./search.ts";

/**
 * Robyn's Pareto selection (`robyn_pareto`, `pareto_front`, `errors_scores`): a quantile filter, then 2-D fronts on
 * (NRMSE, DECOMP.RSSD), then an error score to rank models.
 */

/** R's `quantile(x, p)` (type 7). */
export function quantile(values: number[], p: number): number {
  const x = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (x.length === 0) return Number.NaN;
  const h = (x.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return x[lo] + (h - lo) * (x[hi] - x[lo]);
}

/**
 * Robyn's `pareto_front`: sort by (x, y) ascending; front k is the rows where the running minimum of y first takes a
 * new value; remove them and repeat up to `maxFronts`. Returns each index's front (0 = not on any).
 */
export function paretoFronts(
  x: number[],
  y: number[],
  maxFronts: number,
  minCount = Number.POSITIVE_INFINITY,
): number[] {
  const order = x.map((_, i) => i).sort((a, b) => x[a] - x[b] || y[a] - y[b] || a - b);
  const front = new Array<number>(x.length).fill(0);
  let rest = order;
  let count = 0;
  for (let k = 1; k <= maxFronts && rest.length > 0 && count < minCount; k++) {
    const keep: number[] = [];
    let min = Number.POSITIVE_INFINITY;
    for (const i of rest) {
      if (y[i] < min) {
        min = y[i];
        front[i] = k;
        count++;
      } else keep.push(i);
    }
    rest = keep;
  }
  return front;
}

export interface ParetoOptions {
  /** Number of fronts, or "auto": the fewest whose models reach `minCandidates` (Robyn default 100). */
  fronts?: number | "auto";
  minCandidates?: number;
  /** Robyn `calibration_constraint` (0.01..0.1): keep models with MAPE.LIFT ≤ this quantile. */
  calibrationConstraint?: number;
  /** Use nrmse_test for the error score (ts_validation). */
  tsValidation?: boolean;
  /** Weights of nrmse, decomp.rssd, mape in the error score. */
  balance?: [number, number, number];
}

export interface ParetoModel extends Candidate {
  robynParetoFront: number;
  errorScore: number;
}

/** Filters, assigns fronts and returns the Pareto models sorted by front then error score, plus every candidate's front. */
export function selectPareto(
  candidates: Candidate[],
  opts: ParetoOptions = {},
): { models: ParetoModel[]; fronts: number[] } {
  const calibrated = candidates.some((c) => Number.isFinite(c.mape));
  const qN = quantile(
    candidates.map((c) => c.nrmse),
    0.9,
  );
  const qR = quantile(candidates.map((c) => c.decompRssd).filter(Number.isFinite), 0.9);
  const qM = calibrated
    ? quantile(
        candidates.map((c) => c.mape),
        opts.calibrationConstraint ?? 0.1,
      )
    : Number.POSITIVE_INFINITY;
  const keep = candidates
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.nrmse <= qN && c.decompRssd <= qR && (!calibrated || c.mape <= qM));
  const xs = keep.map(({ c }) => c.nrmse);
  const ys = keep.map(({ c }) => c.decompRssd);
  // "auto": peel fronts until they hold `minCandidates` models.
  const fk =
    opts.fronts === undefined || opts.fronts === "auto"
      ? paretoFronts(xs, ys, Number.POSITIVE_INFINITY, opts.minCandidates ?? 100)
      : paretoFronts(xs, ys, opts.fronts);
  const fronts = new Array<number>(candidates.length).fill(0);
  keep.forEach(({ i }, j) => {
    fronts[i] = fk[j];
  });
  const onFront = keep.map(({ c }, j) => ({ c, f: fk[j] })).filter(({ f }) => f > 0);
  const scores = errorScores(
    onFront.map(({ c }) => c),
    opts,
  );
  const models = onFront
    .map(({ c, f }, j) => ({ ...c, robynParetoFront: f, errorScore: scores[j] }))
    .sort((a, b) => a.robynParetoFront - b.robynParetoFront || a.errorScore - b.errorScore);
  return { models, fronts };
}

/** Robyn `errors_scores`: min-max normalised errors, weighted by `balance/sum(balance)`, combined as a Euclidean norm. */
export function errorScores(cands: Candidate[], opts: ParetoOptions = {}): number[] {
  const bal = opts.balance ?? [1, 1, 1];
  const sum = bal[0] + bal[1] + bal[2];
  const w = bal.map((b) => b / sum);
  const cols = [
    cands.map((c) => (opts.tsValidation ? c.nrmseTest : c.nrmseTrain)),
    cands.map((c) => c.decompRssd),
    cands.map((c) => (Number.isFinite(c.mape) ? c.mape : 0)),
  ];
  const norm = cols.map((v) => {
    const mn = v.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
    const mx = v.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
    return v.map((x) => (mx > mn ? (x - mn) / (mx - mn) : 0));
  });
  return cands.map((_, i) => Math.sqrt(norm.reduce((s, col, k) => s + (w[k] * col[i]) ** 2, 0)));
}
