import { CopyFormatError, isNull, splitFields, unescapeField } from "./copy.ts";
import { type ColumnSpec, hashBytes, type ParquetWriter } from "./parquet-writer.ts";

/**
 * One COPY line of an aggregates table (`<dimensions json>\t<bigint array>`) -> one output row: the constant
 * columns of the table, the seven dimension columns (NULL when the key is absent; non-string JSON values as
 * their JSON text), `aggregate` as the original's string `[c0,...,cN,sum,count]`, and the typed `histogram`
 * (without the last two elements), `sum` and `count`. The array must be one-dimensional, of at least two
 * integers that fit INT64.
 *
 * Speed: lines are converted in bulk ({@link RowConverter.lines}), each in one pass over its bytes with
 * nothing allocated per row: the dimensions are flat JSON objects of strings, so a byte scanner finds each
 * key and value, and each value gets its dictionary hash from a few sampled words; the histogram's digits are
 * accumulated as numbers (up to 15 digits, exact). A line with anything else (an escape, a non-string value,
 * a longer number, a malformed line) is converted again by the general path, which decodes escapes, parses
 * the JSON and reports what is wrong with file, line and reason.
 */

/** The dimension keys the original schema keeps, in its column order. */
export const DIMENSIONS = [
  "os",
  "child",
  "label",
  "metric",
  "osVersion",
  "application",
  "architecture",
] as const;
const KEY_BYTES = DIMENSIONS.map((k) => Buffer.from(k, "latin1"));
const KNOWN = new Set<string>(DIMENSIONS);

const QUOTE = 34;
const BACKSLASH = 92;
const NL = 10;
const TAB = 9;
const SPACE = 32;
/** Unknown keys one line may have before the general path takes it. */
const MAX_UNKNOWN = 8;
const TWO32 = 4294967296;
const NO_KEY = Buffer.alloc(0);

/** The output columns: the original 13 (README of mozaggregator2bq), then the typed histogram, sum, count. */
export const OUTPUT_SCHEMA: ColumnSpec[] = [
  { name: "ingest_date", kind: "date", constant: true },
  { name: "aggregate_type", kind: "string", constant: true },
  { name: "ds_nodash", kind: "string", constant: true },
  { name: "channel", kind: "string", constant: true },
  { name: "version", kind: "string", constant: true },
  ...DIMENSIONS.map((name): ColumnSpec => ({ name, kind: "string", dictionary: true })),
  { name: "aggregate", kind: "string" },
  { name: "histogram", kind: "int64-list" },
  { name: "sum", kind: "int64" },
  { name: "count", kind: "int64" },
];
const COL_DIMENSIONS = 5;
const COL_AGGREGATE = 12;
const COL_HISTOGRAM = 13;
const COL_SUM = 14;
const COL_COUNT = 15;

/** Per-table constants of every row. */
export interface TableConstants {
  ingestDate: string;
  aggregateType: string;
  dsNodash: string;
  channel: string;
  version: string;
}

function isSpace(b: number): boolean {
  return b === 32 || b === 9 || b === 10 || b === 13;
}

/** Which of the seven columns `buf[s, e)` names, or -1. */
function keyIndex(buf: Buffer, s: number, e: number): number {
  let k: number;
  switch (e - s) {
    case 2:
      k = 0;
      break;
    case 5:
      k = buf[s] === 99 ? 1 : 2;
      break;
    case 6:
      k = 3;
      break;
    case 9:
      k = 4;
      break;
    case 11:
      k = 5;
      break;
    case 12:
      k = 6;
      break;
    default:
      return -1;
  }
  const key = KEY_BYTES[k];
  for (let i = 0; i < key.length; i++) if (buf[s + i] !== key[i]) return -1;
  return k;
}

export class RowConverter {
  rows = 0;
  /** Dimension keys outside the seven columns seen by the general path, with how many rows had each. */
  private readonly slowUnknown = new Map<string, number>();
  /**
   * The same, from the byte scanners: the key's bytes and its count (a handful of keys, searched in order).
   * Entry 0 is a placeholder, so that every converter's array holds objects from the start (one elements
   * kind for the optimized code of every table).
   */
  private readonly fastUnknown: { key: Buffer; count: number }[] = [{ key: NO_KEY, count: 0 }];
  private readonly unknownStarts = new Int32Array(MAX_UNKNOWN);
  private readonly unknownEnds = new Int32Array(MAX_UNKNOWN);
  private readonly hashes = new Int32Array(7);
  /** The current line's elements as numbers (fast path). */
  private vals = new Float64Array(1024);
  private lineNo = 0;
  private ended = false;
  private readonly fields: number[] = [];
  /** Escaped dimension values of the current line, decoded (fast path); see {@link unescapeValue}. */
  private unescaped = Buffer.allocUnsafe(4096);
  private unescapedEnd = 0;
  private readonly starts = new Int32Array(7);
  private readonly ends = new Int32Array(7);
  /** The array's elements as INT64 halves, refilled per row. */
  private lo = new Uint32Array(1024);
  private hi = new Uint32Array(1024);
  private readonly file: string;
  private readonly writer: ParquetWriter;

  constructor(file: string, writer: ParquetWriter, constants: TableConstants) {
    this.file = file;
    this.writer = writer;
    writer.setConstant(0, Math.round(Date.parse(`${constants.ingestDate}T00:00:00Z`) / 86_400_000));
    [constants.aggregateType, constants.dsNodash, constants.channel, constants.version].forEach((v, k) => {
      writer.setConstant(1 + k, v);
    });
  }

  /** Dimension keys outside the seven columns (e10sEnabled, ...), with how many rows had each. */
  get unknownKeys(): Map<string, number> {
    const all = new Map(this.slowUnknown);
    for (let k = 1; k < this.fastUnknown.length; k++) {
      const u = this.fastUnknown[k];
      const name = u.key.toString("utf8");
      all.set(name, (all.get(name) ?? 0) + u.count);
    }
    return all;
  }

  /** Lines read so far (the number of the last one). */
  get lines(): number {
    return this.lineNo;
  }

  /**
   * Convert the complete lines `buf[start, end)` (`buf[end - 1]` is their last newline). Stops converting at the
   * end-of-data marker `\.` and then accepts only empty lines.
   */
  convertLines(buf: Buffer, start: number, end: number): void {
    let p = start;
    while (p < end) {
      this.lineNo++;
      if (!this.ended) {
        const next = this.fastRow(buf, p);
        if (next >= 0) {
          p = next;
          continue;
        }
      }
      const nl = buf.indexOf(NL, p);
      this.slowLine(buf, p, nl);
      p = nl + 1;
    }
  }

  /** At the end of the data: a missing `\.` marker means a truncated dump. */
  finish(): void {
    if (!this.ended) {
      throw new CopyFormatError(
        this.file,
        this.lineNo,
        "data ends without the end-of-data marker \\. (truncated dump file)",
      );
    }
  }

  private slowLine(buf: Buffer, start: number, end: number): void {
    if (this.ended) {
      if (end > start)
        throw new CopyFormatError(this.file, this.lineNo, "data after the end-of-data marker \\.");
      return;
    }
    if (end - start === 2 && buf[start] === BACKSLASH && buf[start + 1] === 46) {
      this.ended = true;
      return;
    }
    this.convert(buf, start, end, this.lineNo);
  }

  /**
   * The common line: `{"key": "value", ...}<TAB>{i,i,...}<NL>` with string values (plain, or with the JSON
   * escapes {@link unescapeValue} decodes) and integer elements (as doubles up to 15 digits, else through
   * {@link wideRow}). Writes the row and returns the index after its newline, or returns -1 (having written
   * nothing) for any other line. The scan cannot run past the line: every loop stops at a byte < 32.
   */
  private fastRow(buf: Buffer, p: number): number {
    if (buf[p] !== 123) return -1;
    const starts = this.starts;
    const ends = this.ends;
    const hashes = this.hashes;
    let seen = 0;
    let unknown = 0;
    // Which values were unescaped (they live in `unescaped`), and where the next one goes there.
    let escaped = 0;
    let at = 0;
    let i = p + 1;
    let b = buf[i];
    if (b === SPACE) b = buf[++i];
    if (b !== 125) {
      for (;;) {
        if (b !== QUOTE) return -1;
        const ks = ++i;
        b = buf[i];
        while (b !== QUOTE) {
          if (b < 32 || b === BACKSLASH) return -1;
          b = buf[++i];
        }
        const ke = i;
        b = buf[++i];
        if (b === SPACE) b = buf[++i];
        if (b !== 58) return -1;
        b = buf[++i];
        if (b === SPACE) b = buf[++i];
        if (b !== QUOTE) return -1;
        const vs = ++i;
        b = buf[i];
        while (b !== QUOTE && b !== BACKSLASH) {
          if (b < 32) return -1;
          b = buf[++i];
        }
        const k = keyIndex(buf, ks, ke);
        if (b === BACKSLASH) {
          // An escaped value: decoded into `unescaped` from `at` on (its range is `at`..`unescapedEnd`).
          i = this.unescapeValue(buf, vs, i, at);
          if (i < 0) return -1;
          if (k >= 0) {
            if ((seen & (1 << k)) !== 0) return -1;
            seen |= 1 << k;
            escaped |= 1 << k;
            starts[k] = at;
            at = this.unescapedEnd;
            ends[k] = at;
            hashes[k] = hashBytes(this.unescaped, starts[k], at);
          } else {
            if (unknown === MAX_UNKNOWN) return -1;
            this.unknownStarts[unknown] = ks;
            this.unknownEnds[unknown++] = ke;
          }
        } else if (k >= 0) {
          if ((seen & (1 << k)) !== 0) return -1;
          seen |= 1 << k;
          starts[k] = vs;
          ends[k] = i;
          hashes[k] = hashBytes(buf, vs, i);
        } else {
          if (unknown === MAX_UNKNOWN) return -1;
          this.unknownStarts[unknown] = ks;
          this.unknownEnds[unknown++] = ke;
        }
        b = buf[++i];
        if (b === SPACE) b = buf[++i];
        if (b === 44) {
          b = buf[++i];
          if (b === SPACE) b = buf[++i];
          continue;
        }
        if (b === 125) break;
        return -1;
      }
    }
    if (buf[++i] !== TAB) return -1;
    const as = ++i;
    if (buf[i] !== 123) return -1;
    let vals = this.vals;
    let n = 0;
    for (;;) {
      b = buf[++i];
      let neg = false;
      if (b === 45) {
        neg = true;
        b = buf[++i];
      }
      const ds = i;
      let v = 0;
      while (b >= 48 && b <= 57) {
        v = v * 10 + (b - 48);
        b = buf[++i];
      }
      const digits = i - ds;
      if (digits === 0) return -1;
      if (digits > 15) return this.wideRow(buf, as, seen, escaped, unknown);
      if (n === vals.length) {
        const bigger = new Float64Array(vals.length * 2);
        bigger.set(vals);
        this.vals = vals = bigger;
      }
      vals[n++] = neg ? -v : v;
      if (b === 44) continue;
      if (b === 125) break;
      return -1;
    }
    const ae = ++i;
    if (buf[i] !== NL || n < 2) return -1;

    const w = this.writer;
    for (let k = 0; k < 7; k++) {
      if ((seen & (1 << k)) === 0) w.nullValue(COL_DIMENSIONS + k);
      else if ((escaped & (1 << k)) === 0)
        w.stringHashed(COL_DIMENSIONS + k, buf, starts[k], ends[k], hashes[k]);
      else w.stringHashed(COL_DIMENSIONS + k, this.unescaped, starts[k], ends[k], hashes[k]);
    }
    w.bracketed(COL_AGGREGATE, buf, as, ae);
    w.listNumbers(COL_HISTOGRAM, vals, 0, n - 2);
    w.int64Number(COL_SUM, vals[n - 2]);
    w.int64Number(COL_COUNT, vals[n - 1]);
    w.endRow();
    for (let u = 0; u < unknown; u++) this.countUnknown(buf, this.unknownStarts[u], this.unknownEnds[u]);
    this.rows++;
    return i + 1;
  }

  /**
   * The rest of {@link fastRow} for a line whose array has an element of more than 15 digits (past what a
   * double holds exactly): the dimensions as scanned, the array through the general path's parser (INT64
   * halves, with its errors). Such lines (sums past 2^53) are rare, but sending them down the general path
   * would make its functions hot enough to be compiled in every converting thread. Returns -1, having written
   * nothing, when the array is not the line's last field or has fewer than two elements: the general path
   * reports those.
   */
  private wideRow(buf: Buffer, as: number, seen: number, escaped: number, unknown: number): number {
    const nl = buf.indexOf(NL, as);
    const tab = buf.indexOf(TAB, as);
    if (nl < 0 || (tab >= 0 && tab < nl)) return -1;
    const n = this.parseArray(buf, as, nl, this.lineNo);
    if (n < 2) return -1;
    const starts = this.starts;
    const ends = this.ends;
    const hashes = this.hashes;
    const w = this.writer;
    for (let k = 0; k < 7; k++) {
      if ((seen & (1 << k)) === 0) w.nullValue(COL_DIMENSIONS + k);
      else if ((escaped & (1 << k)) === 0)
        w.stringHashed(COL_DIMENSIONS + k, buf, starts[k], ends[k], hashes[k]);
      else w.stringHashed(COL_DIMENSIONS + k, this.unescaped, starts[k], ends[k], hashes[k]);
    }
    const lo = this.lo;
    const hi = this.hi;
    w.bracketed(COL_AGGREGATE, buf, as, nl);
    w.list(COL_HISTOGRAM, lo, hi, 0, n - 2);
    w.int64Parts(COL_SUM, lo[n - 2], hi[n - 2]);
    w.int64Parts(COL_COUNT, lo[n - 1], hi[n - 1]);
    w.endRow();
    for (let u = 0; u < unknown; u++) this.countUnknown(buf, this.unknownStarts[u], this.unknownEnds[u]);
    this.rows++;
    return nl + 1;
  }

  /**
   * A JSON string value with escapes, as COPY writes it: every JSON backslash doubled (`\\"` is `\"`,
   * `\\\\` is `\\`). `buf[vs, i)` is plain and `buf[i]` its first backslash. Decodes `\" \\ \/ \b \f \n \r
   * \t` into `unescaped` from `at` on and returns the index of the closing quote (`unescapedEnd` is set), or
   * -1 for anything else (`\u` escapes, other COPY escapes, control bytes), which the general path takes.
   */
  private unescapeValue(buf: Buffer, vs: number, i: number, at: number): number {
    // Decoded bytes never outnumber the raw ones: room for the rest of the line is enough.
    const rest = buf.indexOf(NL, i);
    if (rest < 0) return -1;
    if (this.unescaped.length < at + (rest - vs)) {
      const bigger = Buffer.allocUnsafe(2 * (at + (rest - vs)));
      this.unescaped.copy(bigger, 0, 0, at);
      this.unescaped = bigger;
    }
    const o = this.unescaped;
    let q = at;
    for (let j = vs; j < i; j++) o[q++] = buf[j];
    for (;;) {
      const b = buf[i];
      if (b === QUOTE) break;
      if (b < 32) return -1;
      if (b !== BACKSLASH) {
        o[q++] = b;
        i++;
        continue;
      }
      // A COPY escape: only `\\` (one backslash of the JSON text), then the JSON escape's letter.
      if (buf[i + 1] !== BACKSLASH) return -1;
      const c = buf[i + 2];
      i += 3;
      if (c === QUOTE || c === 47) o[q++] = c;
      else if (c === BACKSLASH) {
        if (buf[i] !== BACKSLASH) return -1;
        o[q++] = BACKSLASH;
        i++;
      } else if (c === 98) o[q++] = 8;
      else if (c === 102) o[q++] = 12;
      else if (c === 110) o[q++] = NL;
      else if (c === 114) o[q++] = 13;
      else if (c === 116) o[q++] = TAB;
      else return -1;
    }
    this.unescapedEnd = q;
    return i;
  }

  private countUnknown(buf: Buffer, start: number, end: number): void {
    const len = end - start;
    const known = this.fastUnknown;
    for (let k = 1; k < known.length; k++) {
      const u = known[k];
      const key = u.key;
      if (key.length !== len) continue;
      let j = 0;
      while (j < len && key[j] === buf[start + j]) j++;
      if (j === len) {
        u.count++;
        return;
      }
    }
    this.fastUnknown.push({ key: Buffer.from(buf.subarray(start, end)), count: 1 });
  }

  /** Convert one COPY line into one row of the writer (the general path). */
  convert(buf: Buffer, start: number, end: number, line: number): void {
    const f = splitFields(buf, start, end, this.fields);
    if (f.length !== 4) {
      throw new CopyFormatError(
        this.file,
        line,
        `expected 2 tab-separated columns (dimensions, histogram), found ${f.length / 2}`,
      );
    }
    const n = this.parseArray(buf, f[2], f[3], line);
    const ds = f[0];
    const de = f[1];
    const w = this.writer;
    let slow: Record<string, unknown> | null = null;
    if (!this.scanDimensions(buf, ds, de)) {
      if (isNull(buf, ds, de)) throw new CopyFormatError(this.file, line, "dimensions is NULL");
      let raw = buf;
      let rs = ds;
      let re = de;
      if (buf.subarray(ds, de).indexOf(BACKSLASH) >= 0) {
        try {
          raw = unescapeField(buf, ds, de);
        } catch (err) {
          throw new CopyFormatError(this.file, line, `dimensions: ${(err as Error).message}`);
        }
        rs = 0;
        re = raw.length;
      }
      slow = this.parseDimensions(raw, rs, re, line);
    }
    if (slow === null) {
      for (let k = 0; k < 7; k++) w.stringBytes(COL_DIMENSIONS + k, buf, this.starts[k], this.ends[k]);
    } else {
      for (let k = 0; k < 7; k++) {
        const value = slow[DIMENSIONS[k]];
        w.string(
          COL_DIMENSIONS + k,
          value === undefined || value === null
            ? null
            : typeof value === "string"
              ? value
              : JSON.stringify(value),
        );
      }
    }
    w.bracketed(COL_AGGREGATE, buf, f[2], f[3]);
    const lo = this.lo;
    const hi = this.hi;
    w.list(COL_HISTOGRAM, lo, hi, 0, n - 2);
    w.int64Parts(COL_SUM, lo[n - 2], hi[n - 2]);
    w.int64Parts(COL_COUNT, lo[n - 1], hi[n - 1]);
    w.endRow();
    this.rows++;
  }

  /** Scan a flat object of plain strings into the seven value ranges; false when it is anything else. */
  private scanDimensions(buf: Buffer, start: number, end: number): boolean {
    const starts = this.starts;
    const ends = this.ends;
    starts.fill(-1);
    let unknown = 0;
    let i = start;
    while (i < end && isSpace(buf[i])) i++;
    if (buf[i] !== 123) return false;
    i++;
    for (;;) {
      while (i < end && isSpace(buf[i])) i++;
      if (buf[i] === 125) break;
      if (buf[i] !== QUOTE) return false;
      const ks = ++i;
      while (i < end && buf[i] !== QUOTE && buf[i] !== BACKSLASH) i++;
      if (i >= end || buf[i] !== QUOTE) return false;
      const ke = i++;
      while (i < end && isSpace(buf[i])) i++;
      if (buf[i] !== 58) return false;
      i++;
      while (i < end && isSpace(buf[i])) i++;
      if (buf[i] !== QUOTE) return false;
      const vs = ++i;
      while (i < end && buf[i] !== QUOTE && buf[i] !== BACKSLASH && buf[i] >= 32) i++;
      if (i >= end || buf[i] !== QUOTE) return false;
      const ve = i++;
      const k = keyIndex(buf, ks, ke);
      if (k >= 0) {
        if (starts[k] >= 0) return false; // duplicate key: let JSON.parse's last-wins decide
        starts[k] = vs;
        ends[k] = ve;
      } else {
        if (unknown === MAX_UNKNOWN) return false;
        this.unknownStarts[unknown] = ks;
        this.unknownEnds[unknown++] = ke;
      }
      while (i < end && isSpace(buf[i])) i++;
      if (buf[i] === 44) {
        i++;
        continue;
      }
      if (buf[i] === 125) break;
      return false;
    }
    i++;
    while (i < end && isSpace(buf[i])) i++;
    if (i !== end) return false;
    for (let u = 0; u < unknown; u++) this.countUnknown(buf, this.unknownStarts[u], this.unknownEnds[u]);
    return true;
  }

  private parseDimensions(buf: Buffer, start: number, end: number, line: number): Record<string, unknown> {
    let obj: unknown;
    try {
      obj = JSON.parse(buf.toString("utf8", start, end));
    } catch (err) {
      throw new CopyFormatError(this.file, line, `dimensions is not valid JSON (${(err as Error).message})`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new CopyFormatError(this.file, line, "dimensions is not a JSON object");
    }
    const d = obj as Record<string, unknown>;
    for (const key in d) {
      if (!KNOWN.has(key)) this.slowUnknown.set(key, (this.slowUnknown.get(key) ?? 0) + 1);
    }
    return d;
  }

  /**
   * Parse `{i,i,...}` into `lo`/`hi` (INT64 halves) and return the element count: a one-dimensional array of
   * at least two INT64s. Numbers up to 15 digits are accumulated exactly as doubles; longer ones go through
   * BigInt (range-checked).
   */
  private parseArray(buf: Buffer, start: number, end: number, line: number): number {
    if (isNull(buf, start, end)) this.arrayError(buf, start, end, line, "is NULL");
    if (end - start < 2 || buf[start] !== 123 || buf[end - 1] !== 125) {
      this.arrayError(buf, start, end, line, "is not an array literal {...}");
    }
    const last = end - 1;
    // At most one element per two bytes.
    if ((last - start) / 2 + 1 > this.lo.length) {
      this.lo = new Uint32Array(2 * ((last - start) / 2 + 1));
      this.hi = new Uint32Array(this.lo.length);
    }
    const lo = this.lo;
    const hi = this.hi;
    let n = 0;
    let digits = 0;
    let value = 0;
    let neg = false;
    let elemStart = start + 1;
    for (let i = start + 1; i <= last; i++) {
      const b = i < last ? buf[i] : 44;
      if (b >= 48 && b <= 57) {
        value = value * 10 + (b - 48);
        digits++;
        continue;
      }
      if (b === 44) {
        if (digits === 0) {
          this.arrayError(
            buf,
            start,
            end,
            line,
            n === 0 && i === last ? "is empty" : `element ${n + 1} is empty`,
          );
        }
        if (digits > 15) {
          const text = buf.toString("latin1", elemStart, i);
          const big = BigInt(text);
          if (big > 9223372036854775807n || big < -9223372036854775808n) {
            this.arrayError(buf, start, end, line, `element ${text} does not fit INT64`);
          }
          const u = BigInt.asUintN(64, big);
          lo[n] = Number(u & 0xffffffffn);
          hi[n] = Number(u >> 32n);
        } else if (!neg || value === 0) {
          lo[n] = value % TWO32;
          hi[n] = Math.floor(value / TWO32);
        } else {
          // two's complement of a negative value
          const l = value % TWO32;
          const h = Math.floor(value / TWO32);
          lo[n] = l === 0 ? 0 : TWO32 - l;
          hi[n] = l === 0 ? (TWO32 - h) % TWO32 : TWO32 - 1 - h;
        }
        n++;
        digits = 0;
        value = 0;
        neg = false;
        elemStart = i + 1;
        continue;
      }
      if (b === 45 && i === elemStart) {
        neg = true;
        continue;
      }
      if (b === 78 && buf.toString("latin1", i, i + 4) === "NULL") {
        this.arrayError(buf, start, end, line, `element ${n + 1} is NULL`);
      }
      if (b === 123) this.arrayError(buf, start, end, line, "is a multi-dimensional array");
      this.arrayError(
        buf,
        start,
        end,
        line,
        `unexpected character ${JSON.stringify(String.fromCharCode(b))} at offset ${i - start}`,
      );
    }
    if (n < 2)
      this.arrayError(buf, start, end, line, "has fewer than 2 elements (bucket counts, then sum and count)");
    return n;
  }

  private arrayError(buf: Buffer, start: number, end: number, line: number, reason: string): never {
    const shown = buf.toString("utf8", start, Math.min(end, start + 60));
    throw new CopyFormatError(
      this.file,
      line,
      `histogram ${JSON.stringify(end - start > 60 ? `${shown}...` : shown)}: ${reason}`,
    );
  }
}
