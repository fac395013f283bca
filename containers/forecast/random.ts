/**
 * A seeded pseudo-random source (sfc32 seeded through splitmix32) with the draws Prophet's uncertainty
 * simulation needs: uniform, normal (Marsaglia's polar method), Laplace and Poisson.
 * Same seed, same sequence, on every platform: 32-bit integer arithmetic and IEEE doubles only. State lives in
 * typed arrays so that V8 never boxes it (a closure over mutable uint32/double locals allocates on every draw).
 */
export interface Random {
  uniform(): number;
  normal(): number;
  laplace(scale: number): number;
  poisson(lambda: number): number;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

class Sfc32 implements Random {
  readonly st = new Int32Array(4);
  readonly spare = new Float64Array(1);
  hasSpare = 0;

  constructor(seed: number) {
    const init = splitmix32(Math.floor(seed) ^ 0x5bd1e995);
    this.st[0] = init();
    this.st[1] = init();
    this.st[2] = init();
    this.st[3] = init() | 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const st = this.st;
    const a = st[0];
    const b = st[1];
    const c = st[2];
    const d = st[3];
    const t = (((a + b) | 0) + d) | 0;
    st[3] = (d + 1) | 0;
    st[0] = b ^ (b >>> 9);
    st[1] = (c + (c << 3)) | 0;
    st[2] = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** 53-bit uniform in (0, 1): never exactly 0, so logs are safe. */
  uniform(): number {
    const hi = this.next() >>> 5;
    const lo = this.next() >>> 6;
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  normal(): number {
    if (this.hasSpare === 1) {
      this.hasSpare = 0;
      return this.spare[0];
    }
    let u = 0;
    let v = 0;
    let q = 0;
    // 32-bit uniforms are plenty for the polar method's square.
    do {
      u = (this.next() + 0.5) / 2147483648 - 1;
      v = (this.next() + 0.5) / 2147483648 - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const f = Math.sqrt((-2 * Math.log(q)) / q);
    this.spare[0] = v * f;
    this.hasSpare = 1;
    return u * f;
  }

  laplace(scale: number): number {
    const u = this.uniform() - 0.5;
    return -scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }

  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda < 30) {
      const l = Math.exp(-lambda);
      let k = 0;
      let p = this.uniform();
      while (p > l) {
        k++;
        p *= this.uniform();
      }
      return k;
    }
    // Normal approximation; Prophet's rate S*(T-1) is large only for horizons far beyond the history.
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
  }
}

export function createRandom(seed: number): Random {
  return new Sfc32(seed);
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error below 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1))
    return p === 0 ? Number.NEGATIVE_INFINITY : p === 1 ? Number.POSITIVE_INFINITY : Number.NaN;
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lowP = 0.02425;
  if (p < lowP) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - lowP) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}
