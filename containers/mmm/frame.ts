import { NonRetriableError } from "../../shared/core/errors.ts";

/** A prepared model frame: one date column and numeric columns, in time order (Robyn's `dt_mod`). */
export interface ModelFrame {
  dates: string[];
  columns: Record<string, Float64Array>;
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * Parses a model-frame CSV (a header row; the date column `dateVar`, YYYY-MM-DD; every other column numeric).
 * `source` names the file in error messages.
 */
export function parseFrameCsv(text: string, dateVar = "ds", source = "frame"): ModelFrame {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length < 2)
    throw new NonRetriableError(`${source}: needs a header and at least one row`, { field: "frame" });
  const header = splitCsvLine(lines[0]).map((h) => h.trim());
  const di = header.indexOf(dateVar);
  if (di < 0) {
    throw new NonRetriableError(`${source}: no date column "${dateVar}" in header ${header.join(",")}`, {
      field: "date_var",
      fix: "name the date column in the spec's date_var",
    });
  }
  const rows = lines.length - 1;
  const dates: string[] = new Array(rows);
  const columns: Record<string, Float64Array> = {};
  for (const h of header) if (h !== dateVar) columns[h] = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const cells = splitCsvLine(lines[r + 1]);
    if (cells.length !== header.length) {
      throw new NonRetriableError(
        `${source} line ${r + 2}: ${cells.length} cells, header has ${header.length}`,
        { field: "frame" },
      );
    }
    for (let c = 0; c < header.length; c++) {
      const h = header[c];
      const raw = cells[c].trim();
      if (c === di) {
        if (!/^\d{4}-\d{2}-\d{2}/.test(raw)) {
          throw new NonRetriableError(`${source} line ${r + 2}: date "${raw}" is not YYYY-MM-DD`, {
            field: dateVar,
          });
        }
        dates[r] = raw.slice(0, 10);
        continue;
      }
      const v = raw === "" ? Number.NaN : Number(raw);
      if (!Number.isFinite(v)) {
        throw new NonRetriableError(
          `${source} line ${r + 2}: column "${h}" has non-numeric or missing value "${raw}"`,
          {
            field: h,
            fix: "fill or drop missing values and one-hot encode factors before fitting",
          },
        );
      }
      columns[h][r] = v;
    }
  }
  for (let r = 1; r < rows; r++) {
    if (dates[r] <= dates[r - 1]) {
      throw new NonRetriableError(
        `${source} line ${r + 2}: dates must increase (${dates[r - 1]} then ${dates[r]})`,
        {
          field: dateVar,
        },
      );
    }
  }
  return { dates, columns };
}

/** Day number of a YYYY-MM-DD date (UTC). */
export function dayNumber(date: string): number {
  return Math.round(Date.parse(`${date.slice(0, 10)}T00:00:00Z`) / 86_400_000);
}

/** Robyn's `check_windows`: the row whose date is closest to `date` (first on ties). */
export function closestRow(dates: string[], date: string): number {
  const d = dayNumber(date);
  let best = 0;
  let bestDist = Number.POSITIVE_INFINITY;
  for (let i = 0; i < dates.length; i++) {
    const dist = Math.abs(dayNumber(dates[i]) - d);
    if (dist < bestDist) {
      bestDist = dist;
      best = i;
    }
  }
  return best;
}
