import { NonRetriableError } from "../../core/errors.ts";
import type { Column, ColumnType, TableRef, TableSchema } from "../ports.ts";

/**
 * The pieces both warehouse adapters share: identifier checks (table, dataset and column names are never
 * taken from input unchecked: they must match a strict pattern, and values always travel as parameters),
 * BigQuery -> DuckDB SQL translation, and column type mapping.
 */

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,299}$/;
const PROJECT = /^[a-z][a-z0-9-]{4,61}[a-z0-9]$|^[a-z0-9.:-]{1,100}$/;

export function checkIdentifier(name: string, what: string): string {
  if (typeof name !== "string" || !IDENT.test(name)) {
    throw new NonRetriableError(`${what} "${String(name)}" is not a valid identifier`, {
      field: what,
      fix: "use letters, digits and underscores, starting with a letter or underscore (at most 300 characters)",
    });
  }
  return name;
}

export function checkTableRef(ref: TableRef): TableRef {
  checkIdentifier(ref.dataset, "dataset");
  checkIdentifier(ref.table, "table");
  if (ref.project !== undefined && !PROJECT.test(ref.project)) {
    throw new NonRetriableError(`project "${ref.project}" is not a valid project id`, { field: "project" });
  }
  return ref;
}

/** `"name"`, after the identifier check (so no quote can appear inside). */
export function quote(name: string, what = "identifier"): string {
  return `"${checkIdentifier(name, what)}"`;
}

export function qualified(ref: TableRef): string {
  checkTableRef(ref);
  return `${quote(ref.dataset, "dataset")}.${quote(ref.table, "table")}`;
}

export function describeRef(ref: TableRef): string {
  return `${ref.project ? `${ref.project}.` : ""}${ref.dataset}.${ref.table}`;
}

/** Check a schema's column names and types recursively; returns it. */
export function checkSchema(schema: TableSchema, ref: TableRef): TableSchema {
  if (!schema || !Array.isArray(schema.columns) || schema.columns.length === 0) {
    throw new NonRetriableError(`schema of ${describeRef(ref)} has no columns`, { field: "schema.columns" });
  }
  const walk = (columns: Column[], path: string) => {
    const seen = new Set<string>();
    for (const c of columns) {
      checkIdentifier(c.name, `${path}column`);
      const lower = c.name.toLowerCase();
      if (seen.has(lower))
        throw new NonRetriableError(`column ${path}${c.name} appears twice in ${describeRef(ref)}`, {
          field: "schema.columns",
        });
      seen.add(lower);
      if (!COLUMN_TYPES.has(c.type)) {
        throw new NonRetriableError(
          `column ${path}${c.name} of ${describeRef(ref)} has unknown type "${c.type}"`,
          {
            field: `schema.columns.${c.name}.type`,
            fix: `use one of ${[...COLUMN_TYPES].join(", ")}`,
          },
        );
      }
      if (c.type === "RECORD") {
        if (!c.fields?.length)
          throw new NonRetriableError(`RECORD column ${path}${c.name} has no fields`, {
            field: `schema.columns.${c.name}.fields`,
          });
        walk(c.fields, `${path}${c.name}.`);
      }
    }
  };
  walk(schema.columns, "");
  const names = new Set(schema.columns.map((c) => c.name));
  if (schema.partitionBy !== undefined) {
    const col = schema.columns.find((c) => c.name === schema.partitionBy);
    if (!col || !["DATE", "TIMESTAMP", "DATETIME"].includes(col.type) || col.mode === "REPEATED") {
      throw new NonRetriableError(
        `partitionBy "${schema.partitionBy}" of ${describeRef(ref)} must name a DATE, TIMESTAMP or DATETIME column`,
        {
          field: "schema.partitionBy",
        },
      );
    }
  }
  for (const c of schema.clusterBy ?? []) {
    if (!names.has(c))
      throw new NonRetriableError(`clusterBy "${c}" of ${describeRef(ref)} is not a column`, {
        field: "schema.clusterBy",
      });
  }
  return schema;
}

export const COLUMN_TYPES = new Set<ColumnType>([
  "STRING",
  "INT64",
  "FLOAT64",
  "NUMERIC",
  "BOOL",
  "DATE",
  "TIMESTAMP",
  "DATETIME",
  "JSON",
  "BYTES",
  "RECORD",
]);

const DUCK_TYPE: Record<Exclude<ColumnType, "RECORD">, string> = {
  STRING: "VARCHAR",
  INT64: "BIGINT",
  FLOAT64: "DOUBLE",
  NUMERIC: "DECIMAL(38,9)",
  BOOL: "BOOLEAN",
  DATE: "DATE",
  // BigQuery's TIMESTAMP is an instant; DATETIME is a wall-clock time.
  TIMESTAMP: "TIMESTAMPTZ",
  DATETIME: "TIMESTAMP",
  JSON: "JSON",
  BYTES: "BLOB",
};

/** The DuckDB type of a column: REPEATED -> LIST (`T[]`), RECORD -> STRUCT. */
export function duckTypeSql(column: Column): string {
  const base =
    column.type === "RECORD"
      ? `STRUCT(${(column.fields ?? []).map((f) => `${quote(f.name, "column")} ${duckTypeSql(f)}`).join(", ")})`
      : DUCK_TYPE[column.type];
  return column.mode === "REPEATED" ? `${base}[]` : base;
}

/** Parse a DuckDB type string (as `duckdb_columns()` prints it) back into a column. */
export function columnFromDuckType(name: string, type: string, nullable: boolean): Column {
  const parsed = parseType(type.trim());
  const column: Column = { name, ...parsed };
  if (!nullable && column.mode !== "REPEATED") column.mode = "REQUIRED";
  return column;
}

function parseType(type: string): Omit<Column, "name"> {
  if (type.endsWith("[]")) {
    const inner = parseType(type.slice(0, -2));
    return { ...inner, mode: "REPEATED" };
  }
  const upper = type.toUpperCase();
  if (upper.startsWith("STRUCT(") && upper.endsWith(")")) {
    const fields = splitTopLevel(type.slice(7, -1)).map((entry) => {
      const m = /^\s*("(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_]*)\s+(.+)$/s.exec(entry);
      if (!m) throw new Error(`cannot parse STRUCT entry "${entry}"`);
      const fieldName = m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1];
      return { name: fieldName, ...parseType(m[2].trim()) } as Column;
    });
    return { type: "RECORD", fields };
  }
  const known: Record<string, ColumnType> = {
    VARCHAR: "STRING",
    BIGINT: "INT64",
    INTEGER: "INT64",
    SMALLINT: "INT64",
    TINYINT: "INT64",
    HUGEINT: "INT64",
    DOUBLE: "FLOAT64",
    FLOAT: "FLOAT64",
    BOOLEAN: "BOOL",
    DATE: "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    TIMESTAMPTZ: "TIMESTAMP",
    TIMESTAMP: "DATETIME",
    JSON: "JSON",
    BLOB: "BYTES",
  };
  if (upper.startsWith("DECIMAL")) return { type: "NUMERIC" };
  const hit = known[upper];
  if (!hit) throw new Error(`DuckDB type ${type} has no BigQuery column type`);
  return { type: hit };
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === "(") depth++;
    else if (!quoted && ch === ")") depth--;
    else if (!quoted && ch === "," && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.filter((x) => x.trim() !== "");
}

/** Compare two schemas' columns (names, types, modes; recursively). Returns the first difference. */
export function schemaDifference(want: Column[], have: Column[], path = ""): string | undefined {
  if (want.length !== have.length) {
    return `${path || "table"} has columns (${have.map((c) => c.name).join(", ")}), expected (${want.map((c) => c.name).join(", ")})`;
  }
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const h = have[i];
    const where = `${path}${w.name}`;
    if (w.name !== h.name) return `column ${i + 1} is ${path}${h.name}, expected ${where}`;
    if (w.type !== h.type) return `column ${where} is ${h.type}, expected ${w.type}`;
    if ((w.mode ?? "NULLABLE") !== (h.mode ?? "NULLABLE"))
      return `column ${where} is ${h.mode ?? "NULLABLE"}, expected ${w.mode ?? "NULLABLE"}`;
    if (w.type === "RECORD") {
      const d = schemaDifference(w.fields ?? [], h.fields ?? [], `${where}.`);
      if (d) return d;
    }
  }
  return undefined;
}

/**
 * BigQuery SQL -> DuckDB SQL: `@name` parameters become `$name`; backtick-quoted `project.dataset.table` and
 * `dataset.table` become `"dataset"."table"`; `SAFE_CAST` becomes `TRY_CAST`; the BigQuery type names DuckDB
 * lacks (`FLOAT64`, `BYTES`, and `NUMERIC` with BigQuery's precision) are renamed after `AS`;
 * `x IN UNNEST(@list)` becomes `x IN (SELECT UNNEST($list))`. String
 * literals, quoted identifiers and comments are left alone. Anything else must already be common SQL.
 */
export function translateSql(sql: string): { sql: string; params: string[] } {
  let out = "";
  const params: string[] = [];
  // `x IN UNNEST(list)` becomes `x IN (SELECT UNNEST(list))`: the depths whose ")" needs one more.
  const unnestDepths: number[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i];
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      const end = closing(sql, i, ch);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      const stop = end < 0 ? n : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === "#") {
      // BigQuery also accepts # line comments; DuckDB does not.
      const end = sql.indexOf("\n", i);
      const stop = end < 0 ? n : end;
      out += `--${sql.slice(i + 1, stop)}`;
      i = stop;
    } else if (ch === "/" && next === "*") {
      const end = sql.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === "`") {
      const end = sql.indexOf("`", i + 1);
      if (end < 0) throw new NonRetriableError("unterminated backtick identifier in SQL", { field: "sql" });
      const parts = sql.slice(i + 1, end).split(".");
      if (parts.length > 3 || parts.some((p) => p === "")) {
        throw new NonRetriableError(
          `backtick name \`${sql.slice(i + 1, end)}\` is not [project.]dataset.table`,
          { field: "sql" },
        );
      }
      const kept = parts.length === 3 ? parts.slice(1) : parts;
      out += kept.map((p) => quote(p, "name")).join(".");
      i = end + 1;
    } else if (ch === "@" && /[A-Za-z_]/.test(next ?? "") && !/[A-Za-z0-9_@$]/.test(sql[i - 1] ?? "")) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      const name = sql.slice(i + 1, j);
      if (!params.includes(name)) params.push(name);
      out += `$${name}`;
      i = j;
    } else if (/[A-Za-z_]/.test(ch) && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? "")) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      const word = sql.slice(i, j);
      const upper = word.toUpperCase();
      if (upper === "SAFE_CAST") out += "TRY_CAST";
      else if (upper === "UNNEST" && /\bIN\s+$/i.test(out) && /^\s*\(/.test(sql.slice(j))) {
        out += "(SELECT UNNEST";
        unnestDepths.push(depth);
      } else if (/\bAS\s+$/i.test(out) && TYPE_RENAMES[upper]) out += TYPE_RENAMES[upper];
      else out += word;
      i = j;
    } else {
      if (ch === "(") depth++;
      out += ch;
      if (ch === ")") {
        depth--;
        if (unnestDepths.at(-1) === depth) {
          unnestDepths.pop();
          out += ")";
        }
      }
      i++;
    }
  }
  return { sql: out, params };
}

const TYPE_RENAMES: Record<string, string> = {
  FLOAT64: "DOUBLE",
  BYTES: "BLOB",
  NUMERIC: "DECIMAL(38,9)",
  BIGNUMERIC: "DECIMAL(38,9)",
  INT64: "BIGINT",
  STRING: "VARCHAR",
  BOOL: "BOOLEAN",
};

function closing(sql: string, start: number, q: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === "\\" && q === "'") {
      i += 2;
      continue;
    }
    if (sql[i] === q) {
      if (sql[i + 1] === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  throw new NonRetriableError(`unterminated ${q === "'" ? "string literal" : "quoted identifier"} in SQL`, {
    field: "sql",
  });
}

/**
 * Check rows against a table's columns before they leave the process (the BigQuery adapter; the DuckDB adapter
 * checks while converting): unknown columns, missing REQUIRED values and values of the wrong kind, each
 * reported as a NonRetriableError naming the row and column.
 */
export function checkRows(ref: TableRef, schema: TableSchema, rows: unknown[]): void {
  if (!Array.isArray(rows))
    throw new NonRetriableError(`rows for ${describeRef(ref)} must be an array`, { field: "rows" });
  rows.forEach((row, i) => {
    const where = `${describeRef(ref)} row ${i}`;
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      throw new NonRetriableError(`${where} is not an object`, { field: `rows[${i}]` });
    }
    checkObject(row as Record<string, unknown>, schema.columns, where, `rows[${i}]`);
  });
}

function checkObject(obj: Record<string, unknown>, columns: Column[], where: string, field: string): void {
  const known = new Set(columns.map((c) => c.name));
  for (const k of Object.keys(obj)) {
    if (!known.has(k)) {
      throw new NonRetriableError(`${where} has column "${k}", which the table does not have`, {
        field: `${field}.${k}`,
        fix: `use the table's columns: ${[...known].join(", ")}`,
      });
    }
  }
  for (const c of columns) {
    const v = obj[c.name];
    const at = `${where} column ${c.name}`;
    if (v === null || v === undefined) {
      if (c.mode === "REQUIRED")
        throw new NonRetriableError(`${at} is REQUIRED but missing or null`, { field: `${field}.${c.name}` });
      continue;
    }
    if (c.mode === "REPEATED") {
      if (!Array.isArray(v))
        throw new NonRetriableError(`${at} is REPEATED and needs an array`, { field: `${field}.${c.name}` });
      v.forEach((x, j) => {
        checkCell(x, c, `${at}[${j}]`, `${field}.${c.name}[${j}]`);
      });
    } else {
      checkCell(v, c, at, `${field}.${c.name}`);
    }
  }
}

function checkCell(v: unknown, c: Column, at: string, field: string): void {
  const fail = (need: string) => {
    throw new NonRetriableError(`${at} needs ${need}, got ${JSON.stringify(v) ?? typeof v}`, { field });
  };
  switch (c.type) {
    case "INT64":
      if (
        !(
          typeof v === "bigint" ||
          (typeof v === "number" && Number.isInteger(v)) ||
          (typeof v === "string" && /^-?\d{1,19}$/.test(v))
        )
      )
        fail("an integer");
      break;
    case "FLOAT64":
    case "NUMERIC":
      if (!(typeof v === "number" || (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v)))))
        fail("a number");
      break;
    case "BOOL":
      if (typeof v !== "boolean") fail("true or false");
      break;
    case "DATE":
      if (!(v instanceof Date || (typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v))))
        fail("a date as YYYY-MM-DD");
      break;
    case "TIMESTAMP":
    case "DATETIME":
      if (
        !(
          v instanceof Date ||
          typeof v === "number" ||
          (typeof v === "string" && !Number.isNaN(Date.parse(v.replace(" ", "T"))))
        )
      )
        fail("a timestamp");
      break;
    case "STRING":
      if (!["string", "number", "bigint", "boolean"].includes(typeof v)) fail("a string");
      break;
    case "BYTES":
      if (!(v instanceof Uint8Array || typeof v === "string")) fail("bytes (Buffer or base64 string)");
      break;
    case "RECORD":
      if (typeof v !== "object" || Array.isArray(v)) fail("an object");
      checkObject(v as Record<string, unknown>, c.fields ?? [], at, field);
      break;
    case "JSON":
      break;
  }
}

/**
 * `ensureTable` on an existing table: its columns and partitioning must be the ones asked for, or the call
 * fails with the difference (a schema change is a migration, never a silent overwrite).
 */
export function assertSameSchema(ref: TableRef, want: TableSchema, have: TableSchema, fix: string): void {
  const diff = schemaDifference(want.columns, have.columns);
  const metaDiff =
    (want.partitionBy ?? "") !== (have.partitionBy ?? "")
      ? `partitioned by ${have.partitionBy ?? "nothing"}, expected ${want.partitionBy ?? "nothing"}`
      : undefined;
  if (diff || metaDiff) {
    throw new NonRetriableError(`table ${describeRef(ref)} exists with another schema: ${diff ?? metaDiff}`, {
      field: "schema",
      fix,
    });
  }
}
