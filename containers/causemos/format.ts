/**
 * Text forms of the outputs, as pandas writes them: floats like Python's repr (`3.0`, `1e-05`, `1.5e+16`),
 * integers without a fraction, missing numbers as empty CSV fields, JSON with NaN as null.
 */

export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return "";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) {
    const [mantissa, exp] = x.toExponential().split("e");
    const sign = exp[0] === "-" ? "-" : "+";
    const digits = exp.replace(/^[+-]/, "");
    return `${mantissa}e${sign}${digits.length < 2 ? `0${digits}` : digits}`;
  }
  const s = String(x);
  return s.includes(".") ? s : `${s}.0`;
}

export function intText(x: number): string {
  return Number.isNaN(x) ? "" : String(x);
}

/** One CSV field: quoted when it holds a comma, quote or line break (pandas' QUOTE_MINIMAL). */
export function csvText(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A CSV document from a header and rows of already formatted fields; lines end with \n as pandas writes. */
export function csvDocument(header: readonly string[], rows: readonly string[][]): string {
  let out = `${header.map(csvText).join(",")}\n`;
  for (const row of rows) out += `${row.join(",")}\n`;
  return out;
}

export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
}
