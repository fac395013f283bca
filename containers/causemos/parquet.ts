import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import * as zlib from "node:zlib";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";

/**
 * A columnar Parquet reader for flat files (every column a top-level OPTIONAL or REQUIRED leaf), the shape Dojo
 * writes: numbers straight into Float64Array, text as dictionary codes (Int32Array, -1 = null) with one
 * dictionary per column across row groups and files. Pages are decoded in bulk from the file's own dictionary
 * pages (RLE/bit-packed indices remapped through a small lookup), so no per-row string is made.
 *
 * Supported: data pages v1 and v2; PLAIN, PLAIN_DICTIONARY / RLE_DICTIONARY values, RLE definition levels;
 * codecs UNCOMPRESSED, SNAPPY, GZIP, BROTLI, ZSTD; INT32/INT64/FLOAT/DOUBLE numbers and UTF-8 BYTE_ARRAY
 * text (integers may also be read as text, as DuckDB's CAST(... AS VARCHAR) prints them). Anything else
 * (nested or repeated columns, other encodings or codecs, timestamp/decimal logical types) throws
 * {@link UnsupportedParquet}, and the caller reads the file with DuckDB instead.
 */

export class UnsupportedParquet extends Error {}

const unsupported = (path: string, what: string) => new UnsupportedParquet(`${path}: ${what}`);

// ---------------------------------------------------------------- Thrift compact protocol

type TValue = number | boolean | Uint8Array | TValue[] | TStruct;
interface TStruct {
  [field: number]: TValue;
}

class Thrift {
  pos: number;
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }
  byte(): number {
    if (this.pos >= this.buf.length) throw new RangeError("thrift: read past the end");
    return this.buf[this.pos++];
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  }
  zigzag(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
  value(type: number): TValue {
    switch (type) {
      case 1:
        return true;
      case 2:
        return false;
      case 3: {
        const b = this.byte();
        return b > 127 ? b - 256 : b;
      }
      case 4:
      case 5:
      case 6:
        return this.zigzag();
      case 7: {
        const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
        this.pos += 8;
        return v;
      }
      case 8: {
        const n = this.varint();
        const out = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        return out;
      }
      case 9:
      case 10: {
        const h = this.byte();
        let size = h >> 4;
        const et = h & 0x0f;
        if (size === 15) size = this.varint();
        const out: TValue[] = [];
        for (let k = 0; k < size; k++) out.push(et === 1 || et === 2 ? this.byte() === 1 : this.value(et));
        return out;
      }
      case 11: {
        const size = this.varint();
        if (size > 0) {
          const kv = this.byte();
          for (let k = 0; k < size; k++) {
            this.value(kv >> 4);
            this.value(kv & 0x0f);
          }
        }
        return [];
      }
      case 12:
        return this.struct();
      default:
        throw new RangeError(`thrift: unknown type ${type}`);
    }
  }
  struct(): TStruct {
    const out: TStruct = {};
    let id = 0;
    for (;;) {
      const h = this.byte();
      if (h === 0) return out;
      const type = h & 0x0f;
      const delta = h >> 4;
      id = delta !== 0 ? id + delta : this.zigzag();
      out[id] = this.value(type);
    }
  }
}

const text = new TextDecoder("utf-8", { fatal: false });
const str = (v: TValue | undefined) => (v instanceof Uint8Array ? text.decode(v) : "");
const num = (v: TValue | undefined, fallback = 0) => (typeof v === "number" ? v : fallback);

// ---------------------------------------------------------------- file metadata

const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED: 7 };
const CONVERTED = { UTF8: 0, INT_8: 15, INT_16: 16, INT_32: 17, INT_64: 18, UINT_8: 11, UINT_64: 14 };

export type ColumnKind = "number" | "integer" | "text" | "other";

export interface ParquetColumn {
  name: string;
  /** number = FLOAT/DOUBLE, integer = INT32/INT64 without a date/time/decimal annotation, text = UTF-8. */
  kind: ColumnKind;
  physical: number;
  unsigned: boolean;
  optional: boolean;
  index: number;
}

interface Chunk {
  codec: number;
  start: number;
  length: number;
  values: number;
}

export interface ParquetFile {
  path: string;
  rows: number;
  columns: ParquetColumn[];
  rowGroups: { rows: number; chunks: Chunk[] }[];
}

export function readParquetMetadata(path: string): ParquetFile {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const tail = Buffer.alloc(8);
    if (size < 12) throw unsupported(path, "too short to be Parquet");
    readSync(fd, tail, 0, 8, size - 8);
    if (tail.toString("latin1", 4, 8) !== "PAR1") throw unsupported(path, "no PAR1 footer");
    const metaLength = tail.readUInt32LE(0);
    if (metaLength + 12 > size) throw unsupported(path, "footer length beyond the file");
    const meta = Buffer.alloc(metaLength);
    readSync(fd, meta, 0, metaLength, size - 8 - metaLength);
    const fm = new Thrift(meta).struct();
    const schema = (fm[2] as TStruct[]) ?? [];
    const root = schema[0];
    const leaves = schema.slice(1);
    if (num(root?.[5]) !== leaves.length) throw unsupported(path, "nested columns");
    const columns: ParquetColumn[] = leaves.map((el, index) => {
      if (el[5] !== undefined && num(el[5]) > 0) throw unsupported(path, "nested columns");
      const repetition = num(el[3]);
      if (repetition === 2) throw unsupported(path, "repeated columns");
      const physical = num(el[1], -1);
      const converted = el[6] === undefined ? -1 : num(el[6]);
      const logical = el[10] as TStruct | undefined;
      const logicalKind = logical ? Number(Object.keys(logical)[0]) : -1;
      let kind: ColumnKind = "other";
      let unsigned = false;
      if (physical === TYPE.FLOAT || physical === TYPE.DOUBLE) {
        if (converted === -1 && (logicalKind === -1 || logicalKind === 0)) kind = "number";
      } else if (physical === TYPE.INT32 || physical === TYPE.INT64) {
        const intConverted =
          converted === -1 || (converted >= CONVERTED.UINT_8 && converted <= CONVERTED.INT_64);
        const intLogical = logicalKind === -1 || logicalKind === 10;
        if (intConverted && intLogical) {
          kind = "integer";
          unsigned = converted >= CONVERTED.UINT_8 && converted <= CONVERTED.UINT_64;
          if (logicalKind === 10) unsigned = (logical?.[10] as TStruct)?.[2] === false;
        }
      } else if (physical === TYPE.BYTE_ARRAY) {
        if (converted === CONVERTED.UTF8 || logicalKind === 1) kind = "text";
      }
      return { name: str(el[4]), kind, physical, unsigned, optional: repetition === 1, index };
    });
    const rowGroups = ((fm[4] as TStruct[]) ?? []).map((rg) => {
      const chunks = ((rg[1] as TStruct[]) ?? []).map((cc) => {
        if (cc[1] !== undefined) throw unsupported(path, "column chunks in other files");
        const md = cc[3] as TStruct;
        const data = num(md[9]);
        const dict = md[11] === undefined ? 0 : num(md[11]);
        const start = dict > 0 && dict < data ? dict : data;
        return { codec: num(md[4]), start, length: num(md[7]), values: num(md[5]) };
      });
      if (chunks.length !== columns.length) throw unsupported(path, "row group column count");
      return { rows: num(rg[3]), chunks };
    });
    return { path, rows: num(fm[3]), columns, rowGroups };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- pages

const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array, o: object) => Buffer })
  .zstdDecompressSync;

function decompress(path: string, codec: number, data: Uint8Array, size: number): Uint8Array {
  // One output chunk of the page's known size: zlib's default 16 KiB chunks are concatenated afterwards.
  const opts = { chunkSize: Math.max(1024, size + 64) };
  switch (codec) {
    case 0:
      return data;
    case 1:
      return snappy(data, size);
    case 2:
      return data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data, opts) : inflateSync(data, opts);
    case 4:
      return brotliDecompressSync(data, opts);
    case 6:
      if (!zstd) throw unsupported(path, "ZSTD needs a newer Node.js");
      return zstdPage(data, size) ?? zstd(data, opts);
    default:
      throw unsupported(path, `compression codec ${codec}`);
  }
}

/** The native side of a zlib stream (node:zlib's own synchronous path drives it the same way). */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  reset(): void;
  onerror: (message: string) => void;
}

/** One ZSTD decompression context per thread, reused page after page, and its output buffer. */
let zstdContext: { handle: ZlibHandle; state: Uint32Array; failed: boolean } | undefined | null;
let pageOut = new Uint8Array(0);

/**
 * A ZSTD page decompressed with the thread's reused context into a reused buffer (valid until the next page;
 * every caller consumes a page before reading the next). `zstdDecompressSync` makes a new context, stream
 * object and output buffer per call, which costs more than decoding a typical page. Undefined when the
 * stream internals are not there or the page does not decode to exactly its header's size in one go: the
 * caller then uses `zstdDecompressSync`, which also names any error.
 */
function zstdPage(data: Uint8Array, size: number): Uint8Array | undefined {
  if (zstdContext === undefined) {
    zstdContext = null;
    const make = (zlib as unknown as { createZstdDecompress?: () => unknown }).createZstdDecompress;
    const stream = make?.() as { _handle?: ZlibHandle; _writeState?: Uint32Array } | undefined;
    const handle = stream?._handle;
    if (
      handle &&
      stream?._writeState instanceof Uint32Array &&
      typeof handle.writeSync === "function" &&
      typeof handle.reset === "function"
    ) {
      const context = { handle, state: stream._writeState, failed: false };
      handle.onerror = () => {
        context.failed = true;
      };
      zstdContext = context;
    }
  }
  const z = zstdContext;
  if (!z) return undefined;
  if (pageOut.length < size + 64) pageOut = new Uint8Array(Math.max(size + 64, pageOut.length * 2));
  // ZSTD_e_end: the page is one whole frame.
  z.handle.writeSync(2, data, 0, data.length, pageOut, 0, pageOut.length);
  const availOut = z.state[0];
  const availIn = z.state[1];
  if (z.failed) {
    // The context is left as the error left it: a fresh one for the next page.
    zstdContext = undefined;
    return undefined;
  }
  z.handle.reset();
  if (availIn !== 0 || pageOut.length - availOut !== size) return undefined;
  return pageOut.subarray(0, size);
}

/** Snappy raw block decompression. */
export function snappy(src: Uint8Array, expected: number): Uint8Array {
  let pos = 0;
  let length = 0;
  let shift = 0;
  for (;;) {
    const b = src[pos++];
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  if (expected >= 0 && length !== expected) throw new RangeError("snappy: length mismatch");
  const out = new Uint8Array(length);
  let o = 0;
  while (pos < src.length) {
    const tag = src[pos++];
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >> 2;
      if (len >= 60) {
        const bytes = len - 59;
        len = 0;
        for (let k = 0; k < bytes; k++) len += src[pos++] * 2 ** (8 * k);
      }
      len += 1;
      out.set(src.subarray(pos, pos + len), o);
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      len = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | src[pos++];
    } else if (kind === 2) {
      len = (tag >> 2) + 1;
      offset = src[pos] | (src[pos + 1] << 8);
      pos += 2;
    } else {
      len = (tag >> 2) + 1;
      offset = (src[pos] | (src[pos + 1] << 8) | (src[pos + 2] << 16) | (src[pos + 3] << 24)) >>> 0;
      pos += 4;
    }
    if (offset === 0 || offset > o) throw new RangeError("snappy: bad copy offset");
    if (offset >= len) {
      out.copyWithin(o, o - offset, o - offset + len);
      o += len;
    } else {
      for (let k = 0; k < len; k++, o++) out[o] = out[o - offset];
    }
  }
  if (o !== length) throw new RangeError("snappy: short output");
  return out;
}

/** Whether 1-bit definition levels say every one of `count` values is present (one or more runs of 1s). */
function allDefined(buf: Uint8Array, pos: number, end: number, count: number): boolean {
  let n = 0;
  while (n < count && pos < end) {
    let header = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++];
      header += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
    }
    if (header & 1) {
      const groups = header >>> 1;
      const values = Math.min(groups * 8, count - n);
      for (let k = 0; k < values >> 3; k++) if (buf[pos + k] !== 0xff) return false;
      if (values & 7 && (buf[pos + (values >> 3)] & ((1 << (values & 7)) - 1)) !== (1 << (values & 7)) - 1)
        return false;
      pos += groups;
      n += values;
    } else {
      if (buf[pos] !== 1) return false;
      pos += 1;
      n += header >>> 1;
    }
  }
  return n >= count;
}

/** RLE / bit-packed hybrid decoding of `count` values of `width` bits into out[0..count). Returns bytes used. */
export function hybrid(
  buf: Uint8Array,
  pos: number,
  end: number,
  width: number,
  count: number,
  out: Int32Array,
): number {
  return hybridInto(buf, pos, end, width, count, null, out, 0);
}

/**
 * Dictionary indices of `count` values (RLE / bit-packed hybrid, `width` bits) decoded straight through
 * `map` into out[at..at + count): the fused form of `hybrid` followed by a sink's `indices` loop, for pages
 * without nulls; map[index] is what the separate loop stores for an index, out of range included.
 */
export function hybridMapped(
  buf: Uint8Array,
  pos: number,
  end: number,
  width: number,
  count: number,
  map: Int32Array,
  out: Int32Array,
  at: number,
): void {
  hybridInto(buf, pos, end, width, count, map, out, at);
}

/**
 * `count` values of `width` bits into out[at..], each through `map` when there is one; returns bytes used.
 * Bit-packed values up to 24 bits wide are read through a 4-byte window (no per-byte refill loop) while the
 * window stays inside the page, the last few byte by byte.
 */
function hybridInto(
  buf: Uint8Array,
  pos: number,
  end: number,
  width: number,
  count: number,
  map: Int32Array | null,
  out: Int32Array,
  at: number,
): number {
  const start = pos;
  let n = 0;
  const byteWidth = (width + 7) >> 3;
  const mask = width >= 31 ? 0x7fffffff : (1 << width) - 1;
  while (n < count && pos < end) {
    let header = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++];
      header += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
    }
    if (header & 1) {
      const values = (header >>> 1) * 8;
      const take = Math.min(values, count - n);
      const o = at + n;
      if (width === 0) {
        out.fill(map === null ? 0 : map[0], o, o + take);
      } else if (width <= 24) {
        let bit = pos * 8;
        let k = 0;
        // The window's last byte, bit >> 3 + 3, inside the page.
        const fast = Math.min(take, Math.max(0, Math.floor(((end - 3) * 8 - bit) / width)));
        for (; k < fast; k++) {
          const b = bit >>> 3;
          const v =
            ((buf[b] | (buf[b + 1] << 8) | (buf[b + 2] << 16) | (buf[b + 3] << 24)) >>> (bit & 7)) & mask;
          out[o + k] = map === null ? v : map[v];
          bit += width;
        }
        // The last values: their window would end past the page (byte b + 3 is not in it).
        for (; k < take; k++) {
          const b = bit >>> 3;
          let v = buf[b] >>> (bit & 7);
          if (b + 1 < end) v |= buf[b + 1] << (8 - (bit & 7));
          if (b + 2 < end) v |= buf[b + 2] << (16 - (bit & 7));
          v &= mask;
          out[o + k] = map === null ? v : map[v];
          bit += width;
        }
      } else {
        let bitPos = 0;
        for (let k = 0; k < take; k++) {
          const byte = pos + (bitPos >> 3);
          const shift = bitPos & 7;
          let v = buf[byte] | (buf[byte + 1] << 8) | (buf[byte + 2] << 16) | (buf[byte + 3] << 24);
          v = v >>> shift;
          if (shift + width > 32) v |= buf[byte + 4] << (32 - shift);
          v &= mask;
          out[o + k] = map === null ? v : map[v];
          bitPos += width;
        }
      }
      n += take;
      pos += (values * width) >> 3;
    } else {
      const run = header >>> 1;
      let v = 0;
      for (let k = 0; k < byteWidth; k++) v |= buf[pos + k] << (8 * k);
      pos += byteWidth;
      const take = Math.min(run, count - n);
      out.fill(map === null ? v : map[v], at + n, at + n + take);
      n += take;
    }
  }
  if (n < count) throw new RangeError("parquet: RLE data ends early");
  return pos - start;
}

/** The values of one column over one file: numbers (NaN = null) or local dictionary indices (-1 = null). */
interface Sink {
  /** A dictionary page: its entries (numbers, or text / printed integers). */
  dictionary(entries: Float64Array | string[]): void;
  /** Dictionary indices for `count` rows from `at` (nulls already -1). */
  indices(at: number, idx: Int32Array, count: number): void;
  /**
   * Where `indices` stores map[index] into out[base + row] (text codes through the current dictionary's
   * remap): pages without nulls are then decoded straight into `out` (`hybridMapped`).
   */
  mapped?(): { out: Int32Array; base: number; map: Int32Array };
  /** PLAIN values for `count` rows from `at`; `defined` maps slots to value positions (null = -1). */
  plain(at: number, data: Uint8Array, pos: number, defined: Int32Array | null, count: number): void;
}

function readColumn(
  file: ParquetFile,
  column: ParquetColumn,
  fd: number,
  sink: Sink,
  scratch: Scratch,
  only = -1,
): void {
  let at = 0;
  const last = only < 0 ? file.rowGroups.length : only + 1;
  for (let g = Math.max(0, only); g < last; g++) {
    const rg = file.rowGroups[g];
    const chunk = rg.chunks[column.index];
    const raw = scratch.bytes(chunk.length);
    readSync(fd, raw, 0, chunk.length, chunk.start);
    let pos = 0;
    let seen = 0;
    while (seen < chunk.values && pos < raw.length) {
      const t = new Thrift(raw, pos);
      const header = t.struct();
      pos = t.pos;
      const type = num(header[1]);
      const uncompressed = num(header[2]);
      const compressed = num(header[3]);
      const body = raw.subarray(pos, pos + compressed);
      pos += compressed;
      if (type === 2) {
        const dh = header[7] as TStruct;
        const data = decompress(file.path, chunk.codec, body, uncompressed);
        sink.dictionary(plainDictionary(file.path, column, data, num(dh[1])));
        continue;
      }
      let count: number;
      let encoding: number;
      let levels: Uint8Array;
      let levelsEnd: number;
      let values: Uint8Array;
      let valuesPos: number;
      if (type === 0) {
        const dh = header[5] as TStruct;
        count = num(dh[1]);
        encoding = num(dh[2]);
        const data = decompress(file.path, chunk.codec, body, uncompressed);
        levels = data;
        let p = 0;
        if (column.optional) {
          if (num(dh[3]) !== 3) throw unsupported(file.path, "definition level encoding");
          const len = data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24);
          p = 4;
          levelsEnd = 4 + len;
          p = levelsEnd;
        } else levelsEnd = 0;
        values = data;
        valuesPos = p;
      } else if (type === 3) {
        const dh = header[8] as TStruct;
        count = num(dh[1]);
        encoding = num(dh[4]);
        const defLen = num(dh[5]);
        const repLen = num(dh[6]);
        if (repLen !== 0) throw unsupported(file.path, "repetition levels");
        levels = body.subarray(0, defLen);
        levelsEnd = column.optional ? defLen : 0;
        const rest = body.subarray(defLen);
        const isCompressed = dh[7] === undefined ? true : dh[7] === true;
        values = isCompressed ? decompress(file.path, chunk.codec, rest, uncompressed - defLen) : rest;
        valuesPos = 0;
      } else {
        continue;
      }
      seen += count;
      // Definition levels (max level 1): slot -> value position, or -1 for null.
      let defined: Int32Array | null = null;
      let present = count;
      if (column.optional && !allDefined(levels, type === 0 ? 4 : 0, levelsEnd, count)) {
        const def = scratch.ints(count, 0);
        const start = type === 0 ? 4 : 0;
        hybrid(levels, start, levelsEnd, 1, count, def);
        present = 0;
        for (let k = 0; k < count; k++) def[k] = def[k] === 1 ? present++ : -1;
        if (present < count) defined = def;
      }
      const mapped = encoding === 2 || encoding === 8 ? sink.mapped?.() : undefined;
      if (mapped && !defined) {
        if (count > 0) {
          const { out, base, map } = mapped;
          hybridMapped(values, valuesPos + 1, values.length, values[valuesPos], count, map, out, base + at);
        }
      } else if (encoding === 2 || encoding === 8) {
        const width = values[valuesPos];
        const idx = scratch.ints(present, 1);
        if (present > 0) hybrid(values, valuesPos + 1, values.length, width, present, idx);
        if (defined) {
          const full = scratch.ints(count, 2);
          for (let k = 0; k < count; k++) full[k] = defined[k] < 0 ? -1 : idx[defined[k]];
          sink.indices(at, full, count);
        } else sink.indices(at, idx, count);
      } else if (encoding === 0) {
        sink.plain(at, values, valuesPos, defined, count);
      } else {
        throw unsupported(file.path, `encoding ${encoding} in column "${column.name}"`);
      }
      at += count;
    }
    if (seen !== chunk.values)
      throw unsupported(file.path, `column "${column.name}" has fewer values than said`);
  }
  const expected = only < 0 ? file.rows : file.rowGroups[only].rows;
  if (at !== expected)
    throw unsupported(file.path, `column "${column.name}" has ${at} rows, not ${expected}`);
}

/** Buffers reused from page to page and row group to row group (fresh memory costs a page fault per 4 KiB). */
class Scratch {
  private bufs: Int32Array[] = [];
  private raw: Buffer = Buffer.alloc(0);
  /** `n` bytes, valid until the next call. */
  bytes(n: number): Buffer {
    if (this.raw.length < n) this.raw = Buffer.allocUnsafe(Math.max(n, this.raw.length * 2));
    return this.raw.subarray(0, n);
  }
  ints(n: number, slot: number): Int32Array {
    const b = this.bufs[slot];
    if (b && b.length >= n) return b.subarray(0, n);
    const fresh = new Int32Array(Math.max(n, 1024));
    this.bufs[slot] = fresh;
    return fresh.subarray(0, n);
  }
}

/** Decode PLAIN values at data[pos..] of a dictionary page. */
function plainDictionary(
  path: string,
  column: ParquetColumn,
  data: Uint8Array,
  n: number,
): Float64Array | string[] {
  if (column.physical === TYPE.BYTE_ARRAY) {
    const out: string[] = new Array(n);
    let p = 0;
    for (let k = 0; k < n; k++) {
      const len = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24);
      p += 4;
      out[k] = text.decode(data.subarray(p, p + len));
      p += len;
    }
    return out;
  }
  const nums = new Float64Array(n);
  decodeNumbers(path, column, data, 0, n, nums, 0, null);
  if (column.kind === "text") return Array.from(nums, (v) => integerText(path, v));
  return nums;
}

/** PLAIN numbers: value j of the page goes to out[at + slot] for the slot whose `defined` is j. */
function decodeNumbers(
  path: string,
  column: ParquetColumn,
  data: Uint8Array,
  pos: number,
  count: number,
  out: Float64Array,
  at: number,
  defined: Int32Array | null,
): void {
  const view = new DataView(data.buffer, data.byteOffset + pos);
  const get = (j: number): number => {
    switch (column.physical) {
      case TYPE.DOUBLE:
        return view.getFloat64(j * 8, true);
      case TYPE.FLOAT:
        return view.getFloat32(j * 4, true);
      case TYPE.INT32:
        return column.unsigned ? view.getUint32(j * 4, true) : view.getInt32(j * 4, true);
      case TYPE.INT64: {
        const lo = view.getUint32(j * 8, true);
        const hi = view.getInt32(j * 8 + 4, true);
        if (column.unsigned || hi >= 0x200000 || hi < -0x200000)
          return Number(column.unsigned ? view.getBigUint64(j * 8, true) : view.getBigInt64(j * 8, true));
        return hi * 4294967296 + lo;
      }
      default:
        throw unsupported(path, `column "${column.name}" type ${column.physical}`);
    }
  };
  if (!defined) {
    if (column.physical === TYPE.DOUBLE && (data.byteOffset + pos) % 8 === 0) {
      out.set(new Float64Array(data.buffer, data.byteOffset + pos, count), at);
      return;
    }
    if (column.physical === TYPE.DOUBLE) {
      out.set(new Float64Array(Uint8Array.prototype.slice.call(data, pos, pos + count * 8).buffer), at);
      return;
    }
    for (let k = 0; k < count; k++) out[at + k] = get(k);
    return;
  }
  for (let k = 0; k < count; k++) {
    const j = defined[k];
    out[at + k] = j < 0 ? Number.NaN : get(j);
  }
}

/** An integer printed as DuckDB's CAST(... AS VARCHAR) prints it; beyond 2^53 DuckDB reads the file. */
function integerText(path: string, v: number): string {
  if (!Number.isSafeInteger(v)) throw unsupported(path, "integer text beyond 2^53");
  return String(v);
}

/** A sink writing a numeric column's values (NaN for null) into `out` from row `base` on. */
function numberSink(file: ParquetFile, column: ParquetColumn, out: Float64Array, base: number): Sink {
  let dict: Float64Array = new Float64Array(0);
  return {
    dictionary: (d) => {
      dict = d as Float64Array;
    },
    indices: (at, idx, count) => {
      const o = base + at;
      for (let k = 0; k < count; k++) {
        const j = idx[k];
        out[o + k] = j < 0 ? Number.NaN : dict[j];
      }
    },
    plain: (at, data, pos, defined, count) =>
      decodeNumbers(file.path, column, data, pos, count, out, base + at, defined),
  };
}

// ---------------------------------------------------------------- public readers

/** One per thread: columns are read one after another. */
const scratch = new Scratch();

/** Read a column of numbers (NaN for null) of every file into one array. `null` files lack the column. */
export function readNumbers(files: ParquetFile[], name: string, total: number): Float64Array {
  const out = new Float64Array(total).fill(Number.NaN);
  let base = 0;
  for (const file of files) {
    const column = file.columns.find((c) => c.name === name);
    if (column) {
      if (column.kind !== "number" && column.kind !== "integer")
        throw unsupported(file.path, `column "${name}" is not numeric`);
      const fd = openSync(file.path, "r");
      try {
        readColumn(file, column, fd, numberSink(file, column, out, base), scratch);
      } finally {
        closeSync(fd);
      }
    }
    base += file.rows;
  }
  return out;
}

/**
 * Read a text column of every file as codes into one dictionary (first appearance order). `missing` is the
 * text of files without the column (null -> code -1).
 */
export function readText(
  files: ParquetFile[],
  name: string,
  total: number,
  missing: string | null,
): { codes: Int32Array; values: string[] } {
  const codes = new Int32Array(total).fill(-1);
  const values: string[] = [];
  const index = new Map<string, number>();
  const codeOf = (s: string) => {
    let c = index.get(s);
    if (c === undefined) {
      c = values.push(s) - 1;
      index.set(s, c);
    }
    return c;
  };
  let base = 0;
  for (const file of files) {
    const column = file.columns.find((c) => c.name === name);
    if (!column) {
      if (missing !== null && file.rows > 0) codes.fill(codeOf(missing), base, base + file.rows);
    } else {
      if (column.kind !== "text" && column.kind !== "integer")
        throw unsupported(file.path, `column "${name}" is not text`);
      const asText: ParquetColumn = { ...column, kind: "text" };
      const fd = openSync(file.path, "r");
      try {
        let remap = new Int32Array(0);
        readColumn(
          file,
          asText,
          fd,
          {
            dictionary: (d) => {
              const entries = d as string[];
              remap = new Int32Array(entries.length);
              for (let k = 0; k < entries.length; k++) remap[k] = codeOf(entries[k]);
            },
            indices: (at, idx, count) => {
              const o = base + at;
              for (let k = 0; k < count; k++) {
                const j = idx[k];
                codes[o + k] = j < 0 ? -1 : remap[j];
              }
            },
            mapped: () => ({ out: codes, base, map: remap }),
            plain: (at, data, pos, defined, count) => {
              const o = base + at;
              if (column.physical === TYPE.BYTE_ARRAY) {
                let p = pos;
                for (let k = 0; k < count; k++) {
                  if (defined && defined[k] < 0) continue;
                  const len = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24);
                  p += 4;
                  codes[o + k] = codeOf(text.decode(data.subarray(p, p + len)));
                  p += len;
                }
              } else {
                const nums = new Float64Array(count);
                decodeNumbers(file.path, column, data, pos, count, nums, 0, defined);
                for (let k = 0; k < count; k++)
                  codes[o + k] = Number.isNaN(nums[k]) ? -1 : codeOf(integerText(file.path, nums[k]));
              }
            },
          },
          scratch,
        );
      } finally {
        closeSync(fd);
      }
    }
    base += file.rows;
  }
  return { codes, values };
}

/**
 * One column of one file read a row group at a time into a caller's buffer (reused from group to group), for
 * passes that never hold a whole column: numbers (NaN = null) or text codes into one dictionary per column
 * across files (`values`, first appearance order; -1 = null). A file without the column gives NaN, or the code
 * of `missing` (null -> -1).
 */
export class ColumnCursor {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly scratch = new Scratch();
  readonly name: string;
  readonly kind: "numbers" | "text";
  readonly missing: string | null;
  constructor(name: string, kind: "numbers" | "text", missing: string | null = null) {
    this.name = name;
    this.kind = kind;
    this.missing = missing;
  }
  codeOf(s: string): number {
    let c = this.index.get(s);
    if (c === undefined) {
      c = this.values.push(s) - 1;
      this.index.set(s, c);
    }
    return c;
  }
  /** Rows of row group `g` of `file` (open as `fd`) into out[0..rows). */
  read(file: ParquetFile, fd: number, g: number, out: Float64Array | Int32Array): void {
    const rows = file.rowGroups[g].rows;
    const column = file.columns.find((c) => c.name === this.name);
    if (this.kind === "numbers") {
      const nums = out as Float64Array;
      if (!column) {
        nums.fill(Number.NaN, 0, rows);
        return;
      }
      if (column.kind !== "number" && column.kind !== "integer")
        throw unsupported(file.path, `column "${this.name}" is not numeric`);
      readColumn(file, column, fd, numberSink(file, column, nums, 0), this.scratch, g);
      return;
    }
    const codes = out as Int32Array;
    if (!column) {
      codes.fill(this.missing === null ? -1 : this.codeOf(this.missing), 0, rows);
      return;
    }
    if (column.kind !== "text" && column.kind !== "integer")
      throw unsupported(file.path, `column "${this.name}" is not text`);
    const asText: ParquetColumn = { ...column, kind: "text" };
    let remap = new Int32Array(0);
    readColumn(
      file,
      asText,
      fd,
      {
        dictionary: (d) => {
          const entries = d as string[];
          remap = new Int32Array(entries.length);
          for (let k = 0; k < entries.length; k++) remap[k] = this.codeOf(entries[k]);
        },
        indices: (at, idx, count) => {
          for (let k = 0; k < count; k++) {
            const j = idx[k];
            codes[at + k] = j < 0 ? -1 : remap[j];
          }
        },
        mapped: () => ({ out: codes, base: 0, map: remap }),
        plain: (at, data, pos, defined, count) => {
          if (column.physical === TYPE.BYTE_ARRAY) {
            let p = pos;
            for (let k = 0; k < count; k++) {
              if (defined && defined[k] < 0) {
                codes[at + k] = -1;
                continue;
              }
              const len = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24);
              p += 4;
              codes[at + k] = this.codeOf(text.decode(data.subarray(p, p + len)));
              p += len;
            }
          } else {
            const nums = new Float64Array(count);
            decodeNumbers(file.path, column, data, pos, count, nums, 0, defined);
            for (let k = 0; k < count; k++)
              codes[at + k] = Number.isNaN(nums[k]) ? -1 : this.codeOf(integerText(file.path, nums[k]));
          }
        },
      },
      this.scratch,
      g,
    );
  }
}
