/**
 * Seedable randomness for the TAAR steps, so that a rerun of a partition writes the same files: mulberry32
 * uniforms, Box-Muller normals, inverse-CDF Laplace draws and a stable per-key hash for sampling.
 */
import { createHash } from "node:crypto";

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  laplace(scale: number): number;
}

export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    // Inverse CDF: u in (-1/2, 1/2), x = -b sign(u) ln(1 - 2|u|).
    laplace(scale) {
      const u = next() - 0.5;
      return -scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
    },
  };
}

/** A uniform in [0, 1) fixed by (key, seed): a Bernoulli sample that a rerun reproduces row by row. */
export function keyUniform(key: string, seed: number): number {
  const h = createHash("sha256").update(`${seed}:${key}`).digest();
  return h.readUInt32BE(0) / 4294967296;
}

/** The seed of a partition: the same day always samples the same clients. */
export function partitionSeed(partition: string, salt = 0): number {
  return (createHash("sha256").update(`${partition}:${salt}`).digest().readUInt32BE(0) ^ salt) >>> 0;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
