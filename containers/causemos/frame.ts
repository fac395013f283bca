/**
 * The columnar form of Dojo model output that every step of the job works on: numbers in typed arrays,
 * text as dictionary codes (`codes[i]` indexes `values`; -1 is a null). One frame holds every row of a run;
 * steps select rows by index arrays instead of copying columns.
 */

export const REGION_LEVELS = ["country", "admin1", "admin2", "admin3"] as const;
export type RegionLevel = (typeof REGION_LEVELS)[number];

/** The columns every Dojo file must have; any other column is a qualifier (or the weight column). */
export const REQUIRED_COLUMNS = [
  "timestamp",
  "country",
  "admin1",
  "admin2",
  "admin3",
  "lat",
  "lng",
  "feature",
  "value",
] as const;

export interface TextColumn {
  codes: Int32Array;
  values: string[];
}

export interface DojoFrame {
  rows: number;
  /** Epoch milliseconds; NaN where missing. */
  timestamp: Float64Array;
  feature: TextColumn;
  /** Region columns present in the data, in REGION_LEVELS order. */
  regions: Partial<Record<RegionLevel, TextColumn>>;
  /** Absent when the data have no usable coordinates (no tiles then). NaN where missing. */
  lat?: Float64Array;
  lng?: Float64Array;
  /** NaN where missing. */
  value: Float64Array;
  /** Qualifier columns by name, in input column order, read as text. */
  qualifiers: Map<string, TextColumn>;
  /** The weight column, numeric (NaN where not a number until validate_and_fix sets those to 0). */
  weight?: { name: string; values: Float64Array };
  /** Every column name in input order (what raw.csv writes, minus `feature`). */
  columns: string[];
}

export function textColumn(values: string[], codes: Int32Array): TextColumn {
  return { values, codes };
}

/** The text at row `i`, or null. */
export function textAt(column: TextColumn, i: number): string | null {
  const c = column.codes[i];
  return c < 0 ? null : column.values[c];
}

/** Keep the rows whose index is listed in `keep` (ascending), in that order. */
export function selectRows(frame: DojoFrame, keep: Int32Array): DojoFrame {
  const pickF = (a: Float64Array) => {
    const out = new Float64Array(keep.length);
    for (let j = 0; j < keep.length; j++) out[j] = a[keep[j]];
    return out;
  };
  const pickT = (t: TextColumn): TextColumn => {
    const out = new Int32Array(keep.length);
    for (let j = 0; j < keep.length; j++) out[j] = t.codes[keep[j]];
    return { values: t.values, codes: out };
  };
  const regions: Partial<Record<RegionLevel, TextColumn>> = {};
  for (const level of REGION_LEVELS) {
    const col = frame.regions[level];
    if (col) regions[level] = pickT(col);
  }
  const qualifiers = new Map<string, TextColumn>();
  for (const [name, col] of frame.qualifiers) qualifiers.set(name, pickT(col));
  return {
    rows: keep.length,
    timestamp: pickF(frame.timestamp),
    feature: pickT(frame.feature),
    regions,
    lat: frame.lat && pickF(frame.lat),
    lng: frame.lng && pickF(frame.lng),
    value: pickF(frame.value),
    qualifiers,
    weight: frame.weight && { name: frame.weight.name, values: pickF(frame.weight.values) },
    columns: frame.columns,
  };
}
