/**
 * What Mozaic's reconciliation needs from a node's sample paths, kept per forecast date instead of the whole
 * [dates x samples] matrix: the order statistics around the quantiles it reads (the top-down search band
 * [0.40, 0.60], the median and the output quantile), the mean and the sample variance. Top-down reconciliation
 * only ever moves a node's paths by one constant per date, so every quantile, mean and variance it uses follows
 * from these plus that offset; 1000 paths x ~400 dates (3.2 MB) become ~200 order statistics per date.
 */
export interface PathSummary {
  nDates: number;
  nSamples: number;
  /** Rank (0-based) of the first kept order statistic. */
  rankFrom: number;
  /** Order statistics kept per date. */
  width: number;
  /** Ascending order statistics, date-major: band[d * width + (rank - rankFrom)]. */
  band: Float64Array;
  mean: Float64Array;
  /** Sample variance (n - 1 in the denominator). */
  variance: Float64Array;
}

/** "log1p": the paths were fitted on log(y + 1) and map back with exp(s) - 1. */
export type PathTransform = "none" | "log1p";

/** Map paths back to the data's units and clip negatives (and NaN) to 0, in place, as Mozaic does. */
export function clipPaths(values: Float64Array, transform: PathTransform): Float64Array {
  for (let i = 0; i < values.length; i++) {
    const v = transform === "log1p" ? Math.exp(values[i]) - 1 : values[i];
    // biome-ignore lint/complexity/useMathMinMax: Math.max(NaN, 0) is NaN; a NaN path value must become 0.
    values[i] = v > 0 ? v : 0;
  }
  return values;
}

/** The ranks (inclusive) that linear interpolation (numpy's default) reads for quantiles in [lo, hi]. */
export function ranksFor(nSamples: number, lo: number, hi: number): [number, number] {
  if (!(lo >= 0 && hi <= 1 && lo <= hi))
    throw new RangeError(`quantile band [${lo}, ${hi}] is not within [0, 1]`);
  const last = nSamples - 1;
  return [Math.floor(lo * last), Math.min(last, Math.floor(hi * last) + 1)];
}

/**
 * Summarise date-major paths (values[d * nSamples + s]) keeping the order statistics for quantiles in
 * [lo, hi]. Per date: two quickselects isolate the band, which is then sorted (about 200 of 1000 values).
 */
export function summarisePaths(
  values: Float64Array,
  nDates: number,
  nSamples: number,
  lo: number,
  hi: number,
): PathSummary {
  if (values.length !== nDates * nSamples)
    throw new RangeError(`paths hold ${values.length} values, not ${nDates} dates x ${nSamples} samples`);
  const [rankFrom, rankTo] = ranksFor(nSamples, lo, hi);
  const width = rankTo - rankFrom + 1;
  const band = new Float64Array(nDates * width);
  const mean = new Float64Array(nDates);
  const variance = new Float64Array(nDates);
  const buf = new Float64Array(nSamples);
  for (let d = 0; d < nDates; d++) {
    const row = values.subarray(d * nSamples, (d + 1) * nSamples);
    let s = 0;
    for (let i = 0; i < nSamples; i++) s += row[i];
    const m = s / nSamples;
    let ss = 0;
    for (let i = 0; i < nSamples; i++) ss += (row[i] - m) * (row[i] - m);
    mean[d] = m;
    variance[d] = ss / Math.max(1, nSamples - 1);
    buf.set(row);
    selectRange(buf, rankFrom, 0, nSamples - 1);
    if (rankTo > rankFrom) selectRange(buf, rankTo, rankFrom + 1, nSamples - 1);
    const kept = buf.subarray(rankFrom, rankTo + 1);
    kept.sort();
    band.set(kept, d * width);
  }
  return { nDates, nSamples, rankFrom, width, band, mean, variance };
}

/** Quantile q of date d (numpy's linear interpolation), plus `offset`. */
export function quantileOf(s: PathSummary, d: number, q: number): number {
  const pos = q * (s.nSamples - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const need = frac === 0 || lo + 1 >= s.nSamples ? lo : lo + 1;
  if (lo < s.rankFrom || need >= s.rankFrom + s.width)
    throw new RangeError(`quantile ${q} is outside the kept order statistics of this summary`);
  const base = d * s.width - s.rankFrom;
  const v = s.band[base + lo];
  return need === lo ? v : v + frac * (s.band[base + lo + 1] - v);
}

/** Quantile q on every date, each plus offset[d] when given. */
export function quantilesAt(s: PathSummary, q: number, offset?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(s.nDates);
  for (let d = 0; d < s.nDates; d++) out[d] = quantileOf(s, d, q) + (offset ? offset[d] : 0);
  return out;
}

/**
 * Quickselect within a[left..right]: afterwards a[k] holds the value of rank k there, with nothing larger
 * before it and nothing smaller after it (NaN-free input).
 */
export function selectRange(a: Float64Array, k: number, left: number, right: number): number {
  let l = left;
  let r = right;
  while (r > l) {
    const pivot = a[(l + r) >> 1];
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else break;
  }
  return a[k];
}
