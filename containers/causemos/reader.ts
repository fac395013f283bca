import type { DuckDBConnection } from "@duckdb/node-api";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { type DojoFrame, REGION_LEVELS, type RegionLevel, type TextColumn } from "./frame.ts";

/**
 * Read one or many Dojo Parquet files into a {@link DojoFrame} with DuckDB: Parquet decoding, casts and
 * dictionary encoding run on DuckDB's threads; JavaScript receives typed arrays (numbers; NaN for null) and
 * dictionary codes (-1 for null) copied straight out of the result chunks.
 *
 * As the original `read_data`: files named `*_str.parquet.gzip` / `*_str.N.parquet.gzip` hold string-valued
 * outputs and are skipped; with several files, a column missing from one file is "" there; lat/lng that are
 * null or empty everywhere are dropped (no tiles then); zero rows is an error.
 */

export const STRING_FILE = /.*_str(.[0-9]+)?.parquet.gzip$/;
const NEEDED = ["timestamp", "feature", "value"] as const;
const NUMERIC_KINDS =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)/;

export interface ReadOptions {
  weightColumn?: string;
  /** DuckDB threads (default 2: a Cloud Run task of 2 vCPU). */
  threads?: number;
  /** Read only the rows of these features. */
  features?: string[];
}

export interface ReadResult {
  frame: DojoFrame;
  files: string[];
  skipped: string[];
}

export interface FileSchema {
  path: string;
  columns: Map<string, string>;
}

export const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
export const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Split off the string-valued files; fail when no numeric file is left. */
export function numericFiles(paths: readonly string[]): { files: string[]; skipped: string[] } {
  if (paths.length === 0) {
    throw new NonRetriableError("no data paths given", {
      field: "params.data_paths",
      fix: "list at least one Dojo Parquet file",
    });
  }
  const skipped = paths.filter((p) => STRING_FILE.test(p));
  const files = paths.filter((p) => !STRING_FILE.test(p));
  if (files.length === 0) {
    throw new NonRetriableError(
      `no numeric parquet files: all of ${paths.length} path(s) are string-valued (_str) outputs`,
      {
        field: "params.data_paths",
        fix: "include the model's numeric output files",
      },
    );
  }
  return { files, skipped };
}

export async function readDojo(paths: readonly string[], options: ReadOptions = {}): Promise<ReadResult> {
  const { files, skipped } = numericFiles(paths);
  // Loaded on use: the job's usual path reads Parquet itself, and loading DuckDB costs its start-up ~0.1 CPU-s.
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(":memory:", { threads: String(options.threads ?? 2) });
  const connection = await instance.connect();
  try {
    const schemas: FileSchema[] = [];
    for (const path of files) schemas.push(await describe(connection, path));
    const frame = await load(connection, schemas, options.weightColumn ?? "", options.features);
    return { frame, files, skipped };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export async function describe(connection: DuckDBConnection, path: string): Promise<FileSchema> {
  let rows: unknown[][];
  try {
    const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal(path)})`);
    rows = reader.getRows();
  } catch (err) {
    throw new NonRetriableError(`${path}: cannot be read as Parquet (${firstLine(err)})`, {
      field: "params.data_paths",
      fix: "point data_paths at Dojo Parquet output files",
      cause: err,
    });
  }
  const columns = new Map<string, string>();
  for (const row of rows) columns.set(String(row[0]), String(row[1]));
  for (const need of NEEDED) {
    if (!columns.has(need)) {
      throw new NonRetriableError(
        `${path}: required column "${need}" is missing (columns: ${[...columns.keys()].join(", ")})`,
        {
          field: need,
          fix: `Dojo output must have the columns ${NEEDED.join(", ")} (plus country, admin1-3, lat, lng)`,
        },
      );
    }
  }
  return { path, columns };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

export interface Source {
  columns: string[];
  textNames: string[];
  numeric: { name: string; as: "double" | "timestamp" }[];
  hasLat: boolean;
  hasWeight: boolean;
  dicts: string[][];
  required: Set<string>;
}

/**
 * Create the view `src` over the files (numeric columns n0.., text columns t0.., `rn` = a row number in input
 * order) and an ENUM type e<k> per text column holding its sorted distinct values.
 */
export async function prepareSource(
  connection: DuckDBConnection,
  schemas: FileSchema[],
  weightColumn: string,
  features?: string[],
): Promise<Source> {
  // Column order: the first file's order, then extra columns of later files in order of appearance.
  const columns: string[] = [];
  for (const s of schemas) for (const c of s.columns.keys()) if (!columns.includes(c)) columns.push(c);
  const required = new Set<string>([
    "timestamp",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "lat",
    "lng",
    "feature",
    "value",
  ]);
  const multi = schemas.length > 1;

  const exprFor = (s: FileSchema, name: string, as: "double" | "text" | "timestamp"): string => {
    const type = s.columns.get(name);
    if (type === undefined) {
      // Missing in this file: the original adds "" for extra columns when combining files, null otherwise.
      if (as === "text") return multi && !required.has(name) ? "''" : "NULL::VARCHAR";
      return "NULL::DOUBLE";
    }
    const col = quote(name);
    if (as === "text") return `CAST(${col} AS VARCHAR)`;
    if (as === "timestamp") {
      if (/^TIMESTAMP|^DATE/.test(type)) return `CAST(epoch_ms(CAST(${col} AS TIMESTAMP)) AS DOUBLE)`;
      if (NUMERIC_KINDS.test(type)) return `CAST(${col} AS DOUBLE)`;
      return `TRY_CAST(${col} AS DOUBLE)`;
    }
    return `TRY_CAST(${col} AS DOUBLE)`;
  };

  const textNames = columns.filter(
    (c) => c !== "timestamp" && c !== "value" && c !== "lat" && c !== "lng" && c !== weightColumn,
  );
  for (const level of REGION_LEVELS) if (!textNames.includes(level)) textNames.push(level);
  const hasLat = columns.includes("lat") && columns.includes("lng");
  const numeric: { name: string; as: "double" | "timestamp" }[] = [
    { name: "timestamp", as: "timestamp" },
    { name: "value", as: "double" },
  ];
  if (hasLat) numeric.push({ name: "lat", as: "double" }, { name: "lng", as: "double" });
  const hasWeight = weightColumn !== "" && columns.includes(weightColumn);
  if (hasWeight) numeric.push({ name: weightColumn, as: "double" });

  // A value column that is text (not a number) is bad input: the original's astype(float64) raises.
  for (const s of schemas) {
    const t = s.columns.get("value") as string;
    if (!NUMERIC_KINDS.test(t) && t !== "NULL") {
      const bad = await connection.runAndReadAll(
        `SELECT CAST(value AS VARCHAR) FROM read_parquet(${literal(s.path)}) WHERE value IS NOT NULL AND TRY_CAST(value AS DOUBLE) IS NULL LIMIT 1`,
      );
      const example = bad.getRows()[0]?.[0];
      if (example !== undefined) {
        throw new NonRetriableError(
          `${s.path}: column "value" is ${t} and holds a non-numeric value ("${String(example)}")`,
          {
            field: "value",
            fix: "string-valued outputs belong in *_str.parquet.gzip files, which the pipeline skips",
          },
        );
      }
    }
  }

  const union = schemas
    .map((s, fileIndex) => {
      const parts = [
        ...numeric.map((n, k) => `${exprFor(s, n.name, n.as)} AS n${k}`),
        ...textNames.map((t, k) => `${exprFor(s, t, "text")} AS t${k}`),
      ];
      return `SELECT ${parts.join(", ")}, (${fileIndex}::BIGINT * 1099511627776 + file_row_number) AS rn FROM read_parquet(${literal(s.path)}, file_row_number = true)`;
    })
    .join(" UNION ALL ");
  const featureCol = `t${textNames.indexOf("feature")}`;
  const where = features
    ? ` WHERE ${featureCol} IN (${features.length > 0 ? features.map(literal).join(", ") : "NULL"})`
    : "";
  await connection.run(`CREATE TEMP VIEW src AS SELECT * FROM (${union})${where}`);

  // Dictionaries of every text column in one scan, then ENUM types from them, so the main scan returns small
  // integer codes instead of strings.
  const distinct = await connection.runAndReadAll(
    `SELECT ${textNames.map((_, k) => `list_sort(list_distinct(list(DISTINCT t${k})))`).join(", ")} FROM src`,
  );
  const dicts: string[][] = (distinct.getRows()[0] ?? []).map((cell) =>
    cell === null ? [] : ((cell as { items: unknown[] }).items ?? []).map((v) => String(v)),
  );
  for (let k = 0; k < textNames.length; k++) {
    if (dicts[k].length > 0)
      await connection.run(`CREATE TYPE e${k} AS ENUM (${dicts[k].map(literal).join(", ")})`);
  }
  return { columns, textNames, numeric, hasLat, hasWeight, dicts, required };
}

/** The integer code of text column k (-1 for null). */
export function codeExpr(source: Source, k: number): string {
  return source.dicts[k].length === 0
    ? "-1"
    : `coalesce(CAST(enum_code(CAST(t${k} AS e${k})) AS INTEGER), -1)`;
}

async function load(
  connection: DuckDBConnection,
  schemas: FileSchema[],
  weightColumn: string,
  features?: string[],
): Promise<DojoFrame> {
  const { columns, textNames, numeric, hasLat, hasWeight, dicts, required } = await prepareSource(
    connection,
    schemas,
    weightColumn,
    features,
  );

  const select = [
    ...numeric.map((_, k) => `coalesce(n${k}, 'NaN'::DOUBLE) AS n${k}`),
    ...textNames.map(
      (_, k) =>
        `${dicts[k].length === 0 ? "-1" : `coalesce(CAST(enum_code(CAST(t${k} AS e${k})) AS INTEGER), -1)`} AS t${k}`,
    ),
  ].join(", ");
  // Streamed chunk by chunk (2,048 rows each) so DuckDB never holds the whole result: memory stays at the
  // typed arrays. A materialized result read synchronously was no faster and doubled the peak.
  const total = Number((await connection.runAndReadAll("SELECT count(*) FROM src")).getRows()[0][0]);
  if (total === 0) {
    throw new NonRetriableError(`the data have no rows (${schemas.map((s) => s.path).join(", ")})`, {
      field: "params.data_paths",
      fix: "check that Dojo wrote the run's output before requesting processing",
    });
  }
  const nums = numeric.map(() => new Float64Array(total));
  const codes = textNames.map(() => new Int32Array(total));
  const result = await connection.stream(`SELECT ${select} FROM src`);
  let offset = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const size = chunk.rowCount;
    for (let k = 0; k < nums.length; k++) copyInto(nums[k], offset, chunk.getColumnVector(k), size);
    for (let k = 0; k < codes.length; k++)
      copyInto(codes[k], offset, chunk.getColumnVector(nums.length + k), size);
    offset += size;
  }
  if (offset !== total) throw new Error(`read ${offset} rows, expected ${total}`);

  const text = (name: string): TextColumn => {
    const k = textNames.indexOf(name);
    return { values: dicts[k], codes: codes[k] };
  };
  const regions: Partial<Record<RegionLevel, TextColumn>> = {};
  for (const level of REGION_LEVELS) regions[level] = text(level);
  const qualifiers = new Map<string, TextColumn>();
  for (const name of textNames) if (!required.has(name)) qualifiers.set(name, text(name));
  const num = (name: string) => nums[numeric.findIndex((n) => n.name === name)];
  const outColumns = [...columns];
  for (const level of REGION_LEVELS) if (!outColumns.includes(level)) outColumns.push(level);
  return {
    rows: total,
    timestamp: num("timestamp"),
    value: num("value"),
    lat: hasLat ? num("lat") : undefined,
    lng: hasLat ? num("lng") : undefined,
    feature: text("feature"),
    regions,
    qualifiers,
    weight: hasWeight ? { name: weightColumn, values: num(weightColumn) } : undefined,
    columns: outColumns.filter((c) => hasLat || (c !== "lat" && c !== "lng")),
  };
}

/** Copy a result vector's values; uses the vector's typed array when it exposes one (all values are non-null here). */
function copyInto(target: Float64Array | Int32Array, offset: number, vector: unknown, size: number): void {
  const items = (vector as { items?: unknown }).items;
  if (items instanceof Float64Array || items instanceof Int32Array) {
    target.set(items.subarray(0, size) as never, offset);
    return;
  }
  const v = vector as { getItem(i: number): number | null };
  for (let i = 0; i < size; i++) target[offset + i] = v.getItem(i) ?? Number.NaN;
}
