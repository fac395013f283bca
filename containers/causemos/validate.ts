import { NonRetriableError } from "../../shared/core/errors.ts";
import { type DojoFrame, REGION_LEVELS, type RegionLevel, selectRows, type TextColumn } from "./frame.ts";

/** Pandas keeps times as int64 nanoseconds: the largest epoch-millisecond time it can hold. */
export const MAX_TIMESTAMP = 2 ** 63 / 1_000_000; // numpy: iinfo(int64).max / 1e6, the same double

/** The file readers' checks before anything is grouped: some rows, and a feature named on every row. */
export function checkRowsAndFeatures(rows: number, nullFeatures: number, files: { path: string }[]): void {
  if (rows === 0) {
    throw new NonRetriableError(`the data have no rows (${files.map((m) => m.path).join(", ")})`, {
      field: "params.data_paths",
      fix: "check that Dojo wrote the run's output before requesting processing",
    });
  }
  if (nullFeatures > 0) {
    throw new NonRetriableError(`feature is null in ${nullFeatures} row(s)`, {
      field: "feature",
      fix: "every Dojo output row must name its feature",
    });
  }
}

export interface ValidationCounters {
  num_missing_ts: number;
  num_invalid_ts: number;
  num_missing_val: number;
}

export interface Validated {
  frame: DojoFrame;
  /** The weight column in use: "" when not requested or not in the data (as the original). */
  weightColumn: string;
  counters: ValidationCounters;
  /** Columns dropped because every value was null or empty. */
  dropped: string[];
}

/**
 * `validate_and_fix` of the original, on a frame:
 * - drop region and qualifier columns whose values are all null or "" (never timestamp, lat, lng, feature, value);
 * - lat/lng that are all null are dropped as a pair (no tiles), as `read_data` does;
 * - value ±inf becomes NaN (missing); nulls in text columns become the text "None";
 * - "//" is removed from region names (object stores cannot hold it);
 * - the weight column is numeric with non-numbers as 0;
 * - missing timestamps are counted and set to `fillTimestamp`; timestamps >= MAX_TIMESTAMP are counted and their
 *   rows dropped; missing values are counted after that.
 * A row without a feature name is an error (the original drops it silently in its group-bys).
 */
export function validateAndFix(
  input: DojoFrame,
  options: { weightColumn?: string; fillTimestamp?: number } = {},
): Validated {
  let frame: DojoFrame = {
    ...input,
    regions: { ...input.regions },
    qualifiers: new Map(input.qualifiers),
    columns: [...input.columns],
  };
  const dropped: string[] = [];
  const nullFeature = countNulls(frame.feature);
  if (nullFeature.count > 0) {
    throw new NonRetriableError(
      `feature is null in ${nullFeature.count} row(s) (first at row ${nullFeature.first + 1})`,
      { field: "feature", fix: "every Dojo output row must name its feature" },
    );
  }

  const drop = (name: string) => {
    dropped.push(name);
    frame.columns = frame.columns.filter((c) => c !== name);
  };
  for (const level of REGION_LEVELS) {
    const col = frame.regions[level];
    if (col && allNullOrEmpty(col)) {
      delete frame.regions[level];
      drop(level);
    }
  }
  for (const [name, col] of frame.qualifiers) {
    if (allNullOrEmpty(col)) {
      frame.qualifiers.delete(name);
      drop(name);
    }
  }
  if (frame.lat && frame.lng && (allNaN(frame.lat) || allNaN(frame.lng))) {
    frame.lat = undefined;
    frame.lng = undefined;
    drop("lat");
    drop("lng");
  }

  const value = new Float64Array(frame.value);
  for (let i = 0; i < value.length; i++)
    if (value[i] === Infinity || value[i] === -Infinity) value[i] = Number.NaN;
  frame.value = value;

  for (const level of REGION_LEVELS) {
    const col = frame.regions[level];
    if (col) frame.regions[level] = fillNone(col, (s) => s.replaceAll("//", ""));
  }
  for (const [name, col] of frame.qualifiers) frame.qualifiers.set(name, fillNone(col));

  let weightColumn = options.weightColumn ?? "";
  if (weightColumn !== "" && !frame.weight) weightColumn = "";
  if (frame.weight) {
    if (weightColumn === "") frame.weight = undefined;
    else {
      const w = new Float64Array(frame.weight.values);
      for (let i = 0; i < w.length; i++) if (Number.isNaN(w[i])) w[i] = 0;
      frame.weight = { name: frame.weight.name, values: w };
    }
  }

  const fill = options.fillTimestamp ?? 0;
  const ts = new Float64Array(frame.timestamp);
  let missingTs = 0;
  let invalidTs = 0;
  for (let i = 0; i < ts.length; i++) {
    if (Number.isNaN(ts[i])) {
      missingTs++;
      ts[i] = fill;
    }
    if (ts[i] >= MAX_TIMESTAMP) invalidTs++;
  }
  frame.timestamp = ts;
  if (invalidTs > 0) {
    const keep = new Int32Array(ts.length - invalidTs);
    let j = 0;
    for (let i = 0; i < ts.length; i++) if (ts[i] < MAX_TIMESTAMP) keep[j++] = i;
    frame = selectRows(frame, keep);
  }
  let missingVal = 0;
  for (let i = 0; i < frame.rows; i++) if (Number.isNaN(frame.value[i])) missingVal++;
  return {
    frame,
    weightColumn,
    counters: { num_missing_ts: missingTs, num_invalid_ts: invalidTs, num_missing_val: missingVal },
    dropped,
  };
}

function allNaN(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isNaN(a[i])) return false;
  return true;
}

function countNulls(col: TextColumn): { count: number; first: number } {
  let count = 0;
  let first = -1;
  for (let i = 0; i < col.codes.length; i++) {
    if (col.codes[i] < 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { count, first };
}

function allNullOrEmpty(col: TextColumn): boolean {
  const used = new Uint8Array(col.values.length);
  for (let i = 0; i < col.codes.length; i++) {
    const c = col.codes[i];
    if (c >= 0 && used[c] === 0) {
      if (col.values[c] !== "") return false;
      used[c] = 1;
    }
  }
  return true;
}

/** Null codes become "None"; `rename` rewrites dictionary values, merging values that become equal. */
function fillNone(col: TextColumn, rename?: (s: string) => string): TextColumn {
  const renames = rename !== undefined && col.values.some((v) => rename(v) !== v);
  if (!renames && !col.codes.includes(-1)) return col;
  const values: string[] = [];
  const index = new Map<string, number>();
  const remap = new Int32Array(col.values.length);
  const add = (s: string) => {
    let k = index.get(s);
    if (k === undefined) {
      k = values.push(s) - 1;
      index.set(s, k);
    }
    return k;
  };
  col.values.forEach((v, k) => {
    remap[k] = add(rename ? rename(v) : v);
  });
  let none = -1;
  const codes = new Int32Array(col.codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = col.codes[i];
    if (c >= 0) codes[i] = remap[c];
    else {
      if (none < 0) none = add("None");
      codes[i] = none;
    }
  }
  return { values, codes };
}

export type { RegionLevel };
