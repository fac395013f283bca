/**
 * bzip2 for the model files (the TAAR service's `_load_from_gcs` bz2-decompresses every `.bz2` key). The
 * reference `bzip2` binary (libbz2) is used when it is on PATH: it is about 100x faster than the pure-JS
 * `compressjs` encoder, which is the fallback so that the job still works in an image without it. Both write
 * the standard `BZh` stream, which Python's `bz2.decompress` reads.
 */
import { spawnSync } from "node:child_process";
// @ts-expect-error compressjs ships no type declarations; the shape used is `Bzip2Codec` below.
import compressjs from "compressjs";
import { NonRetriableError } from "../../shared/core/errors.ts";

interface Bzip2Codec {
  compressFile(input: Uint8Array, output?: null, blockSizeMultiplier?: number): ArrayLike<number>;
  decompressFile(input: Uint8Array): ArrayLike<number>;
}

const jsCodec = (): Bzip2Codec => (compressjs as { Bzip2: Bzip2Codec }).Bzip2;

export type Bz2Codec = "binary" | "js";

/** Whether a working `bzip2` is on `env.PATH` (what `spawnSync` resolves). */
export function bzip2Available(env: NodeJS.ProcessEnv = process.env): boolean {
  const r = spawnSync("bzip2", ["--help"], { encoding: "utf8", env });
  return r.error === undefined && r.status === 0;
}

let chosen: Bz2Codec | undefined;
/** The codec of this process: `js` when TAAR_BZIP2=js or no `bzip2` binary is found, else `binary`; decided once. */
export function defaultBz2Codec(): Bz2Codec {
  chosen ??= process.env.TAAR_BZIP2 === "js" || !bzip2Available() ? "js" : "binary";
  return chosen;
}

const MAX_BUFFER = 2 * 1024 * 1024 * 1024;

/** Compress at level 9 (Python's `bz2.compress` default). A failing binary falls back to the JS encoder. */
export function bz2Compress(data: Buffer, codec: Bz2Codec = defaultBz2Codec()): Buffer {
  if (codec === "binary") {
    const r = spawnSync("bzip2", ["-c", "-9"], { input: data, maxBuffer: MAX_BUFFER });
    if (r.status === 0) return r.stdout;
  }
  return Buffer.from(jsCodec().compressFile(data, null, 9) as Uint8Array);
}

export function bz2Decompress(data: Buffer, what = "input", codec: Bz2Codec = defaultBz2Codec()): Buffer {
  if (data.length < 4 || data.subarray(0, 3).toString("latin1") !== "BZh") {
    throw new NonRetriableError(`${what} is not bzip2 data (no BZh header)`, {
      field: what,
      fix: "write the file with bz2Compress",
    });
  }
  if (codec === "binary") {
    const r = spawnSync("bzip2", ["-dc"], { input: data, maxBuffer: MAX_BUFFER });
    if (r.status === 0) return r.stdout;
    throw new NonRetriableError(
      `${what} is corrupt bzip2 data: ${r.stderr.toString().trim().split("\n")[0]}`,
      {
        field: what,
        fix: "rewrite the file",
      },
    );
  }
  try {
    return Buffer.from(jsCodec().decompressFile(data) as Uint8Array);
  } catch (err) {
    throw new NonRetriableError(`${what} is corrupt bzip2 data: ${(err as Error).message ?? err}`, {
      field: what,
      fix: "rewrite the file",
    });
  }
}
