import { closeSync, openSync, writeSync } from "node:fs";
import zlib from "node:zlib";

/**
 * A small streaming Parquet writer for flat rows of optional strings, INT32 dates, INT64s and one list of
 * INT64s: the shape of the mozaggregator output, nothing more. Written from the Parquet format spec:
 *
 * - file: "PAR1", column chunks of each row group, FileMetaData (Thrift compact protocol), its length (u32 LE),
 *   "PAR1";
 * - data pages v1 (repetition and definition levels in the RLE/bit-packed hybrid, run-length runs only, each
 *   prefixed with its u32 byte length; values PLAIN, DELTA_BINARY_PACKED for the list's INT64s, or
 *   RLE_DICTIONARY indices for dictionary columns, whose chunk then starts with a PLAIN dictionary page), each
 *   page compressed whole (ZSTD through one reused context per writer, or GZIP when this Node has no zstd);
 * - a list column is the standard 3-level `optional group (LIST) { repeated group list { required int64
 *   element } }`: max definition level 2, max repetition level 1; an empty list is one entry at level 1.
 *
 * Pages are compressed as they fill (~256 KB), so a row group is buffered compressed, in one growing buffer per
 * column; a row group is written out when its compressed pages reach `rowGroupBytes` (32 MB) or its rows reach
 * `rowGroupRows` (1M).
 */

export type ColumnKind = "string" | "date" | "int64" | "int64-list";

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  /** Strings and INT64s may be NULL unless required; dates are always required. */
  required?: boolean;
  /**
   * One value for every row of the file (set with `setConstant`, no per-row call): written as a one-entry
   * dictionary page and a single run of index 0.
   */
  constant?: boolean;
  /**
   * A string column of few distinct values (the dimensions): RLE_DICTIONARY data pages against one dictionary
   * page per row group; when a row group's dictionary outgrows {@link DICT_MAX_ENTRIES} or
   * {@link DICT_MAX_BYTES}, the rest of that row group's pages are PLAIN, as parquet-mr does.
   */
  dictionary?: boolean;
}

export interface WriterOptions {
  rowGroupRows?: number;
  rowGroupBytes?: number;
  pageBytes?: number;
  createdBy?: string;
}

// ---------------------------------------------------------------- thrift compact protocol

const T_TRUE = 1;
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

/** A struct is its fields in id order; a field value is a number (i32/i64), string, struct or list. */
type TField =
  | [id: number, type: typeof T_I32 | typeof T_I64, value: number]
  | [id: number, type: typeof T_BINARY, value: string]
  | [id: number, type: typeof T_STRUCT, value: TField[]]
  | [id: number, type: typeof T_LIST, elemType: number, values: (number | string | TField[])[]];

class Bytes {
  buf = Buffer.allocUnsafe(1024);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }
  zigzag(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  bytes(b: Buffer, start = 0, end = b.length): void {
    this.ensure(end - start);
    b.copy(this.buf, this.len, start, end);
    this.len += end - start;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function writeStruct(out: Bytes, fields: TField[]): void {
  let last = 0;
  for (const f of fields) {
    const [id, type] = f;
    const delta = id - last;
    if (delta > 0 && delta <= 15) out.byte((delta << 4) | type);
    else {
      out.byte(type);
      out.zigzag(id);
    }
    last = id;
    writeValue(out, type, type === T_LIST ? [f[2], f[3]] : f[2]);
  }
  out.byte(0);
}

function writeValue(out: Bytes, type: number, value: unknown): void {
  switch (type) {
    case T_I32:
    case T_I64:
      out.zigzag(value as number);
      return;
    case T_BINARY: {
      const b = Buffer.from(value as string, "utf8");
      out.varint(b.length);
      out.bytes(b);
      return;
    }
    case T_STRUCT:
      writeStruct(out, value as TField[]);
      return;
    case T_LIST: {
      const [elemType, values] = value as [number, unknown[]];
      if (values.length < 15) out.byte((values.length << 4) | elemType);
      else {
        out.byte(0xf0 | elemType);
        out.varint(values.length);
      }
      for (const v of values) writeValue(out, elemType, v);
      return;
    }
    case T_TRUE:
      return;
  }
  throw new Error(`thrift type ${type} not supported`);
}

// ---------------------------------------------------------------- levels (RLE runs)

class Levels {
  readonly out = new Bytes();
  private value = -1;
  private run = 0;
  add(v: number): void {
    if (v === this.value) {
      this.run++;
      return;
    }
    this.flush();
    this.value = v;
    this.run = 1;
  }
  addRun(v: number, n: number): void {
    if (n <= 0) return;
    if (v !== this.value) {
      this.flush();
      this.value = v;
      this.run = 0;
    }
    this.run += n;
  }
  flush(): void {
    if (this.run > 0) {
      this.out.varint(this.run * 2);
      this.out.byte(this.value);
    }
    this.run = 0;
    this.value = -1;
  }
  reset(): void {
    this.out.len = 0;
    this.value = -1;
    this.run = 0;
  }
}

// ---------------------------------------------------------------- columns

const TYPE_INT32 = 1;
const TYPE_INT64 = 2;
const TYPE_BYTE_ARRAY = 6;
const CODEC_GZIP = 2;
const CODEC_ZSTD = 6;
const ENC_PLAIN = 0;
const ENC_RLE = 3;

const hasZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === "function";
const CODEC = hasZstd ? CODEC_ZSTD : CODEC_GZIP;
/**
 * zstd level 1 with a 2 KB hash table (hashLog 11, against level 1's 2^14 or more): on the `aggregate` text's
 * 256 KB pages this compresses ~1.3x faster for ~3% more bytes (measured: 350 against 270 MB per CPU-second,
 * ratio 3.99 against 4.13).
 */
const ZSTD_OPTIONS = {
  params: { [zlib.constants.ZSTD_c_compressionLevel]: 1, [zlib.constants.ZSTD_c_hashLog]: 11 },
};
type SyncChunk = { _processChunk?: (chunk: Buffer, flush: number) => Buffer; close(): void };
/** zlib's native handle: a synchronous step of the codec, its result in the stream's `_writeState`. */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Buffer,
    inOff: number,
    inLen: number,
    out: Buffer,
    outOff: number,
    outLen: number,
  ): void;
}
interface NativeStream {
  _handle?: NativeHandle | null;
  _writeState?: Uint32Array;
  errored?: Error | null;
  on(event: "error", listener: () => void): unknown;
  close(): void;
}

/** The compressors' output buffer, shared by this thread's writers (each copies a page out before the next). */
let compressed = Buffer.allocUnsafe(1 << 16);

/**
 * Compress one page, whole. zlib's one-shot zstd makes (and leaves to the garbage collector) a native context
 * per call; pages' contexts then pile up in RSS and their external memory drives V8 into frequent collections.
 * So a writer keeps one zstd context and drives its native handle synchronously: a frame ended with
 * ZSTD_e_end leaves the context ready for the next frame. Without that handle (another Node) each page takes a
 * fresh context through `_processChunk`, the synchronous path zlib's own *Sync functions use.
 */
class Compressor {
  private stream: NativeStream | null = null;

  /** The compressed bytes: valid until the next call (copy them before compressing again). */
  compress(b: Buffer): Buffer {
    if (!hasZstd) return zlib.gzipSync(b, { level: 1 });
    if (this.stream === null) {
      const s = zlib.createZstdCompress(ZSTD_OPTIONS) as unknown as NativeStream;
      s.on("error", () => {
        // read back through `errored` right after the call that failed
      });
      if (typeof s._handle?.writeSync !== "function" || !(s._writeState instanceof Uint32Array)) {
        s.close();
        return compressOnce(b);
      }
      this.stream = s;
    }
    const s = this.stream;
    const handle = s._handle as NativeHandle;
    const state = s._writeState as Uint32Array;
    const bound = b.length + (b.length >>> 7) + 1024;
    if (compressed.length < bound) compressed = Buffer.allocUnsafe(bound);
    let inOff = 0;
    let inLen = b.length;
    let produced = 0;
    for (;;) {
      handle.writeSync(
        zlib.constants.ZSTD_e_end,
        b,
        inOff,
        inLen,
        compressed,
        produced,
        compressed.length - produced,
      );
      if (s.errored) {
        this.stream = null;
        throw s.errored;
      }
      const availOut = state[0];
      const availIn = state[1];
      const made = compressed.length - produced - availOut;
      produced += made;
      inOff += inLen - availIn;
      inLen = availIn;
      if (availOut > 0 && inLen === 0) break;
      const bigger = Buffer.allocUnsafe(compressed.length * 2);
      compressed.copy(bigger, 0, 0, produced);
      compressed = bigger;
    }
    return compressed.subarray(0, produced);
  }
}

/**
 * Compressors of closed writers, taken again by the next writer of this thread: a zstd context is a few hundred
 * KB of native memory, and a fresh one per table faults its pages in again (~20 us a page fault on this
 * project's VMs: ~3,000 faults a day's conversion, measured with `perf record -e page-faults`). A frame ended
 * with ZSTD_e_end leaves the context as a new one, so the pages it compresses do not depend on its past.
 */
const compressorPool: Compressor[] = [];
function takeCompressor(): Compressor {
  return compressorPool.pop() ?? new Compressor();
}

function compressOnce(b: Buffer): Buffer {
  const engine = zlib.createZstdCompress(ZSTD_OPTIONS) as unknown as SyncChunk;
  if (typeof engine._processChunk !== "function") {
    engine.close();
    return zlib.zstdCompressSync(b, ZSTD_OPTIONS);
  }
  try {
    return engine._processChunk(b, zlib.constants.ZSTD_e_end);
  } finally {
    engine.close();
  }
}

const ENC_DELTA = 5;
const TWO32 = 4294967296;
/** Values within ±2^50 keep every delta and its zigzag form exact as doubles. */
const DELTA_SAFE = 2 ** 50;
const BLOCK = 128;
const MINIBLOCKS = 4;
const MINI = BLOCK / MINIBLOCKS;

/**
 * DELTA_BINARY_PACKED (Parquet spec): header <block size 128> <4 miniblocks> <count> <first value, zigzag>,
 * then per block of 128 deltas: <min delta, zigzag> <4 bit widths> and each miniblock's 32 (delta - min)
 * bit-packed LSB first; the last miniblock is padded to 32 values, unused trailing miniblocks have width 0
 * and no bytes.
 *
 * The room for the worst case is reserved once, then the blocks are written through plain locals
 * ({@link deltaBlocks} returns the end): a page's one call runs long loops that V8 optimizes while they run
 * (on-stack replacement), and a small function with no property access after its loops compiles once and
 * quickly, where the method calls on `out` in every block made it compile three times.
 */
function encodeDelta(values: Float64Array, n: number, out: Bytes): void {
  out.varint(BLOCK);
  out.varint(MINIBLOCKS);
  out.varint(n);
  out.zigzag(n > 0 ? values[0] : 0);
  const blocks = n > 1 ? Math.ceil((n - 1) / BLOCK) : 0;
  // Per block: the minimum (a varint of at most 8 bytes), 4 widths, 4 miniblocks of 32 values of <= 64 bits.
  out.ensure(blocks * (8 + MINIBLOCKS + BLOCK * 8) + 16);
  out.len = deltaBlocks(values, n, out.buf, out.len);
}

/** The blocks of {@link encodeDelta} written from `o[p]` on (room reserved); returns the end. */
function deltaBlocks(values: Float64Array, n: number, o: Buffer, p: number): number {
  const deltas = deltaScratch;
  const highs = highScratch;
  for (let start = 1; start < n; start += BLOCK) {
    const count = Math.min(BLOCK, n - start);
    // One pass: the deltas, their minimum and each miniblock's maximum.
    let min = Number.POSITIVE_INFINITY;
    for (let m = 0; m < MINIBLOCKS; m++) {
      const a = m * MINI;
      const b = Math.min(count, a + MINI);
      let max = Number.NEGATIVE_INFINITY;
      for (let i = a; i < b; i++) {
        const d = values[start + i] - values[start + i - 1];
        deltas[i] = d;
        if (d < min) min = d;
        if (d > max) max = d;
      }
      highs[m] = max;
    }
    let spread = 0;
    for (let m = 0; m < MINIBLOCKS; m++)
      if (m * MINI < count && highs[m] - min > spread) spread = highs[m] - min;
    p = putVarint(o, p, min >= 0 ? min * 2 : -min * 2 - 1);
    if (spread < 2 ** 31) {
      // Integer path: every (delta - min) fits 31 bits.
      const w = p;
      for (let m = 0; m < MINIBLOCKS; m++) o[p++] = m * MINI < count ? 32 - Math.clz32(highs[m] - min) : 0;
      for (let m = 0; m < MINIBLOCKS; m++) {
        const a = m * MINI;
        if (a >= count) break;
        p = packInts(deltas, min, a, Math.min(count, a + MINI), a + MINI, o[w + m], o, p);
      }
    } else p = wideBlock(deltas, min, count, o, p);
  }
  return p;
}

/** A block whose (delta - min) spread needs more than 31 bits: widths, then each miniblock by {@link packBits}. */
function wideBlock(deltas: Float64Array, min: number, count: number, o: Buffer, p: number): number {
  const w = p;
  for (let m = 0; m < MINIBLOCKS; m++) {
    let max = 0;
    const a = m * MINI;
    const b = Math.min(count, a + MINI);
    for (let i = a; i < b; i++) {
      const r = deltas[i] - min;
      deltas[i] = r;
      if (r > max) max = r;
    }
    o[p++] = a < count ? bitWidth(max) : 0;
  }
  for (let m = 0; m < MINIBLOCKS; m++) {
    const a = m * MINI;
    if (a >= count) break;
    p = packBits(deltas, a, Math.min(count, a + MINI), a + MINI, o[w + m], o, p);
  }
  return p;
}

/** A non-negative integral number (< 2^53) as a ULEB128 varint at `o[p]`; returns the end. */
function putVarint(o: Buffer, p: number, v: number): number {
  while (v >= 0x80) {
    o[p++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  o[p++] = v;
  return p;
}

const deltaScratch = new Float64Array(BLOCK);
const highScratch = new Float64Array(MINIBLOCKS);

/**
 * Pack (deltas[i] - min) for i in [from, to), each known to fit `width` <= 31 bits (then zeros up to `padTo`),
 * LSB first, 32 bits at a time, at `o[p]`; `padTo - from` is a multiple of 32, so whole words come out.
 * Returns the end.
 */
function packInts(
  deltas: Float64Array,
  min: number,
  from: number,
  to: number,
  padTo: number,
  width: number,
  o: Buffer,
  p: number,
): number {
  if (width === 0) return p;
  let acc = 0;
  let bits = 0;
  for (let i = from; i < padTo; i++) {
    const v = i < to ? (deltas[i] - min) | 0 : 0;
    acc |= v << bits;
    bits += width;
    if (bits >= 32) {
      o[p] = acc;
      o[p + 1] = acc >>> 8;
      o[p + 2] = acc >>> 16;
      o[p + 3] = acc >>> 24;
      p += 4;
      bits -= 32;
      acc = bits > 0 ? v >>> (width - bits) : 0;
    }
  }
  return p;
}

function bitWidth(max: number): number {
  if (max < TWO32) return 32 - Math.clz32(max);
  let w = 32;
  for (let m = Math.floor(max / TWO32); m >= 1; m = Math.floor(m / 2)) w++;
  return w;
}

/**
 * Pack values[from, to) (then zeros up to `padTo`) with `width` bits each, least significant bit first, at
 * `o[p]`; returns the end.
 */
function packBits(
  values: Float64Array,
  from: number,
  to: number,
  padTo: number,
  width: number,
  o: Buffer,
  p: number,
): number {
  if (width === 0) return p;
  if (width <= 24) {
    // Integer fast path: the accumulator never holds more than 7 + 24 bits.
    let acc = 0;
    let bits = 0;
    for (let i = from; i < padTo; i++) {
      acc |= (i < to ? values[i] : 0) << bits;
      bits += width;
      while (bits >= 8) {
        o[p++] = acc & 255;
        acc >>>= 8;
        bits -= 8;
      }
    }
    if (bits > 0) o[p++] = acc & 255;
    return p;
  }
  let acc = 0;
  let bits = 0;
  for (let i = from; i < padTo; i++) {
    let v = i < to ? values[i] : 0;
    let left = width;
    while (left > 0) {
      const take = Math.min(left, 16);
      const chunk = take === 16 ? v % 65536 : v % (1 << take);
      v = Math.floor(v / (1 << take));
      left -= take;
      acc += chunk * (1 << bits);
      bits += take;
      while (bits >= 8) {
        o[p++] = acc & 255;
        acc = Math.floor(acc / 256);
        bits -= 8;
      }
    }
  }
  if (bits > 0) o[p++] = acc & 255;
  return p;
}

const ENC_RLE_DICTIONARY = 8;
/** A row group's dictionary stops growing at this many entries or bytes (then the column goes PLAIN). */
export const DICT_MAX_ENTRIES = 1 << 16;
export const DICT_MAX_BYTES = 1 << 20;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/**
 * The dictionary hash of `buf[start, end)`: its length and three sampled 4-byte words (start, middle, end), or
 * every byte of a value under 4 bytes, then a final mix. Values of one column are short names and versions, so
 * the samples tell them apart almost always; when they do not, the dictionary's full compare of the bytes
 * still decides. Cheaper than hashing every byte (a multiply per byte, one after another).
 */
export function hashBytes(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  let h = Math.imul(n ^ FNV_OFFSET, FNV_PRIME);
  if (n >= 4) {
    h = Math.imul(h ^ word(buf, start), FNV_PRIME);
    h = Math.imul(h ^ word(buf, end - 4), FNV_PRIME);
    if (n > 8) h = Math.imul(h ^ word(buf, start + (n >>> 1) - 2), FNV_PRIME);
  } else for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

function word(buf: Buffer, p: number): number {
  return buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24);
}

/**
 * One row group's dictionary of a string column: entries in order of first appearance, kept PLAIN-encoded in
 * `page` (the dictionary page's body), found by hash in an open-addressing table.
 */
class Dictionary {
  readonly page = new Bytes();
  count = 0;
  private slots = new Int32Array(1024);
  private hashes = new Int32Array(512);
  private offsets = new Int32Array(512);
  private lengths = new Int32Array(512);

  /** The entry of `buf[start, end)` (hash `h`), added when new; -1 when the dictionary is full. */
  index(buf: Buffer, start: number, end: number, h: number): number {
    const len = end - start;
    const slots = this.slots;
    const mask = slots.length - 1;
    let slot = h & mask;
    for (;;) {
      const id = slots[slot] - 1;
      if (id < 0) break;
      if (this.hashes[id] === h && this.lengths[id] === len) {
        const o = this.page.buf;
        let p = this.offsets[id];
        let i = start;
        while (i < end && o[p] === buf[i]) {
          p++;
          i++;
        }
        if (i === end) return id;
      }
      slot = (slot + 1) & mask;
    }
    if (this.count >= DICT_MAX_ENTRIES || this.page.len + 4 + len > DICT_MAX_BYTES) return -1;
    const id = this.count++;
    if (id === this.hashes.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.hashes = grow(this.hashes);
      this.offsets = grow(this.offsets);
      this.lengths = grow(this.lengths);
    }
    this.hashes[id] = h;
    this.lengths[id] = len;
    const page = this.page;
    page.u32(len);
    this.offsets[id] = page.len;
    page.bytes(buf, start, end);
    slots[slot] = id + 1;
    if (2 * this.count > slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.count; id++) {
      let slot = this.hashes[id] & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    this.slots = slots;
  }

  reset(): void {
    this.page.len = 0;
    this.count = 0;
    this.slots.fill(0);
  }
}

/** One page body at a time is encoded (and compressed right away), so they share one buffer. */
const pageScratch = new Bytes();
const headerScratch = new Bytes();

/**
 * Column buffers of closed writers, reused by the next writer of this thread: a row group's chunk grows to
 * tens of MB, and growing fresh buffers for every table (copies, page faults, external-memory GCs) cost ~5%
 * of a conversion. Kept by column name and use, so that a column gets back the buffers it grew (shared in
 * one list, a large column took a small one's and grew it again: ~10% of a thread's second table, profiled).
 */
const bytesPool = new Map<string, Bytes[]>();
function takeBytes(key: string, len: number): Bytes {
  const b = bytesPool.get(key)?.pop() ?? new Bytes();
  b.ensure(len);
  b.len = len;
  return b;
}
function giveBytes(key: string, b: Bytes): void {
  const list = bytesPool.get(key);
  if (list === undefined) bytesPool.set(key, [b]);
  else list.push(b);
}
/** The same for dictionary indices and list elements (arrays of one page). */
const int32Pool: Int32Array[] = [];
const float64Pool: Float64Array[] = [];
function takeInt32(len: number): Int32Array {
  const a = int32Pool.pop();
  return a !== undefined && a.length >= len ? a : new Int32Array(len);
}
function takeFloat64(len: number): Float64Array {
  const a = float64Pool.pop();
  return a !== undefined && a.length >= len ? a : new Float64Array(len);
}

/**
 * Bytes kept free in front of a column's PLAIN values: the page's levels are written there, right before the
 * values, so that the page body is compressed in place instead of being copied together first.
 */
const LEVELS_ROOM = 64;

class Column {
  readonly spec: ColumnSpec;
  /** A constant column's value, PLAIN-encoded. */
  constantValue: Buffer | null = null;
  /** A list column's element values of the current page while they fit {@link DELTA_SAFE}. */
  nums: Float64Array = new Float64Array(0);
  numCount = 0;
  /** Whether the current page's values are kept in `nums` (DELTA) rather than in `values` (PLAIN). */
  delta = false;
  /** A dictionary column's row-group dictionary, and its current page's indices. */
  readonly dict: Dictionary | null = null;
  indices: Int32Array = new Int32Array(0);
  indexCount = 0;
  /** Whether this row group's dictionary is full: its remaining pages are PLAIN. */
  plain = false;
  readonly maxDef: number;
  readonly maxRep: number;
  /** The current page's PLAIN values, from `LEVELS_ROOM` on. */
  readonly values: Bytes;
  readonly def = new Levels();
  readonly rep = new Levels();
  /** Entries (level pairs) in the current page and the current row group. */
  pageEntries = 0;
  chunkEntries = 0;
  /** The row group's data pages so far (headers and compressed bodies), written out when the row group is. */
  readonly chunk: Bytes;
  chunkCompressed = 0;
  chunkUncompressed = 0;
  private readonly compressor: Compressor;

  constructor(spec: ColumnSpec, compressor: Compressor, pageBytes: number) {
    this.spec = spec;
    this.compressor = compressor;
    this.values = takeBytes(`${spec.name}/values`, LEVELS_ROOM);
    this.chunk = takeBytes(`${spec.name}/chunk`, 0);
    // `nums` and `indices` start with room for a whole page (a page closes at the first 1024-row check past
    // `pageBytes`), so the hot appenders never take their growth branch on ordinary data: V8 optimizes them
    // early, and code that first runs after that deoptimizes them (and the row scanner they are inlined in),
    // which then compile again.
    if (spec.kind === "int64-list") {
      this.maxDef = 2;
      this.maxRep = 1;
      this.nums = takeFloat64((pageBytes >>> 3) + (64 << 10));
      this.delta = true;
    } else {
      this.maxDef = spec.required || spec.kind === "date" ? 0 : 1;
      this.maxRep = 0;
    }
    if (spec.dictionary === true && spec.kind === "string" && spec.constant !== true) {
      this.dict = new Dictionary();
      // Two bytes per index count toward `pageBytes`; a multiple of 8 (see encodeIndices).
      this.indices = takeInt32(((pageBytes >>> 1) + 1024 + 15) & ~7);
    }
  }

  pendingBytes(): number {
    return (
      this.values.len -
      LEVELS_ROOM +
      8 * this.numCount +
      2 * this.indexCount +
      this.def.out.len +
      this.rep.out.len
    );
  }

  /** A dictionary column's value (or -1 when the dictionary is full and the value must go PLAIN). */
  dictValue(buf: Buffer, start: number, end: number, h: number): boolean {
    const id = (this.dict as Dictionary).index(buf, start, end, h);
    if (id < 0) return false;
    if (this.indexCount === this.indices.length) {
      // A multiple of 8 entries, so encodeIndices can pad the last group of 8 in place.
      const bigger = new Int32Array(this.indices.length < 1 << 14 ? 1 << 14 : this.indices.length * 2);
      bigger.set(this.indices);
      this.indices = bigger;
    }
    this.indices[this.indexCount++] = id;
    return true;
  }

  /** The dictionary is full: close the page of indices; the row group's later pages are PLAIN. */
  goPlain(): void {
    this.finishPage();
    this.plain = true;
  }

  /** Append one list element (INT64 halves): kept as a number for DELTA while it is small enough. */
  element(lo: number, hi: number): void {
    if (this.delta) {
      let v: number;
      if (hi < DELTA_SAFE / TWO32) v = hi * TWO32 + lo;
      else if (hi >= TWO32 - DELTA_SAFE / TWO32) v = (hi - TWO32) * TWO32 + lo;
      else v = Number.NaN;
      if (!Number.isNaN(v)) {
        this.number(v);
        return;
      }
      this.toPlain();
    }
    const vals = this.values;
    vals.ensure(8);
    put64(vals.buf, vals.len, lo, hi);
    vals.len += 8;
  }

  /** Append one list element known to lie within ±{@link DELTA_SAFE}. */
  number(v: number): void {
    if (!this.delta) {
      const vals = this.values;
      vals.ensure(8);
      putNumber64(vals.buf, vals.len, v);
      vals.len += 8;
      return;
    }
    if (this.numCount === this.nums.length) this.growNums(1);
    this.nums[this.numCount++] = v;
  }

  growNums(n: number): void {
    const bigger = new Float64Array(Math.max(this.nums.length * 2, this.numCount + n));
    bigger.set(this.nums.subarray(0, this.numCount));
    this.nums = bigger;
  }

  /** A value too large for exact deltas: this page goes PLAIN, with the values so far. */
  private toPlain(): void {
    this.delta = false;
    const vals = this.values;
    vals.ensure(8 * this.numCount);
    for (let i = 0; i < this.numCount; i++) {
      putNumber64(vals.buf, vals.len, this.nums[i]);
      vals.len += 8;
    }
    this.numCount = 0;
  }

  /** Close the current page: levels and values -> one compressed data page. */
  finishPage(): void {
    if (this.pageEntries === 0) return;
    this.def.flush();
    this.rep.flush();
    let encoding = ENC_PLAIN;
    if (this.maxRep > 0 && this.delta) encoding = ENC_DELTA;
    else if (this.dict !== null && !this.plain && this.dict.count > 0) encoding = ENC_RLE_DICTIONARY;
    const rep = this.rep.out;
    const def = this.def.out;
    const levelBytes = (this.maxRep > 0 ? 4 + rep.len : 0) + (this.maxDef > 0 ? 4 + def.len : 0);
    let raw: Buffer;
    if (encoding === ENC_PLAIN && levelBytes <= LEVELS_ROOM) {
      // The levels go right before the values: the body is compressed where it is.
      const v = this.values;
      const end = v.len;
      const from = LEVELS_ROOM - levelBytes;
      v.len = from;
      if (this.maxRep > 0) {
        v.u32(rep.len);
        v.bytes(rep.buf, 0, rep.len);
      }
      if (this.maxDef > 0) {
        v.u32(def.len);
        v.bytes(def.buf, 0, def.len);
      }
      raw = v.buf.subarray(from, end);
    } else {
      const body = pageScratch;
      body.len = 0;
      body.ensure(this.pendingBytes() + 16);
      if (this.maxRep > 0) {
        body.u32(rep.len);
        body.bytes(rep.buf, 0, rep.len);
      }
      if (this.maxDef > 0) {
        body.u32(def.len);
        body.bytes(def.buf, 0, def.len);
      }
      if (encoding === ENC_DELTA) encodeDelta(this.nums, this.numCount, body);
      else if (encoding === ENC_RLE_DICTIONARY)
        encodeIndices(this.indices, this.indexCount, (this.dict as Dictionary).count - 1, body);
      else body.bytes(this.values.buf, LEVELS_ROOM, this.values.len);
      raw = body.view();
    }
    const packed = this.compressor.compress(raw);
    const header = headerScratch;
    header.len = 0;
    writeStruct(header, [
      [1, T_I32, 0],
      [2, T_I32, raw.length],
      [3, T_I32, packed.length],
      [
        5,
        T_STRUCT,
        [
          [1, T_I32, this.pageEntries],
          [2, T_I32, encoding],
          [3, T_I32, ENC_RLE],
          [4, T_I32, ENC_RLE],
        ],
      ],
    ]);
    this.chunk.bytes(header.buf, 0, header.len);
    this.chunk.bytes(packed);
    this.chunkCompressed += header.len + packed.length;
    this.chunkUncompressed += header.len + raw.length;
    this.chunkEntries += this.pageEntries;
    this.pageEntries = 0;
    this.values.len = LEVELS_ROOM;
    this.numCount = 0;
    this.indexCount = 0;
    this.delta = this.maxRep > 0;
    this.def.reset();
    this.rep.reset();
  }

  /** A dictionary column's dictionary page for the row group (null when it has none). */
  dictionaryPage(): Buffer | null {
    if (this.dict === null || this.dict.count === 0) return null;
    const raw = this.dict.page.view();
    const packed = this.compressor.compress(raw);
    const header = new Bytes();
    writeStruct(header, [
      [1, T_I32, 2],
      [2, T_I32, raw.length],
      [3, T_I32, packed.length],
      [
        7,
        T_STRUCT,
        [
          [1, T_I32, this.dict.count],
          [2, T_I32, ENC_PLAIN],
        ],
      ],
    ]);
    this.chunkUncompressed += header.len + raw.length;
    const page = Buffer.concat([header.view(), packed]);
    this.chunkCompressed += page.length;
    return page;
  }

  resetDictionary(): void {
    this.dict?.reset();
    // Written only when it changed: the first write to a field makes V8 drop the code that relied on its
    // value never changing (the row scanner, at the end of every thread's first table).
    if (this.plain) this.plain = false;
  }
}

/**
 * RLE_DICTIONARY data: the bit width (one byte), then the indices as one bit-packed run of the RLE/bit-packed
 * hybrid (header `groups << 1 | 1`, groups of 8 values LSB first, the last group padded with zeros).
 */
function encodeIndices(indices: Int32Array, n: number, maxIndex: number, out: Bytes): void {
  const width = Math.max(1, 32 - Math.clz32(maxIndex));
  out.byte(width);
  if (n === 0) return;
  const groups = (n + 7) >>> 3;
  out.varint((groups << 1) | 1);
  out.ensure(groups * width + 8);
  const o = out.buf;
  let p = out.len;
  // Set before the loops: an access after a long loop has no type feedback yet when V8 optimizes the loop
  // on the first call, and deoptimizes there.
  out.len = p + groups * width;
  // The last group is padded with zeros in place (`indices` holds a multiple of 8 entries), so every group
  // takes the same loop.
  const all = groups << 3;
  indices.fill(0, n, all);
  if (width <= 4) {
    // Eight indices fill `width` bytes of one 32-bit word.
    for (let i = 0; i < all; i += 8) {
      let w = 0;
      for (let j = 0; j < 8; j++) w |= indices[i + j] << (j * width);
      for (let k = 0; k < width; k++) o[p++] = w >>> (8 * k);
    }
  } else {
    // Eight indices are 8 * width bits: whole bytes, so nothing is left over after the last group.
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < all; i++) {
      acc |= indices[i] << bits;
      bits += width;
      while (bits >= 8) {
        o[p++] = acc;
        acc >>>= 8;
        bits -= 8;
      }
    }
  }
}

/** An integral number within ±2^53 as little-endian INT64 (two's complement). */
function putNumber64(o: Buffer, p: number, v: number): void {
  if (v >= 0 && v < TWO32) {
    put64(o, p, v, 0);
    return;
  }
  const hi = Math.floor(v / TWO32);
  put64(o, p, v - hi * TWO32, hi >>> 0);
}

function put64(o: Buffer, p: number, lo: number, hi: number): void {
  o[p] = lo & 255;
  o[p + 1] = (lo >>> 8) & 255;
  o[p + 2] = (lo >>> 16) & 255;
  o[p + 3] = lo >>> 24;
  o[p + 4] = hi & 255;
  o[p + 5] = (hi >>> 8) & 255;
  o[p + 6] = (hi >>> 16) & 255;
  o[p + 7] = hi >>> 24;
}

export class ParquetWriter {
  private readonly fd: number;
  private readonly columns: Column[];
  private readonly compressor = takeCompressor();
  private readonly options: Required<WriterOptions>;
  private offset = 0;
  private rowGroupRows = 0;
  private totalRows = 0;
  private readonly rowGroups: TField[][] = [];
  private closed = false;

  constructor(path: string, specs: ColumnSpec[], options: WriterOptions = {}) {
    this.options = {
      rowGroupRows: options.rowGroupRows ?? 1_000_000,
      rowGroupBytes: options.rowGroupBytes ?? 32 << 20,
      pageBytes: options.pageBytes ?? 256 << 10,
      createdBy: options.createdBy ?? "tessera mozaggregator",
    };
    this.columns = specs.map((s) => new Column(s, this.compressor, this.options.pageBytes));
    this.fd = openSync(path, "w");
    this.write(Buffer.from("PAR1", "latin1"));
  }

  get rows(): number {
    return this.totalRows + this.rowGroupRows;
  }

  private write(b: Buffer): void {
    let done = 0;
    while (done < b.length) done += writeSync(this.fd, b, done, b.length - done);
    this.offset += b.length;
  }

  // Column appenders: call each column once per row, in schema order, then endRow().

  /** A string column's value given as bytes `buf[start, end)` (UTF-8), or NULL when start < 0. */
  stringBytes(col: number, buf: Buffer | null, start: number, end: number): void {
    const c = this.columns[col];
    if (buf !== null && start >= 0 && c.dict !== null) {
      this.stringHashed(col, buf, start, end, hashBytes(buf, start, end));
      return;
    }
    this.plainString(c, buf, start, end);
  }

  /**
   * A string value `buf[start, end)` whose {@link hashBytes} the caller computed while scanning it: a dictionary
   * column takes the hash for its lookup, any other column the bytes.
   */
  stringHashed(col: number, buf: Buffer, start: number, end: number, hash: number): void {
    const c = this.columns[col];
    if (c.dict === null || c.plain) {
      this.plainString(c, buf, start, end);
      return;
    }
    if (!c.dictValue(buf, start, end, hash)) {
      c.goPlain();
      this.plainString(c, buf, start, end);
      return;
    }
    if (c.maxDef > 0) c.def.add(1);
    c.pageEntries++;
  }

  /** A NULL of an optional column. */
  nullValue(col: number): void {
    const c = this.columns[col];
    c.def.add(0);
    c.pageEntries++;
  }

  private plainString(c: Column, buf: Buffer | null, start: number, end: number): void {
    if (buf === null || start < 0) {
      c.def.add(0);
    } else {
      if (c.maxDef > 0) c.def.add(1);
      const n = end - start;
      const v = c.values;
      v.ensure(4 + n);
      const o = v.buf;
      let p = v.len;
      o[p] = n & 255;
      o[p + 1] = (n >>> 8) & 255;
      o[p + 2] = (n >>> 16) & 255;
      o[p + 3] = n >>> 24;
      p += 4;
      // Buffer#copy costs more than a loop for the short values most columns hold.
      if (n < 48) for (let i = start; i < end; i++) o[p++] = buf[i];
      else p += buf.copy(o, p, start, end);
      v.len = p;
    }
    c.pageEntries++;
  }

  /** Like {@link stringBytes}, with the first and last byte replaced by `[` and `]` (`{1,2}` -> `[1,2]`). */
  bracketed(col: number, buf: Buffer, start: number, end: number): void {
    this.plainString(this.columns[col], buf, start, end);
    const v = this.columns[col].values;
    v.buf[v.len - (end - start)] = 91;
    v.buf[v.len - 1] = 93;
  }

  string(col: number, value: string | null): void {
    if (value === null) this.stringBytes(col, null, -1, -1);
    else {
      const b = Buffer.from(value, "utf8");
      this.stringBytes(col, b, 0, b.length);
    }
  }

  /** A date column: days since 1970-01-01. */
  date(col: number, days: number): void {
    const c = this.columns[col];
    c.values.ensure(4);
    c.values.buf.writeInt32LE(days, c.values.len);
    c.values.len += 4;
    c.pageEntries++;
  }

  /** An INT64 given as its low and high 32-bit halves (two's complement). */
  int64Parts(col: number, lo: number, hi: number): void {
    const c = this.columns[col];
    if (c.maxDef > 0) c.def.add(1);
    const v = c.values;
    v.ensure(8);
    put64(v.buf, v.len, lo, hi);
    v.len += 8;
    c.pageEntries++;
  }

  /**
   * A list column's value: elements `lo[i]`/`hi[i]` for i in [from, to) (INT64 halves). An empty range is an
   * empty list (not NULL).
   */
  list(col: number, lo: Uint32Array, hi: Uint32Array, from: number, to: number): void {
    const c = this.columns[col];
    const n = to - from;
    if (n <= 0) {
      c.rep.add(0);
      c.def.add(1);
      c.pageEntries++;
      return;
    }
    c.rep.add(0);
    c.rep.addRun(1, n - 1);
    c.def.addRun(2, n);
    for (let i = from; i < to; i++) c.element(lo[i], hi[i]);
    c.pageEntries += n;
  }

  /** Like {@link list}, for elements given as integral numbers within ±2^50 (exact for DELTA). */
  listNumbers(col: number, values: Float64Array, from: number, to: number): void {
    const c = this.columns[col];
    const n = to - from;
    if (n <= 0) {
      c.rep.add(0);
      c.def.add(1);
      c.pageEntries++;
      return;
    }
    c.rep.add(0);
    c.rep.addRun(1, n - 1);
    c.def.addRun(2, n);
    if (c.delta) {
      if (c.numCount + n > c.nums.length) c.growNums(n);
      const nums = c.nums;
      let k = c.numCount;
      for (let i = from; i < to; i++) nums[k++] = values[i];
      c.numCount = k;
    } else for (let i = from; i < to; i++) c.number(values[i]);
    c.pageEntries += n;
  }

  /** An INT64 given as an integral number within ±2^53. */
  int64Number(col: number, v: number): void {
    const c = this.columns[col];
    if (c.maxDef > 0) c.def.add(1);
    const vals = c.values;
    vals.ensure(8);
    putNumber64(vals.buf, vals.len, v);
    vals.len += 8;
    c.pageEntries++;
  }

  endRow(): void {
    this.rowGroupRows++;
    if ((this.rowGroupRows & 1023) !== 0) return;
    let pending = 0;
    for (const c of this.columns) {
      if (c.pendingBytes() >= this.options.pageBytes) c.finishPage();
      pending += c.chunkCompressed;
    }
    if (pending >= this.options.rowGroupBytes || this.rowGroupRows >= this.options.rowGroupRows)
      this.flushRowGroup();
  }

  /** The value of a constant column: a string, or days since 1970-01-01 for a date. */
  setConstant(col: number, value: string | number): void {
    const c = this.columns[col];
    if (!c.spec.constant) throw new Error(`column ${c.spec.name} is not declared constant`);
    if (typeof value === "number") {
      c.constantValue = Buffer.allocUnsafe(4);
      c.constantValue.writeInt32LE(value, 0);
    } else {
      const b = Buffer.from(value, "utf8");
      c.constantValue = Buffer.allocUnsafe(4 + b.length);
      c.constantValue.writeUInt32LE(b.length, 0);
      b.copy(c.constantValue, 4);
    }
  }

  /** A constant column's chunk: a one-entry dictionary page, then one data page with a run of index 0. */
  private constantPages(c: Column, rows: number): Buffer[] {
    if (c.constantValue === null) throw new Error(`constant column ${c.spec.name} has no value`);
    const page = (header: TField[], raw: Buffer) => {
      const packed = this.compressor.compress(raw);
      const out = new Bytes();
      writeStruct(out, [
        header[0],
        [2, T_I32, raw.length],
        [3, T_I32, packed.length],
        ...header.slice(1),
      ] as TField[]);
      c.chunkUncompressed += out.len + raw.length;
      const b = Buffer.concat([out.view(), packed]);
      c.chunkCompressed += b.length;
      return b;
    };
    const dict = page(
      [
        [1, T_I32, 2],
        [
          7,
          T_STRUCT,
          [
            [1, T_I32, 1],
            [2, T_I32, ENC_PLAIN],
          ],
        ],
      ],
      c.constantValue,
    );
    const body = new Bytes();
    const run = new Bytes();
    run.varint(rows * 2);
    run.byte(1);
    if (c.maxDef > 0) {
      body.u32(run.len);
      body.bytes(run.view());
    }
    body.byte(1); // bit width of the dictionary indices
    body.varint(rows * 2);
    body.byte(0);
    const data = page(
      [
        [1, T_I32, 0],
        [
          5,
          T_STRUCT,
          [
            [1, T_I32, rows],
            [2, T_I32, ENC_RLE_DICTIONARY],
            [3, T_I32, ENC_RLE],
            [4, T_I32, ENC_RLE],
          ],
        ],
      ],
      body.view(),
    );
    c.chunkEntries = rows;
    return [dict, data];
  }

  private flushRowGroup(): void {
    if (this.rowGroupRows === 0) return;
    const chunks: TField[][] = [];
    let total = 0;
    let totalCompressed = 0;
    const start = this.offset;
    for (const c of this.columns) {
      const constant = c.spec.constant === true;
      const pageOffset = this.offset;
      let dataOffset = pageOffset;
      let dictionary = constant;
      if (constant) {
        const [dict, data] = this.constantPages(c, this.rowGroupRows);
        this.write(dict);
        dataOffset = this.offset;
        this.write(data);
      } else {
        c.finishPage();
        const dict = c.dictionaryPage();
        if (dict !== null) {
          this.write(dict);
          dataOffset = this.offset;
          dictionary = true;
        }
        c.resetDictionary();
        this.write(c.chunk.view());
        c.chunk.len = 0;
      }
      const kind = c.spec.kind;
      const type = kind === "string" ? TYPE_BYTE_ARRAY : kind === "date" ? TYPE_INT32 : TYPE_INT64;
      const path = kind === "int64-list" ? [c.spec.name, "list", "element"] : [c.spec.name];
      chunks.push([
        [2, T_I64, pageOffset],
        [
          3,
          T_STRUCT,
          [
            [1, T_I32, type],
            [
              2,
              T_LIST,
              T_I32,
              kind === "int64-list"
                ? [ENC_PLAIN, ENC_RLE, ENC_DELTA]
                : dictionary
                  ? [ENC_PLAIN, ENC_RLE, ENC_RLE_DICTIONARY]
                  : [ENC_PLAIN, ENC_RLE],
            ],
            [3, T_LIST, T_BINARY, path],
            [4, T_I32, CODEC],
            [5, T_I64, c.chunkEntries],
            [6, T_I64, c.chunkUncompressed],
            [7, T_I64, c.chunkCompressed],
            [9, T_I64, dataOffset],
            ...(dictionary ? ([[11, T_I64, pageOffset]] as TField[]) : []),
          ],
        ],
      ]);
      total += c.chunkUncompressed;
      totalCompressed += c.chunkCompressed;
      c.chunkEntries = 0;
      c.chunkCompressed = 0;
      c.chunkUncompressed = 0;
    }
    this.rowGroups.push([
      [1, T_LIST, T_STRUCT, chunks],
      [2, T_I64, total],
      [3, T_I64, this.rowGroupRows],
      [5, T_I64, start],
      [6, T_I64, totalCompressed],
      [7, T_I32, this.rowGroups.length],
    ]);
    this.totalRows += this.rowGroupRows;
    this.rowGroupRows = 0;
  }

  /** Write the last row group and the footer. Returns the number of rows. */
  close(): number {
    if (this.closed) return this.totalRows;
    this.closed = true;
    try {
      this.flushRowGroup();
      const schema: TField[][] = [
        [
          [4, T_BINARY, "schema"],
          [5, T_I32, this.columns.length],
        ],
      ];
      for (const c of this.columns) {
        const { name, kind } = c.spec;
        if (kind === "int64-list") {
          schema.push(
            [
              [3, T_I32, 1],
              [4, T_BINARY, name],
              [5, T_I32, 1],
              [6, T_I32, 3],
            ],
            [
              [3, T_I32, 2],
              [4, T_BINARY, "list"],
              [5, T_I32, 1],
            ],
            [
              [1, T_I32, TYPE_INT64],
              [3, T_I32, 0],
              [4, T_BINARY, "element"],
            ],
          );
        } else if (kind === "date") {
          schema.push([
            [1, T_I32, TYPE_INT32],
            [3, T_I32, 0],
            [4, T_BINARY, name],
            [6, T_I32, 6],
          ]);
        } else if (kind === "string") {
          schema.push([
            [1, T_I32, TYPE_BYTE_ARRAY],
            [3, T_I32, c.maxDef > 0 ? 1 : 0],
            [4, T_BINARY, name],
            [6, T_I32, 0],
          ]);
        } else {
          schema.push([
            [1, T_I32, TYPE_INT64],
            [3, T_I32, c.maxDef > 0 ? 1 : 0],
            [4, T_BINARY, name],
          ]);
        }
      }
      const meta = new Bytes();
      writeStruct(meta, [
        [1, T_I32, 1],
        [2, T_LIST, T_STRUCT, schema],
        [3, T_I64, this.totalRows],
        [4, T_LIST, T_STRUCT, this.rowGroups],
        [6, T_BINARY, this.options.createdBy],
      ]);
      this.write(meta.view());
      const tail = Buffer.allocUnsafe(8);
      tail.writeUInt32LE(meta.len, 0);
      tail.write("PAR1", 4, "latin1");
      this.write(tail);
    } finally {
      this.release();
      closeSync(this.fd);
    }
    return this.totalRows;
  }

  /** Close the file without a footer (the caller deletes it). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    closeSync(this.fd);
  }

  /** The compressor and the columns' buffers go to the next writer of this thread. */
  private release(): void {
    compressorPool.push(this.compressor);
    for (const c of this.columns) {
      giveBytes(`${c.spec.name}/values`, c.values);
      giveBytes(`${c.spec.name}/chunk`, c.chunk);
      if (c.indices.length > 0) int32Pool.push(c.indices);
      if (c.nums.length > 0) float64Pool.push(c.nums);
    }
  }
}
