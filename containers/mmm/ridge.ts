/**
 * Ridge regression as glmnet 4.1 fits it with `alpha = 0`, `standardize = TRUE` (Robyn's `model_refit`).
 * glmnet standardises with weights 1/n: each column is scaled by its population SD and centred only when there is an
 * intercept; the response is scaled by its population SD `s_y`, which divides the penalty and the limits. In that
 * scaling (`Z` the scaled columns) it minimises `½a'(C + (λ/s_y)·I)a − g'a` with `C = Z'Z/n`, `g = Z'y/(n·s_y)`,
 * subject to `lower·s_x/s_y ≤ a ≤ upper·s_x/s_y`; then `β = s_y·a/s_x` and the intercept is `ȳ − x̄'β`.
 * Without bounds binding this equals the closed form `β_std = (Z'Z + n·λ/s_y·I)⁻¹Z'(y−ȳ)`.
 */

export interface RidgeFit {
  coef: Float64Array;
  intercept: number;
  /** Coordinate-descent passes (glmnet's `nlp`); 0 for the exact solver. */
  passes: number;
}

export interface RidgeInput {
  /** Columns of the design matrix (each of length ≥ `to`). */
  cols: ArrayLike<number>[];
  y: ArrayLike<number>;
  /** Rows `[from, to)` are fitted. */
  from: number;
  to: number;
  lambda: number;
  lower: ArrayLike<number>;
  upper: ArrayLike<number>;
  intercept: boolean;
  /**
   * "glmnet" (default) replays glmnet's covariance-updating coordinate descent (`elnet1` at one lambda from a cold
   * start, stopping when a pass changes no `xv·Δa²` by `thresh` or more), which is what R returns, unconverged digits
   * included; "exact" solves the box-constrained QP to machine precision with an active-set method.
   */
  solver?: "glmnet" | "exact";
  /** glmnet's `thresh` (default 1e-7). */
  thresh?: number;
}

/** Fits the ridge; a column constant over the fitted rows gets coefficient 0 (glmnet drops it). */
export function fitRidge(inp: RidgeInput): RidgeFit {
  const { cols, y, from, to, lambda, lower, upper, intercept } = inp;
  const p = cols.length;
  const n = to - from;
  // Z holds the centred (intercept) or raw columns contiguously, then scaled by the population SD.
  const Z = new Float64Array(p * n);
  const mean = new Float64Array(p);
  const sd = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    const c = cols[j];
    const off = j * n;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const v = c[from + i];
      Z[off + i] = v;
      s += v;
    }
    const m = s / n;
    let v2 = 0;
    for (let i = 0; i < n; i++) {
      const d = Z[off + i] - m;
      v2 += d * d;
    }
    mean[j] = m;
    const sdj = Math.sqrt(v2 / n);
    sd[j] = sdj;
    if (!(sdj > 0)) {
      // glmnet (`chkvars`) leaves constant columns out: their coefficient is 0.
      Z.fill(0, off, off + n);
      continue;
    }
    const shift = intercept ? m : 0;
    for (let i = 0; i < n; i++) Z[off + i] = (Z[off + i] - shift) / sdj;
  }
  const yc = new Float64Array(n);
  let ysum = 0;
  for (let i = 0; i < n; i++) {
    yc[i] = y[from + i];
    ysum += yc[i];
  }
  const ym = ysum / n;
  let yv = 0;
  for (let i = 0; i < n; i++) yv += (yc[i] - ym) ** 2;
  const ysd = Math.sqrt(yv / n);
  if (!(ysd > 0)) throw new RangeError("the response has zero variance over the fitted rows");
  const cx = intercept ? mean : new Float64Array(p);
  const cy = intercept ? ym : 0;
  if (intercept) for (let i = 0; i < n; i++) yc[i] -= ym;
  const C = new Float64Array(p * p);
  const g = new Float64Array(p);
  const gScale = 1 / (n * ysd);
  for (let j = 0; j < p; j++) {
    const oj = j * n;
    let sy = 0;
    for (let i = 0; i < n; i++) sy += Z[oj + i] * yc[i];
    g[j] = sy * gScale;
    for (let k = 0; k <= j; k++) {
      const ok = k * n;
      let s = 0;
      for (let i = 0; i < n; i++) s += Z[oj + i] * Z[ok + i];
      const v = j === k && !(sd[j] > 0) ? 1 : s / n;
      C[j * p + k] = v;
      C[k * p + j] = v;
    }
  }
  const dem = lambda / ysd;
  const lo = new Float64Array(p);
  const hi = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    lo[j] = sd[j] > 0 ? (lower[j] * sd[j]) / ysd : 0;
    hi[j] = sd[j] > 0 ? (upper[j] * sd[j]) / ysd : 0;
  }
  let a: Float64Array;
  let passes = 0;
  if ((inp.solver ?? "glmnet") === "glmnet") {
    const res = coordinateDescent(C, g, lo, hi, p, dem, inp.thresh ?? 1e-7);
    a = res.a;
    passes = res.passes;
  } else {
    for (let j = 0; j < p; j++) C[j * p + j] += dem;
    a = solveBoxQp(C, g, lo, hi, p);
  }
  const coef = new Float64Array(p);
  let icpt = cy;
  for (let j = 0; j < p; j++) {
    coef[j] = sd[j] > 0 ? (ysd * a[j]) / sd[j] : 0;
    icpt -= cx[j] * coef[j];
  }
  return { coef, intercept: intercept ? icpt : 0, passes };
}

/**
 * glmnet `elnet1` (covariance updating) for `alpha = 0` at a single lambda from `a = 0`: a full pass updates every
 * coordinate `a_k ← clamp((g_k + C_kk·a_k)/(C_kk + dem))` and the gradient `g ← g − C_·k·Δ`; while a pass moves some
 * coordinate by `C_kk·Δ² ≥ thr`, passes repeat over the active set (in order of entry) until they do not, then a full
 * pass checks again. Limits > 1e5 passes are an error as in glmnet's `maxit`.
 */
function coordinateDescent(
  C: Float64Array,
  g0: Float64Array,
  cl: Float64Array,
  cu: Float64Array,
  p: number,
  dem: number,
  thr: number,
): { a: Float64Array; passes: number } {
  const g = Float64Array.from(g0);
  const a = new Float64Array(p);
  const active = new Int32Array(p);
  const entered = new Uint8Array(p);
  let nin = 0;
  let passes = 0;
  const maxit = 100_000;
  for (;;) {
    passes++;
    let dlx = 0;
    for (let k = 0; k < p; k++) {
      const ak = a[k];
      const xv = C[k * p + k];
      const u = g[k] + ak * xv;
      let nk = 0;
      if (Math.abs(u) > 0) nk = Math.max(cl[k], Math.min(cu[k], u / (xv + dem)));
      a[k] = nk;
      if (nk === ak) continue;
      if (!entered[k]) {
        entered[k] = 1;
        active[nin++] = k;
      }
      const del = nk - ak;
      const d = xv * del * del;
      if (d > dlx) dlx = d;
      for (let j = 0; j < p; j++) g[j] -= C[j * p + k] * del;
    }
    if (dlx < thr) break;
    if (passes > maxit) throw new RangeError("ridge coordinate descent did not converge");
    for (;;) {
      passes++;
      dlx = 0;
      for (let l = 0; l < nin; l++) {
        const k = active[l];
        const ak = a[k];
        const xv = C[k * p + k];
        const u = g[k] + ak * xv;
        let nk = 0;
        if (Math.abs(u) > 0) nk = Math.max(cl[k], Math.min(cu[k], u / (xv + dem)));
        a[k] = nk;
        if (nk === ak) continue;
        const del = nk - ak;
        const d = xv * del * del;
        if (d > dlx) dlx = d;
        for (let j = 0; j < p; j++) g[j] -= C[j * p + k] * del;
      }
      if (dlx < thr) break;
      if (passes > maxit) throw new RangeError("ridge coordinate descent did not converge");
    }
  }
  return { a, passes };
}

/**
 * Minimises `½x'Ax − b'x` subject to `lo ≤ x ≤ hi` for a symmetric positive definite `A` (row-major p×p),
 * with `lo ≤ 0 ≤ hi` (glmnet's requirement on limits, which makes 0 a feasible start). Primal active-set method.
 */
export function solveBoxQp(
  A: Float64Array,
  b: Float64Array,
  lo: Float64Array,
  hi: Float64Array,
  p: number,
): Float64Array {
  const x = new Float64Array(p);
  // 0 free, -1 at lower, +1 at upper
  const state = new Int8Array(p);
  const target = new Float64Array(p);
  const idx = new Int32Array(p);
  const M = new Float64Array(p * p);
  const r = new Float64Array(p);
  for (let iter = 0; iter < 10 * p + 20; iter++) {
    let nf = 0;
    for (let j = 0; j < p; j++) if (state[j] === 0) idx[nf++] = j;
    // Solve A_FF x_F = b_F - A_FB x_B.
    for (let a = 0; a < nf; a++) {
      const ja = idx[a];
      let s = b[ja];
      for (let k = 0; k < p; k++) if (state[k] !== 0) s -= A[ja * p + k] * x[k];
      r[a] = s;
      for (let c = 0; c < nf; c++) M[a * nf + c] = A[ja * p + idx[c]];
    }
    choleskySolve(M, r, nf);
    for (let j = 0; j < p; j++) target[j] = x[j];
    for (let a = 0; a < nf; a++) target[idx[a]] = r[a];
    // Step towards the subproblem's solution until the first bound is hit.
    let t = 1;
    let hit = -1;
    for (let a = 0; a < nf; a++) {
      const j = idx[a];
      const d = target[j] - x[j];
      if (target[j] < lo[j] && d < 0) {
        const tj = (lo[j] - x[j]) / d;
        if (tj < t) {
          t = tj;
          hit = j;
        }
      } else if (target[j] > hi[j] && d > 0) {
        const tj = (hi[j] - x[j]) / d;
        if (tj < t) {
          t = tj;
          hit = j;
        }
      }
    }
    if (hit >= 0) {
      for (let a = 0; a < nf; a++) {
        const j = idx[a];
        x[j] += t * (target[j] - x[j]);
      }
      // Pin the blocking variable (and any other that reached its bound in the same step).
      for (let a = 0; a < nf; a++) {
        const j = idx[a];
        if (target[j] < lo[j] && (j === hit || x[j] <= lo[j])) {
          x[j] = lo[j];
          state[j] = -1;
        } else if (target[j] > hi[j] && (j === hit || x[j] >= hi[j])) {
          x[j] = hi[j];
          state[j] = 1;
        }
      }
      continue;
    }
    for (let a = 0; a < nf; a++) x[idx[a]] = target[idx[a]];
    // KKT check on the bound variables: the gradient must point out of the box.
    let worst = -1;
    let worstV = 0;
    for (let j = 0; j < p; j++) {
      if (state[j] === 0) continue;
      let g = -b[j];
      for (let k = 0; k < p; k++) g += A[j * p + k] * x[k];
      const viol = state[j] === -1 ? -g : g;
      if (viol > worstV * (1 + 1e-12) && viol > 1e-12 * (Math.abs(b[j]) + 1)) {
        worstV = viol;
        worst = j;
      }
    }
    if (worst < 0) return x;
    state[worst] = 0;
  }
  return x;
}

/** In-place Cholesky solve of the SPD system `M r = r` (M is n×n row-major, overwritten). */
export function choleskySolve(M: Float64Array, r: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    let d = M[j * n + j];
    for (let k = 0; k < j; k++) d -= M[j * n + k] * M[j * n + k];
    if (!(d > 0)) throw new RangeError("ridge system is not positive definite");
    d = Math.sqrt(d);
    M[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let s = M[i * n + j];
      for (let k = 0; k < j; k++) s -= M[i * n + k] * M[j * n + k];
      M[i * n + j] = s / d;
    }
  }
  for (let i = 0; i < n; i++) {
    let s = r[i];
    for (let k = 0; k < i; k++) s -= M[i * n + k] * r[k];
    r[i] = s / M[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = r[i];
    for (let k = i + 1; k < n; k++) s -= M[k * n + i] * r[k];
    r[i] = s / M[i * n + i];
  }
}
