/**
 * Limited-memory quasi-Newton minimisation of f(x) + sum_i l1[i] * |x_i| (OWL-QN, Andrew & Gao 2007).
 *
 * Prophet's MAP objective is smooth except for the Laplace prior on the changepoint deltas. Stan's L-BFGS simply
 * runs on that non-smooth density (taking sign(0) = 0) and stops on its relative-tolerance tests with deltas that
 * hover near, but never at, zero. OWL-QN minimises the same objective exactly: it works on the orthant the
 * iterate is in, uses the pseudo-gradient of the L1 part and projects line-search points back onto the orthant,
 * so deltas that the prior wants at zero land exactly at zero. Coordinates with l1[i] = 0 are plain L-BFGS.
 *
 * `evaluate(x, grad)` returns the smooth part f(x) and writes its gradient into `grad`. It may return a
 * non-finite value for points outside the domain; the line search then backtracks.
 */
export interface MinimizeOptions {
  l1?: Float64Array;
  maxIterations?: number;
  memory?: number;
  /** Stop when the relative decrease of the objective over one iteration falls below this. */
  relativeTolerance?: number;
  /** Stop when the infinity norm of the pseudo-gradient falls below this. */
  gradientTolerance?: number;
}

export interface MinimizeResult {
  x: Float64Array;
  value: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  reason: string;
}

export function minimize(
  evaluate: (x: Float64Array, grad: Float64Array) => number,
  x0: Float64Array,
  options: MinimizeOptions = {},
): MinimizeResult {
  const n = x0.length;
  const l1 = options.l1 ?? new Float64Array(n);
  const maxIterations = options.maxIterations ?? 10000;
  const m = options.memory ?? 8;
  const relTol = options.relativeTolerance ?? 1e-10;
  const gradTol = options.gradientTolerance ?? 1e-8;

  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let evaluations = 1;
  const fs = evaluate(x, g);
  if (!Number.isFinite(fs))
    return {
      x,
      value: fs,
      iterations: 0,
      evaluations,
      converged: false,
      reason: "non-finite objective at the start",
    };
  let f = fs + l1Norm(x, l1);

  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  const pg = new Float64Array(n);
  const d = new Float64Array(n);
  const xNew = new Float64Array(n);
  let gNew = new Float64Array(n);

  for (let iter = 1; iter <= maxIterations; iter++) {
    pseudoGradient(x, g, l1, pg);
    let pgMax = 0;
    for (let i = 0; i < n; i++) pgMax = Math.max(pgMax, Math.abs(pg[i]));
    if (pgMax < gradTol)
      return { x, value: f, iterations: iter - 1, evaluations, converged: true, reason: "gradient" };

    // Two-loop recursion: d = -H pg.
    for (let i = 0; i < n; i++) d[i] = -pg[i];
    const k = S.length;
    for (let j = k - 1; j >= 0; j--) {
      alpha[j] = rho[j] * dot(S[j], d);
      axpy(-alpha[j], Y[j], d);
    }
    if (k > 0) {
      const gamma = dot(S[k - 1], Y[k - 1]) / dot(Y[k - 1], Y[k - 1]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let j = 0; j < k; j++) {
      const beta = rho[j] * dot(Y[j], d);
      axpy(alpha[j] - beta, S[j], d);
    }
    // Keep only the components that descend along the pseudo-gradient.
    let slope = 0;
    for (let i = 0; i < n; i++) {
      if (l1[i] !== 0 && d[i] * pg[i] >= 0) d[i] = 0;
      slope += d[i] * pg[i];
    }
    if (!(slope < 0)) {
      // The quasi-Newton direction is useless: restart from steepest descent.
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      slope = 0;
      for (let i = 0; i < n; i++) {
        d[i] = -pg[i];
        slope -= pg[i] * pg[i];
      }
      if (!(slope < 0))
        return {
          x,
          value: f,
          iterations: iter - 1,
          evaluations,
          converged: true,
          reason: "no descent direction",
        };
    }

    // Backtracking line search on the projected path (Armijo on the pseudo-gradient).
    let step = k === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let fNew = Number.NaN;
    let accepted = false;
    for (let ls = 0; ls < 60; ls++) {
      for (let i = 0; i < n; i++) {
        let v = x[i] + step * d[i];
        if (l1[i] !== 0) {
          const orthant = x[i] !== 0 ? Math.sign(x[i]) : -Math.sign(pg[i]);
          if (Math.sign(v) !== orthant) v = 0;
        }
        xNew[i] = v;
      }
      evaluations++;
      const fsNew = evaluate(xNew, gNew);
      fNew = fsNew + l1Norm(xNew, l1);
      if (Number.isFinite(fNew)) {
        let decrease = 0;
        for (let i = 0; i < n; i++) decrease += pg[i] * (xNew[i] - x[i]);
        if (fNew <= f + 1e-4 * decrease) {
          accepted = true;
          break;
        }
      }
      step *= ls === 0 && k === 0 ? 0.1 : 0.5;
    }
    if (!accepted) {
      return { x, value: f, iterations: iter, evaluations, converged: false, reason: "line search failed" };
    }

    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const fOld = f;
    x = Float64Array.from(xNew);
    const swap = g;
    g = gNew;
    gNew = swap;
    f = fNew;
    if (relativeChange(fOld, f) < relTol)
      return { x, value: f, iterations: iter, evaluations, converged: true, reason: "relative objective" };
  }
  return { x, value: f, iterations: maxIterations, evaluations, converged: false, reason: "iteration limit" };
}

function relativeChange(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1);
}

function pseudoGradient(x: Float64Array, g: Float64Array, l1: Float64Array, out: Float64Array): void {
  for (let i = 0; i < x.length; i++) {
    const c = l1[i];
    if (c === 0) out[i] = g[i];
    else if (x[i] > 0) out[i] = g[i] + c;
    else if (x[i] < 0) out[i] = g[i] - c;
    else if (g[i] + c < 0) out[i] = g[i] + c;
    else if (g[i] - c > 0) out[i] = g[i] - c;
    else out[i] = 0;
  }
}

function l1Norm(x: Float64Array, l1: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) if (l1[i] !== 0) s += l1[i] * Math.abs(x[i]);
  return s;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}

/**
 * Exact minimiser of q(x) = 1/2 x'Hx - c'x + sum_i l1[i] |x_i| for a small dense positive-definite H (row-major
 * n x n), by the feature-sign active-set search (Lee, Battle, Raina & Ng 2007): guess signs, solve the equality
 * system on the active set, walk towards it stopping at sign changes, repeat. Finite, and warm-startable.
 */
export function minimizeL1Quadratic(
  H: Float64Array,
  c: Float64Array,
  l1: Float64Array,
  x0: Float64Array,
  maxSteps = 2000,
): { x: Float64Array; steps: number; converged: boolean } {
  const n = c.length;
  const x = Float64Array.from(x0);
  const theta = new Float64Array(n);
  const active = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    theta[i] = Math.sign(x[i]);
    active[i] = l1[i] === 0 || x[i] !== 0 ? 1 : 0;
  }
  const grad = new Float64Array(n);
  const gradient = () => {
    for (let i = 0; i < n; i++) {
      let acc = -c[i];
      const row = i * n;
      for (let j = 0; j < n; j++) acc += H[row + j] * x[j];
      grad[i] = acc;
    }
  };
  const value = (v: Float64Array): number => {
    let f = 0;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const row = i * n;
      for (let j = 0; j < n; j++) acc += H[row + j] * v[j];
      f += v[i] * (0.5 * acc - c[i]) + l1[i] * Math.abs(v[i]);
    }
    return f;
  };
  const cand = new Float64Array(n);
  let lastFullStep = false;
  let steps = 0;
  for (; steps < maxSteps; steps++) {
    gradient();
    // Optimal on the active set already? Then look for the worst violator among the zeros.
    let worst = -1;
    let worstBy = 0;
    for (let i = 0; i < n; i++) {
      if (active[i] || l1[i] === 0) continue;
      const by = Math.abs(grad[i]) - l1[i];
      if (by > worstBy * (1 + 1e-12) && by > 1e-12 * (1 + l1[i])) {
        worst = i;
        worstBy = by;
      }
    }
    const activeOptimal = steps > 0 && lastFullStep;
    if (activeOptimal && worst < 0) return { x, steps, converged: true };
    if (worst >= 0 && (activeOptimal || steps === 0)) {
      active[worst] = 1;
      theta[worst] = -Math.sign(grad[worst]);
    }
    // Feature-sign step on the active set.
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (active[i]) idx.push(i);
    const a = idx.length;
    const A = new Float64Array(a * a);
    const rhs = new Float64Array(a);
    for (let p = 0; p < a; p++) {
      const i = idx[p];
      rhs[p] = c[i] - l1[i] * theta[i];
      for (let q = 0; q < a; q++) A[p * a + q] = H[i * n + idx[q]];
      A[p * a + p] *= 1 + 1e-12;
    }
    const sol = choleskySolve(A, rhs, a);
    if (!sol) return { x, steps, converged: false };
    const target = new Float64Array(n);
    for (let p = 0; p < a; p++) target[idx[p]] = sol[p];
    // Candidate points: the full step and every zero crossing of a currently non-zero penalised coordinate.
    const ts: number[] = [1];
    for (const i of idx) {
      if (l1[i] !== 0 && x[i] !== 0 && Math.sign(target[i]) !== Math.sign(x[i]))
        ts.push(x[i] / (x[i] - target[i]));
    }
    let bestT = 1;
    let bestF = Number.POSITIVE_INFINITY;
    for (const tt of ts) {
      for (let i = 0; i < n; i++) cand[i] = x[i] + tt * (target[i] - x[i]);
      const f = value(cand);
      if (f < bestF) {
        bestF = f;
        bestT = tt;
      }
    }
    for (let i = 0; i < n; i++) {
      const v = x[i] + bestT * (target[i] - x[i]);
      x[i] =
        l1[i] !== 0 &&
        (Math.abs(v) < 1e-15 || (bestT < 1 && x[i] !== 0 && Math.abs(v) <= 1e-12 * Math.abs(x[i])))
          ? 0
          : v;
    }
    for (let i = 0; i < n; i++) {
      if (l1[i] === 0) continue;
      if (x[i] === 0) active[i] = 0;
      theta[i] = Math.sign(x[i]);
    }
    lastFullStep = bestT === 1;
  }
  return { x, steps, converged: false };
}

/** Solves A x = b for symmetric positive-definite A (row-major, n x n); undefined when A is not. */
export function choleskySolve(A: Float64Array, b: Float64Array, n: number): Float64Array | undefined {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) return undefined;
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * z[k];
    z[i] = s / L[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * z[k];
    z[i] = s / L[i * n + i];
  }
  return z;
}

/**
 * Stan's L-BFGS as `rstan::optimizing` runs it for Prophet (algorithm "LBFGS", its default tolerances), so that
 * fits stop where R and Python Prophet stop. Prophet's posterior is flat along some changepoint directions; Stan's
 * relative tolerances end the search there before the exact optimum, and the stopping point is what Prophet
 * forecasts from. Reproduced here: the first step of size `initAlpha` along -g, strong-Wolfe line search with
 * cubic zoom (its sufficient-decrease test keeps using the first trial step, as Stan's does), the next trial step
 * from a cubic through the last step, a history of 5 pairs with the newest pair's scaling, a Hessian reset when
 * a line search fails, and the convergence tests in Stan's order. `evaluate` is the whole objective, including
 * any L1 term, with the derivative of |x| at 0 taken as 0 (Stan's sign(0)); it returns a non-finite value for
 * a point it cannot evaluate, which the line search steps back from.
 */
export interface StanLbfgsOptions {
  historySize?: number;
  initAlpha?: number;
  tolObj?: number;
  tolRelObj?: number;
  tolGrad?: number;
  tolRelGrad?: number;
  tolParam?: number;
  maxIterations?: number;
}

/** rstan::optimizing's defaults. */
export const STAN_LBFGS_DEFAULTS: Required<StanLbfgsOptions> = {
  historySize: 5,
  initAlpha: 1e-3,
  tolObj: 1e-12,
  tolRelObj: 1e4,
  tolGrad: 1e-8,
  tolRelGrad: 1e7,
  tolParam: 1e-8,
  maxIterations: 10000,
};

const EPS = 2.220446049250313e-16;
const C1 = 1e-4;
const C2 = 0.9;
const MIN_ALPHA = 1e-12;
const MAX_LS_ITS = 20;
const MAX_LS_RESTARTS = 10;

export function minimizeStanLbfgs(
  evaluate: (x: Float64Array, grad: Float64Array) => number,
  x0: Float64Array,
  options: StanLbfgsOptions = {},
): MinimizeResult {
  const o = { ...STAN_LBFGS_DEFAULTS, ...options };
  const n = x0.length;
  let evaluations = 0;
  // Stan's functor: non-zero when the value or the gradient is not finite.
  const func = (x: Float64Array, g: Float64Array): number => {
    evaluations++;
    const f = evaluate(x, g);
    if (!Number.isFinite(f)) return Number.NaN;
    for (let i = 0; i < n; i++) if (!Number.isFinite(g[i])) return Number.NaN;
    return f;
  };
  let xk = Float64Array.from(x0);
  let gk = new Float64Array(n);
  let fk = func(xk, gk);
  if (Number.isNaN(fk))
    return {
      x: xk,
      value: fk,
      iterations: 0,
      evaluations,
      converged: false,
      reason: "non-finite objective at the start",
    };
  let xk1 = new Float64Array(n);
  let gk1 = new Float64Array(n);
  let fk1 = Number.NaN;
  let pk = new Float64Array(n);
  let pk1 = new Float64Array(n);
  for (let i = 0; i < n; i++) pk[i] = -gk[i];
  let alphak1 = 0;
  const memS: Float64Array[] = [];
  const memY: Float64Array[] = [];
  const memRho: number[] = [];
  let gammak = 1;
  const sk = new Float64Array(n);
  const yk = new Float64Array(n);
  const ls = { alpha: 0, f1: Number.NaN };

  for (let it = 1; ; it++) {
    let resetB = it === 1 ? 1 : 0;
    for (;;) {
      if (resetB) for (let i = 0; i < n; i++) pk[i] = -gk[i];
      ls.alpha =
        it > 1 && resetB !== 2
          ? Math.min(1, 1.01 * cubicInterp(dot(gk1, pk1), alphak1, fk - fk1, dot(gk, pk1), MIN_ALPHA, 1))
          : o.initAlpha;
      // The trial point, its value and gradient land in xk1, gk1 (Stan's scratch for the previous iterate).
      const failed = wolfeLineSearch(func, ls, xk1, gk1, pk, xk, fk, gk);
      if (!failed) break;
      if (resetB)
        return {
          x: xk,
          value: fk,
          iterations: it,
          evaluations,
          converged: false,
          reason: "line search failed",
        };
      resetB = 2;
    }
    fk1 = fk;
    fk = ls.f1;
    [xk, xk1] = [xk1, xk];
    [gk, gk1] = [gk1, gk];
    [pk, pk1] = [pk1, pk];
    let gradNorm = 0;
    let stepNorm = 0;
    let sy = 0;
    let yy = 0;
    for (let i = 0; i < n; i++) {
      sk[i] = xk[i] - xk1[i];
      yk[i] = gk[i] - gk1[i];
      gradNorm += gk[i] * gk[i];
      stepNorm += sk[i] * sk[i];
      sy += sk[i] * yk[i];
      yy += yk[i] * yk[i];
    }
    gradNorm = Math.sqrt(gradNorm);
    stepNorm = Math.sqrt(stepNorm);
    if (resetB) {
      const b0 = yy / sy;
      memS.length = 0;
      memY.length = 0;
      memRho.length = 0;
      for (let i = 0; i < n; i++) pk1[i] /= b0;
      alphak1 = ls.alpha * b0;
    } else alphak1 = ls.alpha;
    if (memS.length === o.historySize) {
      memS.shift();
      memY.shift();
      memRho.shift();
    }
    memS.push(Float64Array.from(sk));
    memY.push(Float64Array.from(yk));
    memRho.push(1 / sy);
    gammak = sy / yy;
    lbfgsDirection(pk, gk, memS, memY, memRho, gammak);

    let reason = "";
    if (Math.abs(fk1 - fk) < o.tolObj) reason = "absolute objective change";
    else if (gradNorm < o.tolGrad) reason = "gradient norm";
    else if (stepNorm < o.tolParam) reason = "parameter change";
    else if (it >= o.maxIterations) reason = "iteration limit";
    else if (Math.abs(fk1 - fk) / Math.max(Math.abs(fk1), Math.abs(fk), 1) < o.tolRelObj * EPS)
      reason = "relative objective change";
    else if (-dot(pk, gk) / Math.max(Math.abs(fk), 1) < o.tolRelGrad * EPS) reason = "relative gradient";
    if (reason)
      return {
        x: xk,
        value: fk,
        iterations: it,
        evaluations,
        converged: reason !== "iteration limit",
        reason,
      };
  }
}

/** Two-loop recursion: p = -H g with H from the stored pairs (oldest first) and initial scaling gamma. */
function lbfgsDirection(
  p: Float64Array,
  g: Float64Array,
  S: Float64Array[],
  Y: Float64Array[],
  rho: number[],
  gamma: number,
): void {
  const n = g.length;
  const alphas = new Float64Array(S.length);
  for (let i = 0; i < n; i++) p[i] = -g[i];
  for (let j = S.length - 1; j >= 0; j--) {
    alphas[j] = rho[j] * dot(S[j], p);
    axpy(-alphas[j], Y[j], p);
  }
  for (let i = 0; i < n; i++) p[i] *= gamma;
  for (let j = 0; j < S.length; j++) {
    const beta = rho[j] * dot(Y[j], p);
    axpy(alphas[j] - beta, S[j], p);
  }
}

/**
 * Minimiser on [lo, hi] of the cubic through (0, 0) with slope df0 and (x1, f1) with slope df1, ends included.
 */
export function cubicInterp(
  df0: number,
  x1: number,
  f1: number,
  df1: number,
  lo: number,
  hi: number,
): number {
  const c3 = (-12 * f1 + 6 * x1 * (df0 + df1)) / (x1 * x1 * x1);
  const c2 = -(4 * df0 + 2 * df1) / x1 + (6 * f1) / (x1 * x1);
  const c1 = df0;
  const ts = Math.sqrt(c2 * c2 - 2 * c1 * c3);
  const s1 = -(c2 + ts) / c3;
  const s2 = -(c2 - ts) / c3;
  const at = (v: number) => v * ((v * ((v * c3) / 3 + c2)) / 2 + c1);
  let minF = at(lo);
  let minX = lo;
  let tmp = at(hi);
  if (tmp < minF) {
    minF = tmp;
    minX = hi;
  }
  if (lo < s1 && s1 < hi) {
    tmp = at(s1);
    if (tmp < minF) {
      minF = tmp;
      minX = s1;
    }
  }
  if (lo < s2 && s2 < hi) {
    tmp = at(s2);
    if (tmp < minF) minX = s2;
  }
  return minX;
}

/**
 * Strong-Wolfe line search from x0 along p, starting at ls.alpha; on success x1, g1, ls.f1 hold the accepted
 * point and ls.alpha its step. Returns true on failure.
 */
function wolfeLineSearch(
  func: (x: Float64Array, g: Float64Array) => number,
  ls: { alpha: number; f1: number },
  x1: Float64Array,
  g1: Float64Array,
  p: Float64Array,
  x0: Float64Array,
  f0: number,
  g0: Float64Array,
): boolean {
  const n = x0.length;
  const dfp = dot(g0, p);
  const c1dfp = C1 * dfp;
  const c2dfp = C2 * dfp;
  let alpha0 = MIN_ALPHA;
  let alpha1 = ls.alpha;
  let prevF = f0;
  let prevDFp = dfp;
  let nits = 0;
  let restarts = 0;
  for (;;) {
    if (nits >= MAX_LS_ITS) return true;
    for (let i = 0; i < n; i++) x1[i] = x0[i] + alpha1 * p[i];
    const f1 = func(x1, g1);
    if (Number.isNaN(f1)) {
      if (restarts >= MAX_LS_RESTARTS) return true;
      alpha1 = 0.5 * (alpha0 + alpha1);
      restarts++;
      continue;
    }
    restarts = 0;
    const newDFp = dot(g1, p);
    // Stan compares against the first trial step here, not alpha1.
    if (f1 > f0 + ls.alpha * c1dfp || (f1 >= prevF && nits > 0)) {
      return wolfeZoom(func, ls, x1, g1, x0, f0, c1dfp, c2dfp, p, alpha0, prevF, prevDFp, alpha1, f1, newDFp);
    }
    if (Math.abs(newDFp) <= -c2dfp) {
      ls.alpha = alpha1;
      ls.f1 = f1;
      return false;
    }
    if (newDFp >= 0) {
      return wolfeZoom(func, ls, x1, g1, x0, f0, c1dfp, c2dfp, p, alpha1, f1, newDFp, alpha0, prevF, prevDFp);
    }
    alpha0 = alpha1;
    prevF = f1;
    prevDFp = newDFp;
    alpha1 *= 10;
    nits++;
  }
}

function wolfeZoom(
  func: (x: Float64Array, g: Float64Array) => number,
  ls: { alpha: number; f1: number },
  x1: Float64Array,
  g1: Float64Array,
  x0: Float64Array,
  f0: number,
  c1dfp: number,
  c2dfp: number,
  p: Float64Array,
  alo0: number,
  aloF0: number,
  aloDFp0: number,
  ahi0: number,
  ahiF0: number,
  ahiDFp0: number,
): boolean {
  const n = x0.length;
  const minRange = 1e-16;
  let [alo, aloF, aloDFp, ahi, ahiF, ahiDFp] = [alo0, aloF0, aloDFp0, ahi0, ahiF0, ahiDFp0];
  for (let it = 1; ; it++) {
    if (Math.abs(alo - ahi) < minRange) return true;
    let alpha: number;
    if (it % 5 === 0) alpha = 0.5 * (alo + ahi);
    else {
      const d1 = aloDFp + ahiDFp - (3 * (aloF - ahiF)) / (alo - ahi);
      let d2 = Math.sqrt(d1 * d1 - aloDFp * ahiDFp);
      if (ahi < alo) d2 = -d2;
      alpha = ahi - ((ahi - alo) * (ahiDFp + d2 - d1)) / (ahiDFp - aloDFp + 2 * d2);
      const span = Math.abs(alo - ahi);
      if (
        !Number.isFinite(alpha) ||
        alpha < Math.min(alo, ahi) + 0.01 * span ||
        alpha > Math.max(alo, ahi) - 0.01 * span
      )
        alpha = 0.5 * (alo + ahi);
    }
    for (let i = 0; i < n; i++) x1[i] = x0[i] + alpha * p[i];
    let f = func(x1, g1);
    while (Number.isNaN(f)) {
      alpha = 0.5 * (alpha + Math.min(alo, ahi));
      if (Math.abs(Math.min(alo, ahi) - alpha) < minRange) return true;
      for (let i = 0; i < n; i++) x1[i] = x0[i] + alpha * p[i];
      f = func(x1, g1);
    }
    ls.alpha = alpha;
    const newDFp = dot(g1, p);
    if (f > f0 + alpha * c1dfp || f >= aloF) {
      ahi = alpha;
      ahiF = f;
      ahiDFp = newDFp;
    } else {
      if (Math.abs(newDFp) <= -c2dfp) {
        ls.f1 = f;
        return false;
      }
      if (newDFp * (ahi - alo) >= 0) {
        ahi = alo;
        ahiF = aloF;
        ahiDFp = aloDFp;
      }
      alo = alpha;
      aloF = f;
      aloDFp = newDFp;
    }
  }
}
