import { NonRetriableError } from "../../shared/core/errors.ts";

/**
 * PostgreSQL's COPY text format, as pg_dump writes table data: one row per line (`\n`), columns separated by a
 * tab, `\N` for NULL, and backslash escapes for the bytes that would otherwise be structure: `\b \f \n \r \t \v
 * \\`, octal `\ooo` (1-3 digits), hex `\xhh` (1-2 digits); any other escaped character stands for itself. The
 * data ends with a line `\.`. Everything works on Buffers: lines are found with `indexOf`, and a field is only
 * unescaped when it holds a backslash.
 */

const NL = 10;
const TAB = 9;
const BACKSLASH = 92;

export class CopyFormatError extends NonRetriableError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`, {
      field: file,
      fix: "re-dump the day; the COPY data is not what pg_dump writes for (dimensions jsonb, histogram bigint[])",
    });
    this.name = "CopyFormatError";
    this.file = file;
    this.line = line;
  }
}

/** Receives each complete line as `buf[start, end)` (without the newline) with its 1-based number. */
export type LineHandler = (buf: Buffer, start: number, end: number, line: number) => void;

/**
 * Splits a stream of chunks into lines. A line that spans chunks is joined once; all others are handed out
 * as ranges of the chunk they sit in. Stops handing out lines after the `\.` end marker and rejects anything
 * but empty lines after it.
 */
export class LineSplitter {
  private carry: Buffer | null = null;
  private lineNo = 0;
  private ended = false;
  private readonly file: string;
  private readonly onLine: LineHandler;
  constructor(file: string, onLine: LineHandler) {
    this.file = file;
    this.onLine = onLine;
  }

  get lines(): number {
    return this.lineNo;
  }

  get sawEndMarker(): boolean {
    return this.ended;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.carry !== null) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      const joined = Buffer.concat([this.carry, chunk.subarray(0, nl)]);
      this.carry = null;
      this.line(joined, 0, joined.length);
      pos = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NL, pos);
      if (nl < 0) break;
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) this.carry = Buffer.from(chunk.subarray(pos));
  }

  /** Call at the end of input: a last line without a newline counts, a missing `\.` marker is an error. */
  end(): void {
    if (this.carry !== null && this.carry.length > 0) {
      const last = this.carry;
      this.carry = null;
      this.line(last, 0, last.length);
    }
    if (!this.ended) {
      throw new CopyFormatError(
        this.file,
        this.lineNo,
        "data ends without the end-of-data marker \\. (truncated dump file)",
      );
    }
  }

  private line(buf: Buffer, start: number, end: number): void {
    this.lineNo++;
    if (this.ended) {
      if (end > start)
        throw new CopyFormatError(this.file, this.lineNo, "data after the end-of-data marker \\.");
      return;
    }
    if (end - start === 2 && buf[start] === BACKSLASH && buf[start + 1] === 46) {
      this.ended = true;
      return;
    }
    this.onLine(buf, start, end, this.lineNo);
  }
}

/** Whether `buf[start, end)` holds a backslash (then it needs {@link unescapeField}). */
export function hasBackslash(buf: Buffer, start: number, end: number): boolean {
  return buf.subarray(start, end).indexOf(BACKSLASH) >= 0;
}

/** Whether the field is exactly `\N` (SQL NULL). */
export function isNull(buf: Buffer, start: number, end: number): boolean {
  return end - start === 2 && buf[start] === BACKSLASH && buf[start + 1] === 78;
}

const isOctal = (b: number) => b >= 48 && b <= 55;
function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  return -1;
}

/**
 * Decode the escapes of one field into bytes. `\N` must be checked by the caller first (it only means NULL
 * as a whole field). Throws a plain Error with the reason for a backslash at the very end of the field.
 */
export function unescapeField(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  const view = buf.subarray(0, end);
  let o = 0;
  let i = start;
  while (i < end) {
    const next = view.indexOf(BACKSLASH, i);
    const stop = next < 0 ? end : next;
    if (stop > i) {
      buf.copy(out, o, i, stop);
      o += stop - i;
    }
    if (stop === end) break;
    i = stop + 1;
    if (i >= end) throw new Error("field ends with a lone backslash");
    const c = buf[i];
    switch (c) {
      case 98: // b
        out[o++] = 8;
        i++;
        break;
      case 102: // f
        out[o++] = 12;
        i++;
        break;
      case 110: // n
        out[o++] = 10;
        i++;
        break;
      case 114: // r
        out[o++] = 13;
        i++;
        break;
      case 116: // t
        out[o++] = 9;
        i++;
        break;
      case 118: // v
        out[o++] = 11;
        i++;
        break;
      case 120: {
        // x: one or two hex digits; `\x` without one is a literal x, as PostgreSQL reads it
        const h1 = i + 1 < end ? hexValue(buf[i + 1]) : -1;
        if (h1 < 0) {
          out[o++] = c;
          i++;
          break;
        }
        const h2 = i + 2 < end ? hexValue(buf[i + 2]) : -1;
        if (h2 < 0) {
          out[o++] = h1;
          i += 2;
        } else {
          out[o++] = h1 * 16 + h2;
          i += 3;
        }
        break;
      }
      default:
        if (isOctal(c)) {
          let value = c - 48;
          i++;
          for (let k = 0; k < 2 && i < end && isOctal(buf[i]); k++, i++) value = value * 8 + (buf[i] - 48);
          out[o++] = value & 0xff;
        } else {
          out[o++] = c;
          i++;
        }
    }
  }
  return out.subarray(0, o);
}

/** The field boundaries of one line: `[start0, end0, start1, end1, ...]`. */
export function splitFields(buf: Buffer, start: number, end: number, into: number[] = []): number[] {
  into.length = 0;
  const view = buf.subarray(0, end);
  let s = start;
  for (;;) {
    const t = view.indexOf(TAB, s);
    if (t < 0) {
      into.push(s, end);
      return into;
    }
    into.push(s, t);
    s = t + 1;
  }
}
