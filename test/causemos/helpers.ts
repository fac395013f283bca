import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { DojoFrame, TextColumn } from "../../containers/causemos/frame.ts";
import { REGION_LEVELS } from "../../containers/causemos/frame.ts";

/** One Dojo row as a test writes it; extra keys are qualifier columns (text). */
export interface Row {
  timestamp: number | null;
  country?: string | null;
  admin1?: string | null;
  admin2?: string | null;
  admin3?: string | null;
  lat?: number | null;
  lng?: number | null;
  feature: string;
  value: number | null;
  [qualifier: string]: string | number | null | undefined;
}

const BASE = ["timestamp", "country", "admin1", "admin2", "admin3", "lat", "lng", "feature", "value"];

/** Build a frame from row objects; `weight` names a numeric column. */
export function frameFromRows(rows: Row[], weight?: string): DojoFrame {
  const extra: string[] = [];
  for (const r of rows)
    for (const k of Object.keys(r)) if (!BASE.includes(k) && !extra.includes(k)) extra.push(k);
  const text = (name: string): TextColumn => {
    const values: string[] = [];
    const codes = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      const v = r[name];
      if (v === null || v === undefined) codes[i] = -1;
      else {
        let k = values.indexOf(String(v));
        if (k < 0) k = values.push(String(v)) - 1;
        codes[i] = k;
      }
    });
    return { values, codes };
  };
  const num = (name: string) =>
    Float64Array.from(rows, (r) =>
      r[name] === null || r[name] === undefined ? Number.NaN : Number(r[name]),
    );
  const qualifiers = new Map<string, TextColumn>();
  for (const q of extra) if (q !== weight) qualifiers.set(q, text(q));
  return {
    rows: rows.length,
    timestamp: num("timestamp"),
    feature: text("feature"),
    regions: Object.fromEntries(REGION_LEVELS.map((l) => [l, text(l)])),
    lat: num("lat"),
    lng: num("lng"),
    value: num("value"),
    qualifiers,
    weight: weight ? { name: weight, values: num(weight) } : undefined,
    columns: [...BASE, ...extra],
  };
}

export function tempDir(prefix = "causemos-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Write the result of a DuckDB SELECT as a Parquet file (`options`: more COPY options, e.g. ROW_GROUP_SIZE 100). */
export async function writeParquetSql(path: string, select: string, options = ""): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    await connection.run(
      `COPY (${select}) TO '${path.replaceAll("'", "''")}' (FORMAT parquet${options ? `, ${options}` : ""})`,
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The centre of a slippy-map tile, for placing test points in a known cell. */
export function tileCentre(z: number, x: number, y: number): { lat: number; lng: number } {
  const n = 2 ** z;
  const lng = ((x + 0.5) / n) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (y + 0.5)) / n))) * 180) / Math.PI;
  return { lat, lng };
}

/** Python's float repr for the numbers the golden tests use. */
export function py(x: number): string {
  if (Number.isNaN(x)) return "";
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}
