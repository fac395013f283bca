/**
 * A small zlib encoder (RFC 1950 wrapper around one RFC 1951 fixed-Huffman block) for the ~0.5-3 KB profile
 * payloads. `zlib.deflateSync` spends most of its ~20 us per payload setting up and tearing down a zlib stream;
 * this encoder keeps its tables between calls and does greedy LZ77 (one hash candidate, 32 KiB window), so a
 * payload costs a few microseconds. The output is ordinary zlib data: Python's `zlib.decompress` and Node's
 * `inflateSync` read it; it is ~10-25% larger than zlib level 6 on JSON (fixed codes, no lazy matching).
 */

const WINDOW = 32_768;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
const HASH_BITS = 14;
const HASH_SIZE = 1 << HASH_BITS;
const HASH_SHIFT = 32 - HASH_BITS;

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
  227, 258,
];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
  6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];

function reverse(code: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) {
    r = (r << 1) | (code & 1);
    code >>>= 1;
  }
  return r;
}

// Fixed literal/length codes (RFC 1951 3.2.6), bit-reversed for an LSB-first writer.
const LIT_CODE = new Uint16Array(288);
const LIT_BITS = new Uint8Array(288);
for (let s = 0; s < 288; s++) {
  let code: number;
  let bits: number;
  if (s < 144) [code, bits] = [0x30 + s, 8];
  else if (s < 256) [code, bits] = [0x190 + s - 144, 9];
  else if (s < 280) [code, bits] = [s - 256, 7];
  else [code, bits] = [0xc0 + s - 280, 8];
  LIT_CODE[s] = reverse(code, bits);
  LIT_BITS[s] = bits;
}

// Per match length: the Huffman code and bits of its symbol followed by its extra bits, as one bit string.
const LEN_CODE = new Uint32Array(MAX_MATCH + 1);
const LEN_BITS = new Uint8Array(MAX_MATCH + 1);
for (let i = 0; i < LENGTH_BASE.length; i++) {
  const sym = 257 + i;
  const end = i + 1 < LENGTH_BASE.length ? LENGTH_BASE[i + 1] : MAX_MATCH + 1;
  for (let len = LENGTH_BASE[i]; len < end && len <= MAX_MATCH; len++) {
    // Length 258 has its own symbol (285) with no extra bits; 227..257 use 284.
    if (len === MAX_MATCH && sym !== 285) continue;
    LEN_CODE[len] = LIT_CODE[sym] | ((len - LENGTH_BASE[i]) << LIT_BITS[sym]);
    LEN_BITS[len] = LIT_BITS[sym] + LENGTH_EXTRA[i];
  }
}

// Distance symbol per distance (fixed 5-bit codes, reversed).
const DIST_SYM = new Uint8Array(WINDOW + 1);
for (let i = 0; i < DIST_BASE.length; i++) {
  const end = i + 1 < DIST_BASE.length ? DIST_BASE[i + 1] : WINDOW + 1;
  for (let d = DIST_BASE[i]; d < end; d++) DIST_SYM[d] = i;
}
const DIST_CODE = DIST_BASE.map((_, i) => reverse(i, 5));

export interface ZlibEncoder {
  /** zlib bytes of the UTF-8 text; the view is valid until the next call. */
  encode(text: string): Uint8Array;
}

export function createZlibEncoder(): ZlibEncoder {
  let input = Buffer.allocUnsafe(16_384);
  let out = new Uint8Array(20_000);
  const head = new Int32Array(HASH_SIZE);
  // Positions are stored as base + index so that entries from earlier inputs read as out of range without
  // clearing the table.
  let base = 1;

  return {
    encode(text) {
      if (input.length < text.length * 3) input = Buffer.allocUnsafe(text.length * 3);
      const n = input.write(text, 0, "utf8");
      const need = 16 + Math.ceil((n * 9) / 8);
      if (out.length < need) out = new Uint8Array(need * 2);
      if (base + n + WINDOW > 0x7fff0000) {
        head.fill(0);
        base = 1;
      }
      const src = input;
      const o = out;
      let op = 0;
      o[op++] = 0x78; // CM 8, 32 KiB window
      o[op++] = 0x01; // FLEVEL 0; (0x78 * 256 + 0x01) % 31 === 0
      // Bits go out LSB first; every write below keeps bitBuf under 2^26 (at most 7 pending + 18 new).
      let bitBuf = 3; // BFINAL 1, BTYPE 01 (fixed Huffman)
      let bitCount = 3;
      let i = 0;
      while (i < n) {
        let matchLen = 0;
        let dist = 0;
        if (i + MIN_MATCH <= n) {
          const slot = Math.imul((src[i] << 16) | (src[i + 1] << 8) | src[i + 2], 0x9e3779b1) >>> HASH_SHIFT;
          const cand = head[slot] - base;
          head[slot] = i + base;
          if (cand >= 0 && i - cand <= WINDOW && src[cand] === src[i] && src[cand + 1] === src[i + 1]) {
            const max = Math.min(MAX_MATCH, n - i);
            let len = 2;
            while (len < max && src[cand + len] === src[i + len]) len++;
            if (len >= MIN_MATCH) {
              matchLen = len;
              dist = i - cand;
            }
          }
        }
        if (matchLen > 0) {
          bitBuf |= LEN_CODE[matchLen] << bitCount;
          bitCount += LEN_BITS[matchLen];
          while (bitCount >= 8) {
            o[op++] = bitBuf & 0xff;
            bitBuf >>>= 8;
            bitCount -= 8;
          }
          const ds = DIST_SYM[dist];
          bitBuf |= (DIST_CODE[ds] | ((dist - DIST_BASE[ds]) << 5)) << bitCount;
          bitCount += 5 + DIST_EXTRA[ds];
          while (bitCount >= 8) {
            o[op++] = bitBuf & 0xff;
            bitBuf >>>= 8;
            bitCount -= 8;
          }
          // Index the positions inside the match (short matches only: long runs gain little from it).
          const stop = matchLen <= 32 ? Math.min(i + matchLen, n - MIN_MATCH + 1) : i + 1;
          for (let k = i + 1; k < stop; k++)
            head[Math.imul((src[k] << 16) | (src[k + 1] << 8) | src[k + 2], 0x9e3779b1) >>> HASH_SHIFT] =
              k + base;
          i += matchLen;
        } else {
          const lit = src[i++];
          bitBuf |= LIT_CODE[lit] << bitCount;
          bitCount += LIT_BITS[lit];
          while (bitCount >= 8) {
            o[op++] = bitBuf & 0xff;
            bitBuf >>>= 8;
            bitCount -= 8;
          }
        }
      }
      // End of block (symbol 256: seven zero bits), then the last partial byte.
      bitCount += LIT_BITS[256];
      while (bitCount > 0) {
        o[op++] = bitBuf & 0xff;
        bitBuf >>>= 8;
        bitCount -= 8;
      }
      // Adler-32 of the input, big-endian.
      let a = 1;
      let b = 0;
      for (let k = 0; k < n; ) {
        const end = Math.min(n, k + 5552);
        for (; k < end; k++) {
          a += src[k];
          b += a;
        }
        a %= 65521;
        b %= 65521;
      }
      o[op++] = b >>> 8;
      o[op++] = b & 0xff;
      o[op++] = a >>> 8;
      o[op++] = a & 0xff;
      base += n + WINDOW;
      return o.subarray(0, op);
    },
  };
}
