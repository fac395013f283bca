/**
 * Robyn's media transformations (Robyn 3.12.1 `transformation.R`): geometric and Weibull (CDF/PDF) adstock over the
 * whole series, and Hill saturation whose inflexion is scaled by the modelling window's maximum.
 */

export type AdstockType = "geometric" | "weibull_cdf" | "weibull_pdf";

export interface Adstocked {
  /** The adstocked series (same length as the input). */
  decayed: Float64Array;
  /** The immediate part: `x[p] * weight[0]` for Weibull PDF, the raw series otherwise (Robyn's `input_immediate`). */
  immediate: Float64Array;
}

/** `x_decayed[0] = x[0]; x_decayed[t] = x[t] + theta * x_decayed[t-1]`. */
export function adstockGeometric(
  x: ArrayLike<number>,
  theta: number,
  out = new Float64Array(x.length),
): Float64Array {
  let prev = 0;
  for (let t = 0; t < x.length; t++) {
    prev = x[t] + theta * prev;
    out[t] = prev;
  }
  return out;
}

/** R's `round(v, 0)`: IEC 60559 round half to even. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** R's `quantile(1:n, p)` (type 7), computed as R does: `(1-h)*x[lo] + h*x[hi]` with `index = 1 + (n-1)*p`. */
export function quantileOfSeq(n: number, p: number): number {
  const index = 1 + (n - 1) * p;
  const lo = Math.floor(index);
  const hi = Math.ceil(index);
  const h = index - lo;
  return hi > lo ? (1 - h) * lo + h * hi : lo;
}

/**
 * Robyn's Weibull weights for a series of length `windlen`: the scale is `round(quantile(1:windlen, scale))`
 * (R type 7, i.e. `round(1 + scale*(windlen-1))`). PDF weights are the density on 1..windlen min-max normalised
 * (a constant density gives `1,0,0,...`); CDF weights are `cumprod(c(1, 1 - pweibull(1..windlen-1)))`.
 * Returns null when `shape == 0 || scale == 0` (no adstock).
 */
export function weibullWeights(
  shape: number,
  scale: number,
  windlen: number,
  type: "cdf" | "pdf",
): Float64Array | null {
  if (shape === 0 || scale === 0) return null;
  const lam = roundHalfEven(quantileOfSeq(windlen, scale));
  const w = new Float64Array(windlen);
  if (type === "pdf") {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    // R's dweibull: shape/scale · z^(shape−1) · exp(−z^shape), the powers taken through one log.
    const c = shape / lam;
    for (let i = 0; i < windlen; i++) {
      const lz = Math.log((i + 1) / lam);
      const d = c * Math.exp((shape - 1) * lz) * Math.exp(-Math.exp(shape * lz));
      w[i] = d;
      if (d < min) min = d;
      if (d > max) max = d;
    }
    const range = max - min;
    if (range === 0 || !Number.isFinite(range)) {
      w.fill(0);
      w[0] = 1;
    } else {
      for (let i = 0; i < windlen; i++) w[i] = (w[i] - min) / range;
    }
  } else {
    let cum = 1;
    w[0] = 1;
    for (let i = 1; i < windlen; i++) {
      cum *= Math.exp(-Math.exp(shape * Math.log(i / lam)));
      w[i] = cum;
    }
  }
  return w;
}

/** `decayed[k] = Σ_{p≤k} x[p] * w[k-p]`, `immediate[p] = x[p] * w[0]`. Zero spend rows and zero weights are skipped. */
export function adstockWeibull(
  x: ArrayLike<number>,
  shape: number,
  scale: number,
  type: "cdf" | "pdf",
  windlen = x.length,
): Adstocked {
  const n = x.length;
  const w = weibullWeights(shape, scale, windlen, type);
  if (!w) {
    const copy = Float64Array.from(x);
    return { decayed: copy, immediate: Float64Array.from(x) };
  }
  // The weights underflow to exact zeros in the tail: stop the convolution where they do.
  let last = Math.min(n, w.length) - 1;
  while (last > 0 && w[last] === 0) last--;
  const decayed = new Float64Array(n);
  const immediate = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const xp = x[p];
    immediate[p] = xp * w[0];
    if (xp === 0) continue;
    const end = Math.min(n - 1, p + last);
    for (let k = p; k <= end; k++) decayed[k] += xp * w[k - p];
  }
  return { decayed, immediate };
}

export interface AdstockParams {
  theta?: number;
  shape?: number;
  scale?: number;
}

/** Adstock of one series by type; `immediate` is the raw series except for Weibull PDF (Robyn's `run_transformations`). */
export function adstock(x: ArrayLike<number>, type: AdstockType, p: AdstockParams): Adstocked {
  if (type === "geometric") {
    if (p.theta === undefined) throw new TypeError("geometric adstock needs theta");
    return { decayed: adstockGeometric(x, p.theta), immediate: Float64Array.from(x) };
  }
  if (p.shape === undefined || p.scale === undefined)
    throw new TypeError(`${type} adstock needs shape and scale`);
  const res = adstockWeibull(x, p.shape, p.scale, type === "weibull_pdf" ? "pdf" : "cdf");
  if (type === "weibull_cdf") res.immediate = Float64Array.from(x);
  return res;
}

/** Robyn's Hill inflexion: `gamma * max(x)` over the window rows `[from, to)` of the adstocked series. */
export function hillInflexion(x: ArrayLike<number>, gamma: number, from = 0, to = x.length): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = from; i < to; i++) if (x[i] > max) max = x[i];
  return max * gamma;
}

/** `x^alpha / (x^alpha + inflexion^alpha)` for rows `[from, to)`, written to `out[0..to-from)`. */
export function saturateHill(
  x: ArrayLike<number>,
  alpha: number,
  inflexion: number,
  from = 0,
  to = x.length,
  out = new Float64Array(to - from),
): Float64Array {
  // x^a / (x^a + I^a) = 1 / (1 + exp(a·(log I − log x))): one exp and one log per value (V8's pow is ~2x slower).
  const logI = Math.log(inflexion);
  for (let i = from; i < to; i++) {
    const v = x[i];
    out[i - from] =
      v > 0
        ? 1 / (1 + Math.exp(alpha * (logI - Math.log(v))))
        : v === 0
          ? 0
          : v ** alpha / (v ** alpha + inflexion ** alpha);
  }
  return out;
}

/** Hill response of a single value with a fixed inflexion. */
export function hill(x: number, alpha: number, inflexion: number): number {
  const xa = x ** alpha;
  return xa / (xa + inflexion ** alpha);
}
