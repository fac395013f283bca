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
