import { describe, expect, it } from "vitest";
import { hybrid, hybridMapped } from "../../containers/causemos/parquet.ts";

/** Parquet's RLE / bit-packed hybrid encoding of `values` (`width` bits), runs of equal values as RLE. */
function encode(values: number[], width: number, rng: () => number): Uint8Array {
  const out: number[] = [];
  const varint = (n: number) => {
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
  };
  const byteWidth = (width + 7) >> 3;
  let k = 0;
  while (k < values.length) {
    let run = 1;
    while (k + run < values.length && values[k + run] === values[k]) run++;
    if (run >= 8 || rng() < 0.3) {
      varint(run << 1);
      for (let b = 0; b < byteWidth; b++) out.push((values[k] >>> (8 * b)) & 0xff);
      k += run;
      continue;
    }
    // A bit-packed run of whole groups of 8 (the last one padded with zeros).
    const groups = 1 + Math.floor(rng() * 4);
    const chunk = values.slice(k, k + groups * 8);
    varint((groups << 1) | 1);
    const bytes = new Uint8Array(groups * width);
    chunk.forEach((v, j) => {
      for (let bit = 0; bit < width; bit++)
        if ((v >>> bit) & 1) bytes[(j * width + bit) >> 3] |= 1 << ((j * width + bit) & 7);
    });
    out.push(...bytes);
    k += chunk.length;
  }
  return Uint8Array.from(out);
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("dictionary indices decoded through the remap in one pass (hybridMapped)", () => {
  it("stores what hybrid and the remap loop store, for every width, run mix and offset", () => {
    const rng = seeded(7);
    for (let width = 0; width <= 30; width++) {
      for (let trial = 0; trial < 6; trial++) {
        const count = 1 + Math.floor(rng() * 300);
        // Indices over the whole width up to 20 bits (a remap covers them all); wider ones stay below 2^20.
        const range = 2 ** Math.min(width, 20);
        const distinct = width === 0 ? 1 : Math.min(range, 1 + Math.floor(rng() * 50));
        const pick = Array.from({ length: distinct }, () => Math.floor(rng() * range));
        if (width > 0 && width <= 20) pick[0] = range - 1;
        const values: number[] = [];
        while (values.length < count) {
          const v = pick[Math.floor(rng() * distinct)];
          const repeat = rng() < 0.2 ? 1 + Math.floor(rng() * 20) : 1;
          for (let r = 0; r < repeat && values.length < count; r++) values.push(v);
        }
        // The page ends right after the data (the 4-byte window must not read past it) or has bytes after it.
        const data = encode(values, width, rng);
        const tail = trial % 2 === 0 ? 0 : 5;
        const page = new Uint8Array(3 + data.length + tail);
        page.set(data, 3);
        const end = 3 + data.length;
        const maxIndex = width === 0 ? 0 : Math.max(...values);
        // A remap shorter than the indices too: what the loop stores for an index past the end.
        const map = new Int32Array(Math.max(1, maxIndex + (trial === 5 ? 0 : 1)));
        for (let k = 0; k < map.length; k++) map[k] = Math.floor(rng() * 1000);
        const idx = new Int32Array(count);
        hybrid(page, 3, end, width, count, idx);
        expect(Array.from(idx)).toEqual(values);
        const at = Math.floor(rng() * 4);
        const want = new Int32Array(at + count + 2).fill(-7);
        for (let k = 0; k < count; k++) want[at + k] = map[idx[k]];
        const got = new Int32Array(at + count + 2).fill(-7);
        hybridMapped(page, 3, end, width, count, map, got, at);
        expect({ width, trial, got: Array.from(got) }).toEqual({ width, trial, got: Array.from(want) });
      }
    }
  });

  it("fails on data that ends before its count, as hybrid does", () => {
    // One bit-packed group of eight 3-bit values (0..7): a ninth is not there.
    const data = Uint8Array.from([(1 << 1) | 1, 0b10001000, 0b11000110, 0b11111010]);
    const map = Int32Array.from({ length: 8 }, (_, k) => k);
    expect(() => hybridMapped(data, 0, data.length, 3, 9, map, new Int32Array(9), 0)).toThrow(
      /RLE data ends early/,
    );
    expect(() => hybrid(data, 0, data.length, 3, 9, new Int32Array(9))).toThrow(/RLE data ends early/);
  });
});
