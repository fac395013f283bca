import { readFileSync } from "node:fs";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { HolidayEvent, SeriesInput } from "./prophet.ts";

/**
 * Minimal RFC 4180 CSV: a header row, comma separated, optional double quotes ("" inside quotes is a quote).
 * Errors name the file, the line and the column.
 */
export interface CsvTable {
  header: string[];
  rows: string[][];
  /** 1-based source line of each row. */
  lines: number[];
}

export function parseCsv(text: string, file = "input"): CsvTable {
  const records: { cells: string[]; line: number }[] = [];
  let cells: string[] = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === "\n") line++;
        cell += ch;
      }
      continue;
    }
    if (ch === '"') {
      quoted = true;
      any = true;
    } else if (ch === ",") {
      cells.push(cell);
      cell = "";
      any = true;
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      if (any || cell.length > 0) {
        cells.push(cell);
        records.push({ cells, line: startLine });
      }
      cells = [];
      cell = "";
      any = false;
      line++;
      startLine = line;
    } else {
      cell += ch;
      any = true;
    }
  }
  if (quoted)
    throw new NonRetriableError(`${file}: unterminated quote starting on line ${startLine}`, { field: file });
  if (any || cell.length > 0) {
    cells.push(cell);
    records.push({ cells, line: startLine });
  }
  if (records.length === 0)
    throw new NonRetriableError(`${file}: empty file, expected a header row`, {
      field: file,
      fix: "write a header such as ds,y",
    });
  const header = records[0].cells.map((h) => h.trim());
  const rows: string[][] = [];
  const lines: number[] = [];
  for (const r of records.slice(1)) {
    if (r.cells.length !== header.length) {
      throw new NonRetriableError(
        `${file}: line ${r.line} has ${r.cells.length} fields, the header has ${header.length}`,
        {
          field: `${file}:${r.line}`,
          fix: "give every row the header's columns",
        },
      );
    }
    rows.push(r.cells);
    lines.push(r.line);
  }
  return { header, rows, lines };
}

/** A file's text, with a clear error when it cannot be read. */
export function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new NonRetriableError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        field: file,
        fix: "check the path",
        cause: err,
      },
    );
  }
}

function column(t: CsvTable, name: string, file: string, required: boolean): number {
  const i = t.header.indexOf(name);
  if (i < 0 && required) {
    throw new NonRetriableError(`${file}: no "${name}" column (header: ${t.header.join(",")})`, {
      field: `${file}:${name}`,
      fix: `add a ${name} column`,
    });
  }
  return i;
}

function numberAt(t: CsvTable, r: number, c: number, name: string, file: string, missingOk: boolean): number {
  const raw = t.rows[r][c].trim();
  if (
    raw === "" ||
    raw.toUpperCase() === "NA" ||
    raw.toUpperCase() === "NAN" ||
    raw.toUpperCase() === "NULL"
  ) {
    if (missingOk) return Number.NaN;
    throw new NonRetriableError(`${file}: line ${t.lines[r]}: ${name} is empty`, {
      field: `${file}:${t.lines[r]}:${name}`,
      fix: `fill ${name}`,
    });
  }
  const v = Number(raw);
  if (Number.isNaN(v)) {
    throw new NonRetriableError(`${file}: line ${t.lines[r]}: ${name} is not a number ("${raw}")`, {
      field: `${file}:${t.lines[r]}:${name}`,
      fix: `write ${name} as a number (empty or NA for missing)`,
    });
  }
  return v;
}

/** `ds,y[,cap][,floor]` plus any other numeric columns as regressors. Empty / NA y is a missing day. */
export function readSeriesCsv(file: string, text = readText(file)): SeriesInput & { columns: string[] } {
  const t = parseCsv(text, file);
  const ds = column(t, "ds", file, true);
  const y = column(t, "y", file, true);
  const cap = column(t, "cap", file, false);
  const floor = column(t, "floor", file, false);
  const out: SeriesInput & { columns: string[] } = {
    ds: t.rows.map((r) => r[ds].trim()),
    y: t.rows.map((_, r) => numberAt(t, r, y, "y", file, true)),
    columns: t.header,
  };
  if (cap >= 0) out.cap = t.rows.map((_, r) => numberAt(t, r, cap, "cap", file, false));
  if (floor >= 0) out.floor = t.rows.map((_, r) => numberAt(t, r, floor, "floor", file, false));
  const regs: Record<string, number[]> = {};
  t.header.forEach((h, c) => {
    if (["ds", "y", "cap", "floor"].includes(h)) return;
    regs[h] = t.rows.map((_, r) => numberAt(t, r, c, h, file, true));
  });
  if (Object.keys(regs).length > 0) out.regressors = regs;
  return out;
}

/** Prophet's holidays frame: `holiday,ds[,lower_window][,upper_window][,prior_scale]`. */
export function readHolidaysCsv(file: string, text = readText(file)): HolidayEvent[] {
  const t = parseCsv(text, file);
  const name = column(t, "holiday", file, true);
  const ds = column(t, "ds", file, true);
  const lo = column(t, "lower_window", file, false);
  const hi = column(t, "upper_window", file, false);
  const ps = column(t, "prior_scale", file, false);
  return t.rows.map((row, r) => {
    const e: HolidayEvent = { holiday: row[name].trim(), ds: row[ds].trim() };
    if (!e.holiday)
      throw new NonRetriableError(`${file}: line ${t.lines[r]}: holiday is empty`, {
        field: `${file}:${t.lines[r]}:holiday`,
      });
    if (lo >= 0) e.lowerWindow = numberAt(t, r, lo, "lower_window", file, false);
    if (hi >= 0) e.upperWindow = numberAt(t, r, hi, "upper_window", file, false);
    if (ps >= 0 && row[ps].trim() !== "") e.priorScale = numberAt(t, r, ps, "prior_scale", file, false);
    return e;
  });
}

/** Shortest round-trip text of a number; empty for NaN. */
export function formatNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : "";
}
