import { CopyFormatError, hasBackslash, isNull, splitFields, unescapeField } from "./copy.ts";

/**
 * One COPY line of an aggregates table (`<dimensions json>\t<bigint array>`) -> one line of the converter's
 * intermediate file: the seven dimension columns and the `aggregate` string, tab-separated, `"`-quoted when a
 * value holds a quote, tab or line break, `\N` for NULL. The array is checked here (integers that fit INT64,
 * at least the trailing sum and count) so the columnar writer can cast it without surprises.
 */

/** The dimension keys the original schema keeps, in its column order. */
export const DIMENSIONS = ["os", "child", "label", "metric", "osVersion", "application", "architecture"] as const;
const KNOWN = new Set<string>(DIMENSIONS);

const QUOTE_NEEDED = /["\t\n\r]/;
const INT64_MAX = "9223372036854775807";
const INT64_MIN_ABS = "9223372036854775808";

function field(value: unknown): string {
  if (value === undefined || value === null) return "\\N";
  const s = typeof value === "string" ? value : JSON.stringify(value);
  if (s === "\\N" || QUOTE_NEEDED.test(s)) return `"${s.replaceAll('"', '""')}"`;
  return s;
}

export class RowConverter {
  rows = 0;
  /** Dimension keys outside the seven columns (e10sEnabled, ...), with how many rows had each. */
  readonly unknownKeys = new Map<string, number>();
  private readonly fields: number[] = [];
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  /** The intermediate line for one COPY line, newline included. */
  convert(buf: Buffer, start: number, end: number, line: number): string {
    const f = splitFields(buf, start, end, this.fields);
    if (f.length !== 4) {
      throw new CopyFormatError(
        this.file,
        line,
        `expected 2 tab-separated columns (dimensions, histogram), found ${f.length / 2}`,
      );
    }
    const dims = this.dimensions(buf, f[0], f[1], line);
    const aggregate = this.aggregate(buf, f[2], f[3], line);
    this.rows++;
    return `${dims}\t${aggregate}\n`;
  }

  private dimensions(buf: Buffer, start: number, end: number, line: number): string {
    if (isNull(buf, start, end)) throw new CopyFormatError(this.file, line, "dimensions is NULL");
    let text: string;
    try {
      text = hasBackslash(buf, start, end)
        ? unescapeField(buf, start, end).toString("utf8")
        : buf.toString("utf8", start, end);
    } catch (err) {
      throw new CopyFormatError(this.file, line, `dimensions: ${(err as Error).message}`);
    }
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      throw new CopyFormatError(this.file, line, `dimensions is not valid JSON (${(err as Error).message})`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new CopyFormatError(this.file, line, "dimensions is not a JSON object");
    }
    const d = obj as Record<string, unknown>;
    for (const key in d) {
      if (!KNOWN.has(key)) this.unknownKeys.set(key, (this.unknownKeys.get(key) ?? 0) + 1);
    }
    return `${field(d.os)}\t${field(d.child)}\t${field(d.label)}\t${field(d.metric)}\t${field(d.osVersion)}\t${field(d.application)}\t${field(d.architecture)}`;
  }

  /** `{1,2,3}` -> `[1,2,3]`, after checking it is a one-dimensional array of at least two INT64s. */
  private aggregate(buf: Buffer, start: number, end: number, line: number): string {
    const bad = (reason: string): never => {
      const shown = buf.toString("utf8", start, Math.min(end, start + 60));
      throw new CopyFormatError(
        this.file,
        line,
        `histogram ${JSON.stringify(end - start > 60 ? `${shown}...` : shown)}: ${reason}`,
      );
    };
    if (isNull(buf, start, end)) bad("is NULL");
    if (end - start < 2 || buf[start] !== 123 || buf[end - 1] !== 125) bad("is not an array literal {...}");
    let elements = 0;
    let digits = 0;
    let elemStart = start + 1;
    const last = end - 1;
    for (let i = start + 1; i < last; i++) {
      const b = buf[i];
      if (b >= 48 && b <= 57) {
        digits++;
        continue;
      }
      if (b === 44) {
        if (digits === 0) bad(`element ${elements + 1} is empty`);
        if (digits > 18) this.checkRange(buf, elemStart, i, bad);
        elements++;
        digits = 0;
        elemStart = i + 1;
        continue;
      }
      if (b === 45 && i === elemStart) continue;
      if (b === 78 && buf.toString("latin1", i, i + 4) === "NULL") bad(`element ${elements + 1} is NULL`);
      if (b === 123) bad("is a multi-dimensional array");
      bad(`unexpected character ${JSON.stringify(String.fromCharCode(b))} at offset ${i - start}`);
    }
    if (digits === 0) bad(elements === 0 ? "is empty" : `element ${elements + 1} is empty`);
    if (digits > 18) this.checkRange(buf, elemStart, last, bad);
    elements++;
    if (elements < 2) bad("has fewer than 2 elements (bucket counts, then sum and count)");
    return `[${buf.latin1Slice(start + 1, last)}]`;
  }

  private checkRange(buf: Buffer, start: number, end: number, bad: (reason: string) => never): void {
    const neg = buf[start] === 45;
    let s = buf.toString("latin1", neg ? start + 1 : start, end).replace(/^0+(?=\d)/, "");
    const limit = neg ? INT64_MIN_ABS : INT64_MAX;
    if (s.length > 19 || (s.length === 19 && s > limit)) {
      s = buf.toString("latin1", start, end);
      bad(`element ${s} does not fit INT64`);
    }
  }
}
