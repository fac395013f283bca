/**
 * Mozaic's "kinematic" holiday detrend (mozaic/holiday_smart.py `detrend`, as of the production commit ca1d5e7).
 *
 * For each day t >= 21 an expectation is extrapolated from the (already detrended) values a week, two and
 * three weeks back: position x = e[t-7], velocity v = e[t-7] - e[t-14], acceleration a = e[t-7] - 2 e[t-14] +
 * e[t-21]. Each of x, v, a is clamped to the mean of its previous 7 values when |value| > k |mean|, with
 * k = 1.5 + 6.5 / (1 + exp(-1e-5 (max y - 5e5))). The expectation is e = x + v + a / 2. A day within
 * `maxRadius` days of a holiday whose value dips below the expectation (y / |e| - 1 < threshold) is replaced by
 * the blend e w + y (1 - w), w = (minRadius + 1) / (d + 1), d = max(distance, minRadius); other days keep y.
 * Interpretation: the lags read the detrended output (so an earlier holiday dip does not echo a week later).
 */
export interface DetrendOptions {
  threshold?: number;
  maxRadius?: number;
  minRadius?: number;
}

export function kinematicK(maxY: number): number {
  return 1.5 + 6.5 / (1 + Math.exp(-1e-5 * (maxY - 5e5)));
}

/** `days` are consecutive day numbers (or any day numbers; distances use them), `holidays` day numbers. */
export function detrendHolidays(
  days: ArrayLike<number>,
  y: ArrayLike<number>,
  holidays: ArrayLike<number>,
  options: DetrendOptions = {},
): Float64Array {
  const threshold = options.threshold ?? -0.05;
  const maxRadius = options.maxRadius ?? 5;
  const minRadius = options.minRadius ?? 3;
  const n = y.length;
  const out = Float64Array.from(y as ArrayLike<number>);
  let maxY = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (Number.isFinite(y[i])) maxY = Math.max(maxY, y[i]);
  const k = kinematicK(maxY);
  const hol = Array.from(holidays).sort((a, b) => a - b);
  const distance = (d: number): number => {
    let lo = 0;
    let hi = hol.length - 1;
    let best = Number.POSITIVE_INFINITY;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      best = Math.min(best, Math.abs(hol[mid] - d));
      if (hol[mid] < d) lo = mid + 1;
      else hi = mid - 1;
    }
    return best;
  };
  const xs: number[] = [];
  const vs: number[] = [];
  const as: number[] = [];
  const clamp = (value: number, hist: number[]): number => {
    const recent = hist.slice(-7).filter(Number.isFinite);
    if (recent.length === 0) return value;
    const mean = recent.reduce((s, v) => s + v, 0) / recent.length;
    return Math.abs(value) > k * Math.abs(mean) ? mean : value;
  };
  for (let t = 21; t < n; t++) {
    const e7 = out[t - 7];
    const e14 = out[t - 14];
    const e21 = out[t - 21];
    let x = e7;
    let v = e7 - e14;
    let a = e7 - 2 * e14 + e21;
    x = clamp(x, xs);
    v = clamp(v, vs);
    a = clamp(a, as);
    xs.push(x);
    vs.push(v);
    as.push(a);
    const e = x + v + 0.5 * a;
    const yt = y[t];
    if (!Number.isFinite(yt) || !Number.isFinite(e) || e === 0) continue;
    const dist = distance(days[t]);
    if (dist > maxRadius) continue;
    if (yt / Math.abs(e) - 1 < threshold) {
      const d = Math.max(dist, minRadius);
      const w = (minRadius + 1) / (d + 1);
      out[t] = e * w + yt * (1 - w);
    }
  }
  return out;
}
