import {
  BIGINT,
  BLOB,
  BOOLEAN,
  blobValue,
  DATE,
  DECIMAL,
  DOUBLE,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  dateValue,
  decimalValue,
  LIST,
  listValue,
  STRUCT,
  structValue,
  TIMESTAMP,
  TIMESTAMPTZ,
  timestampTZValue,
  timestampValue,
  VARCHAR,
} from "@duckdb/node-api";
import { NonRetriableError } from "../../core/errors.ts";
import type { Column } from "../ports.ts";

/**
 * Values across the DuckDB boundary.
 *
 * In (rows and parameters): STRING <- string; INT64 <- integer number, bigint or digit string; FLOAT64 <-
 * number; NUMERIC <- number or decimal string (kept exact to 9 places); BOOL <- boolean; DATE <- `YYYY-MM-DD`
 * or Date; TIMESTAMP <- ISO string, Date or epoch milliseconds; DATETIME <- `YYYY-MM-DD[ T]HH:MM:SS[.ffffff]`;
 * JSON <- string or any value (stringified); BYTES <- Buffer/Uint8Array or base64 string (as BigQuery's
 * insertAll takes them); RECORD <- object; REPEATED <- array.
 *
 * Out (query results), plain JS like the BigQuery adapter returns: integers as numbers when within 2^53 and
 * as decimal strings beyond; NUMERIC as numbers; DATE as `YYYY-MM-DD`; TIMESTAMP as an ISO string with `Z`;
 * DATETIME as `YYYY-MM-DDTHH:MM:SS.sss`; BYTES as Buffer; JSON as its text; lists as arrays; structs as objects.
 */

const NUMERIC_SCALE = 9;

export function duckTypeOf(column: Column): DuckDBType {
  let base: DuckDBType;
  switch (column.type) {
    case "STRING":
    case "JSON":
      base = VARCHAR;
      break;
    case "INT64":
      base = BIGINT;
      break;
    case "FLOAT64":
      base = DOUBLE;
      break;
    case "NUMERIC":
      base = DECIMAL(38, NUMERIC_SCALE);
      break;
    case "BOOL":
      base = BOOLEAN;
      break;
    case "DATE":
      base = DATE;
      break;
    case "TIMESTAMP":
      base = TIMESTAMPTZ;
      break;
    case "DATETIME":
      base = TIMESTAMP;
      break;
    case "BYTES":
      base = BLOB;
      break;
    case "RECORD":
      base = STRUCT(Object.fromEntries((column.fields ?? []).map((f) => [f.name, duckTypeOf(f)])));
      break;
  }
  return column.mode === "REPEATED" ? LIST(base) : base;
}

/** Convert one cell for a column; `where` names it in errors (`dataset.table row 3 column x`). */
/** `where` may be a function so that the row/column label is only built when a value is bad. */
export type Where = string | (() => string);

const at = (where: Where): string => (typeof where === "function" ? where() : where);

export function toDuckValue(value: unknown, column: Column, where: Where): DuckDBValue {
  if (value === null || value === undefined) {
    if (column.mode === "REQUIRED") throw bad(where, "is REQUIRED but missing or null");
    return column.mode === "REPEATED" ? listValue([]) : null;
  }
  if (column.mode === "REPEATED") {
    if (!Array.isArray(value)) throw bad(where, `is REPEATED and needs an array, got ${describe(value)}`);
    return listValue(
      value.map((v, i) => {
        if (v === null || v === undefined)
          throw bad(`${where}[${i}]`, "is null; a REPEATED column cannot hold nulls");
        return scalar(v, column, `${where}[${i}]`);
      }),
    );
  }
  return scalar(value, column, where);
}

function scalar(value: unknown, column: Column, where: Where): DuckDBValue {
  switch (column.type) {
    case "STRING":
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean")
        return String(value);
      throw bad(where, `needs a string, got ${describe(value)}`);
    case "INT64": {
      if (typeof value === "bigint") return value;
      if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
      if (typeof value === "string" && /^-?\d{1,19}$/.test(value)) return BigInt(value);
      throw bad(where, `needs an integer, got ${describe(value)}`);
    }
    case "FLOAT64": {
      if (typeof value === "number") return value;
      if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value)))
        return Number(value);
      if (typeof value === "string" && /^(NaN|-?Infinity)$/.test(value)) return Number(value);
      throw bad(where, `needs a number, got ${describe(value)}`);
    }
    case "NUMERIC":
      return decimalValue(scaledDecimal(value, where), 38, NUMERIC_SCALE);
    case "BOOL":
      if (typeof value === "boolean") return value;
      throw bad(where, `needs true or false, got ${describe(value)}`);
    case "DATE":
      return dateValue(Math.round(dayMillis(value, where) / 86_400_000));
    case "TIMESTAMP":
      return timestampTZValue(instantMicros(value, where));
    case "DATETIME":
      return timestampValue(wallClockMicros(value, where));
    case "JSON":
      return typeof value === "string" ? value : JSON.stringify(value);
    case "BYTES":
      if (value instanceof Uint8Array) return blobValue(value);
      if (typeof value === "string") return blobValue(Buffer.from(value, "base64"));
      throw bad(where, `needs bytes (Buffer or base64 string), got ${describe(value)}`);
    case "RECORD": {
      if (typeof value !== "object" || Array.isArray(value))
        throw bad(where, `needs an object, got ${describe(value)}`);
      const fields = column.fields ?? [];
      const known = new Set(fields.map((f) => f.name));
      for (const k of Object.keys(value as object))
        if (!known.has(k)) throw bad(`${where}.${k}`, "is not a field of this RECORD");
      return structValue(
        Object.fromEntries(
          fields.map((f) => [
            f.name,
            toDuckValue((value as Record<string, unknown>)[f.name], f, () => `${at(where)}.${f.name}`),
          ]),
        ),
      );
    }
  }
}

/** A query parameter without a declared type: its DuckDB value and type, inferred like BigQuery does. */
export function paramValue(value: unknown, name: string): { value: DuckDBValue; type?: DuckDBType } {
  const where = `parameter @${name}`;
  if (value === null || value === undefined) return { value: null, type: VARCHAR };
  if (typeof value === "string") return { value, type: VARCHAR };
  if (typeof value === "boolean") return { value, type: BOOLEAN };
  if (typeof value === "bigint") return { value, type: BIGINT };
  if (typeof value === "number")
    return Number.isInteger(value) ? { value: BigInt(value), type: BIGINT } : { value, type: DOUBLE };
  if (value instanceof Date)
    return { value: timestampTZValue(instantMicros(value, where)), type: TIMESTAMPTZ };
  if (value instanceof Uint8Array) return { value: blobValue(value), type: BLOB };
  if (Array.isArray(value)) {
    const items = value.map((v, i) => paramValue(v, `${name}[${i}]`));
    const itemType = items.find((x) => x.value !== null)?.type ?? VARCHAR;
    return { value: listValue(items.map((x) => x.value)), type: LIST(itemType) };
  }
  throw new NonRetriableError(`${where} has an unsupported type (${describe(value)})`, {
    field: `params.${name}`,
    fix: "pass strings, numbers, bigints, booleans, Dates, Buffers or arrays of those",
  });
}

/** DuckDB result value -> plain JS, directed by its column type. */
export function fromDuckJs(value: unknown, type: DuckDBType): unknown {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM: {
      const b = value as bigint;
      return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(b)
        : b.toString();
    }
    case DuckDBTypeId.DATE:
      return value instanceof Date ? value.toISOString().slice(0, 10) : String(value);
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_NS:
      return value instanceof Date ? value.toISOString() : String(value);
    case DuckDBTypeId.TIMESTAMP:
      return value instanceof Date ? value.toISOString().slice(0, -1) : String(value);
    case DuckDBTypeId.BLOB:
      return Buffer.from(value as Uint8Array);
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const inner = (type as unknown as { valueType: DuckDBType }).valueType;
      return (value as unknown[]).map((v) => fromDuckJs(v, inner));
    }
    case DuckDBTypeId.STRUCT: {
      const t = type as unknown as { entryNames: readonly string[]; entryTypes: readonly DuckDBType[] };
      const obj = value as Record<string, unknown>;
      return Object.fromEntries(t.entryNames.map((n, i) => [n, fromDuckJs(obj[n], t.entryTypes[i])]));
    }
    default:
      return typeof value === "bigint" ? Number(value) : value;
  }
}

function scaledDecimal(value: unknown, where: Where): bigint {
  let text: string;
  if (typeof value === "number" && Number.isFinite(value)) text = value.toFixed(NUMERIC_SCALE);
  else if (typeof value === "bigint") text = value.toString();
  else if (typeof value === "string") text = value.trim();
  else throw bad(where, `needs a decimal number or string, got ${describe(value)}`);
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) throw bad(where, `needs a decimal number, got "${text}"`);
  const frac = (m[3] ?? "").padEnd(NUMERIC_SCALE, "0");
  if (frac.length > NUMERIC_SCALE && /[1-9]/.test(frac.slice(NUMERIC_SCALE)))
    throw bad(where, `has more than ${NUMERIC_SCALE} decimal places`);
  const digits = BigInt(`${m[2] || "0"}${frac.slice(0, NUMERIC_SCALE)}`);
  if (digits >= 10n ** 38n) throw bad(where, "is too large for NUMERIC");
  return m[1] === "-" ? -digits : digits;
}

function dayMillis(value: unknown, where: Where): number {
  if (value instanceof Date && !Number.isNaN(value.getTime())) {
    return Date.UTC(value.getUTCFullYear(), value.getUTCMonth(), value.getUTCDate());
  }
  if (typeof value === "string") {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (m) {
      const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
      if (new Date(ms).toISOString().slice(0, 10) === value) return ms;
    }
  }
  throw bad(where, `needs a date as YYYY-MM-DD, got ${describe(value)}`);
}

function instantMicros(value: unknown, where: Where): bigint {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return BigInt(value.getTime()) * 1000n;
  if (typeof value === "number" && Number.isFinite(value)) return BigInt(Math.round(value)) * 1000n;
  if (typeof value === "string") {
    const micros = isoMicros(value, true);
    if (micros !== undefined) return micros;
  }
  throw bad(
    where,
    `needs a timestamp (ISO 8601 with a zone, a Date or epoch milliseconds), got ${describe(value)}`,
  );
}

function wallClockMicros(value: unknown, where: Where): bigint {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return BigInt(value.getTime()) * 1000n;
  if (typeof value === "string") {
    const micros = isoMicros(value, false);
    if (micros !== undefined) return micros;
  }
  throw bad(where, `needs a datetime as YYYY-MM-DD HH:MM:SS[.ffffff], got ${describe(value)}`);
}

/** Microseconds of `YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]][Z|±HH:MM]` (no zone = UTC); keeps microseconds. */
function isoMicros(text: string, zoneAllowed: boolean): bigint | undefined {
  const m =
    /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/i.exec(
      text.trim(),
    );
  if (!m || (m[6] && !zoneAllowed)) return undefined;
  const base = Date.parse(`${m[1]}T${m[2] ?? "00"}:${m[3] ?? "00"}:${m[4] ?? "00"}Z`);
  if (Number.isNaN(base)) return undefined;
  let offsetMinutes = 0;
  if (m[6] && !/^(Z|UTC)$/i.test(m[6])) {
    const z = m[6].replace(":", "");
    offsetMinutes = (z[0] === "-" ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
  }
  const frac = BigInt((m[5] ?? "").padEnd(6, "0").slice(0, 6));
  return BigInt(base - offsetMinutes * 60_000) * 1000n + frac;
}

function bad(where: Where, problem: string): NonRetriableError {
  const label = at(where);
  return new NonRetriableError(`${label} ${problem}`, { field: label });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a Date";
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}...` : value}"`;
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}
