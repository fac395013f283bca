import type { Row, Secrets, Warehouse } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { ModelFrame } from "./frame.ts";
import type { DataSource, JobConfig } from "./jobconfig.ts";

/**
 * Training data: rows from the warehouse or Snowflake, then the original app's preparation: upper-cased column
 * names, the date column found, rows of the config's country kept (when a COUNTRY column exists), duplicate
 * dates collapsed (numeric columns summed), sorted, numeric columns only (a non-numeric factor column becomes
 * its level codes).
 */

export interface SnowflakeOptions {
  account: string;
  username: string;
  authenticator: "SNOWFLAKE_JWT";
  privateKey: string;
  warehouse?: string;
  database?: string;
  schema?: string;
  role?: string;
  application: string;
}

/** The boundary snowflake-sdk sits behind (tests pass a fake; production `snowflakeSdkClient`). */
export interface SnowflakeClient {
  query(options: SnowflakeOptions, sql: string): Promise<Row[]>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$/;

/** The SQL a Snowflake source sends: the table read whole, or the query as given. */
export function snowflakeSql(source: Extract<DataSource, { kind: "snowflake" }>): string {
  if (source.query) return source.query.trim().replace(/;\s*$/, "");
  if (!source.table || !IDENT.test(source.table))
    throw new NonRetriableError(`source.table "${source.table}" is not a Snowflake table name`, {
      field: "source.table",
      fix: "give DB.SCHEMA.TABLE (letters, digits, _ and $)",
    });
  return `SELECT * FROM ${source.table}`;
}

/** Connection options: key-pair (JWT) auth with the private key from the secrets port. */
export async function snowflakeOptions(
  source: Extract<DataSource, { kind: "snowflake" }>,
  secrets: Secrets,
  env: Record<string, string | undefined>,
): Promise<SnowflakeOptions> {
  const account = source.account ?? env.SNOWFLAKE_ACCOUNT;
  const username = source.user ?? env.SNOWFLAKE_USER;
  if (!account || !username)
    throw new NonRetriableError("Snowflake source needs an account and a user", {
      field: account ? "source.user" : "source.account",
      fix: "set source.account/source.user or SNOWFLAKE_ACCOUNT/SNOWFLAKE_USER",
    });
  return {
    account,
    username,
    authenticator: "SNOWFLAKE_JWT",
    privateKey: await secrets.get("snowflake-private-key"),
    warehouse: source.warehouse ?? env.SNOWFLAKE_WAREHOUSE,
    database: source.database ?? env.SNOWFLAKE_DATABASE,
    schema: source.schema ?? env.SNOWFLAKE_SCHEMA,
    role: source.role ?? env.SNOWFLAKE_ROLE,
    application: "tessera-mmm",
  };
}

/** The production client on snowflake-sdk: connect, execute, destroy. */
export const snowflakeSdkClient: SnowflakeClient = {
  async query(options, sql) {
    const sdk = (await import("snowflake-sdk")).default;
    const connection = sdk.createConnection(options);
    await connection.connectAsync(() => {});
    try {
      return await new Promise<Row[]>((resolve, reject) => {
        connection.execute({
          sqlText: sql,
          complete: (err, _stmt, rows) => (err ? reject(err) : resolve((rows ?? []) as Row[])),
        });
      });
    } finally {
      await new Promise<void>((r) => connection.destroy(() => r()));
    }
  },
};

export interface SourceDeps {
  warehouse: Warehouse;
  secrets?: Secrets;
  snowflake?: SnowflakeClient;
  env?: Record<string, string | undefined>;
}

export async function readSourceRows(source: DataSource, deps: SourceDeps): Promise<Row[]> {
  if (source.kind === "warehouse") return deps.warehouse.query(`SELECT * FROM ${source.table}`);
  if (!deps.secrets)
    throw new NonRetriableError("a Snowflake source needs the secrets port", { field: "source.kind" });
  const options = await snowflakeOptions(source, deps.secrets, deps.env ?? {});
  return (deps.snowflake ?? snowflakeSdkClient).query(options, snowflakeSql(source));
}

const DATE_NAMES = ["DATE", "DS", "DAY", "WEEK", "PERIOD", "DT"];

function toDay(v: unknown): string | undefined {
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  if (v && typeof v === "object" && "toString" in v) v = String(v);
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}/.test(v)) return v.slice(0, 10);
  return undefined;
}

function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (v === null || v === undefined || v === "") return 0;
  const n = Number(v);
  return n;
}

/** A run the original app skips (writes SKIPPED with the reason and exits successfully), not a failure. */
export class SkipRun extends Error {
  override name = "SkipRun";
}

/**
 * The original's skip rules, on the prepared frame's window: the dependent variable missing or with at most one
 * distinct value, none of the paid_media_spends present, or all of them without variance.
 */
export function skipReason(f: ModelFrame, config: JobConfig): string | undefined {
  const end = config.end_date ?? f.dates[f.dates.length - 1];
  const idx = f.dates.flatMap((d, i) => (d >= config.start_date && d <= end ? [i] : []));
  const distinct = (c: Float64Array) => new Set(idx.map((i) => c[i])).size;
  const dep = f.columns[config.dep_var];
  if (!dep) return `dep_var ${config.dep_var} is not in the data`;
  if (distinct(dep) <= 1)
    return `dep_var ${config.dep_var} has ${distinct(dep)} distinct value(s) in the window`;
  const spends = config.paid_media_spends.filter((s) => f.columns[s]);
  if (spends.length === 0)
    return `none of the paid_media_spends (${config.paid_media_spends.join(", ")}) is in the data`;
  if (spends.every((s) => distinct(f.columns[s]) <= 1))
    return `every paid media spend (${spends.join(", ")}) is constant in the window`;
  return undefined;
}

/** Prepares source rows into a raw frame (all dates; the model window is applied by the model spec). */
export function prepareRows(rows: Row[], config: JobConfig): ModelFrame {
  const frame = rawFrame(rows, config);
  const skip = skipReason(frame, config);
  if (skip) throw new SkipRun(skip);
  checkFrame(frame, config);
  return frame;
}

/**
 * The original's preparation without the checks: upper-cased names, the date column, the country's rows,
 * duplicate dates summed, missing values as 0, resampling. Also what the workbench's review page shows.
 */
export function rawFrame(rows: Row[], config: JobConfig): ModelFrame {
  if (rows.length === 0)
    throw new NonRetriableError("the data source returned no rows", {
      field: "source",
      fix: "check the table/query",
    });
  const upper = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toUpperCase(), v])));
  const cols = Object.keys(upper[0]);
  const dateCol = cols.includes(config.date_var)
    ? config.date_var
    : DATE_NAMES.find((d) => cols.includes(d) && toDay(upper[0][d]));
  if (!dateCol)
    throw new NonRetriableError(`no date column: "${config.date_var}" is not among ${cols.join(", ")}`, {
      field: "date_var",
      fix: "name the date column in date_var",
    });
  let kept = upper;
  if (cols.includes("COUNTRY")) {
    kept = upper.filter((r) => String(r.COUNTRY).toLowerCase() === config.country);
    if (kept.length === 0)
      throw new NonRetriableError(`no rows for country "${config.country}"`, {
        field: "country",
        fix: "pick a country present in the data's COUNTRY column",
      });
  }
  const factors = new Set(config.factor_vars);
  const levels = new Map<string, Map<string, number>>();
  const byDate = new Map<string, Record<string, number>>();
  const numericCols = cols.filter((c) => c !== dateCol && c !== "COUNTRY");
  kept.forEach((r, i) => {
    const d = toDay(r[dateCol]);
    if (!d)
      throw new NonRetriableError(`row ${i + 1}: ${dateCol} "${String(r[dateCol])}" is not a date`, {
        field: dateCol,
      });
    const acc = byDate.get(d) ?? {};
    for (const c of numericCols) {
      let x = toNumber(r[c]);
      if (Number.isNaN(x)) {
        if (!factors.has(c)) continue;
        const l = levels.get(c) ?? new Map<string, number>();
        levels.set(c, l);
        const key = String(r[c]);
        if (!l.has(key)) l.set(key, l.size);
        x = l.get(key) as number;
      }
      // Duplicate dates are collapsed by summing (the original's per-date aggregation).
      acc[c] = (acc[c] ?? 0) + x;
    }
    byDate.set(d, acc);
  });
  let dates = [...byDate.keys()].sort();
  let columns: Record<string, Float64Array> = {};
  for (const c of numericCols) {
    const vals = dates.map((d) => byDate.get(d)?.[c]);
    if (vals.every((v) => v === undefined)) continue;
    columns[c] = Float64Array.from(vals, (v) => v ?? 0);
  }
  if (config.resample_freq !== "none")
    ({ dates, columns } = resample({ dates, columns }, config.resample_freq, config.column_agg_strategies));
  return { dates, columns };
}

/** Every mapped variable is a numeric column, and enough dates fall in the window. */
export function checkFrame({ dates, columns }: ModelFrame, config: JobConfig): void {
  const needed = [
    config.dep_var,
    ...config.paid_media_spends,
    ...(config.paid_media_vars ?? []),
    ...config.context_vars,
    ...config.organic_vars,
  ];
  for (const n of needed)
    if (!columns[n])
      throw new NonRetriableError(
        `the data has no numeric column "${n}" (columns: ${Object.keys(columns).join(", ")})`,
        {
          field: n === config.dep_var ? "dep_var" : "paid_media_spends",
          fix: "map the config's variables to the data's columns",
        },
      );
  const end = config.end_date ?? dates[dates.length - 1];
  const inWindow = dates.filter((d) => d >= config.start_date && d <= end).length;
  if (inWindow < 10)
    throw new NonRetriableError(`only ${inWindow} dates fall in ${config.start_date}..${end}`, {
      field: "start_date",
      fix: "widen the date range",
    });
}

/** Monday of the date's ISO week (`W`) or the first of its month (`M`). */
export function periodStart(day: string, freq: "W" | "M"): string {
  if (freq === "M") return `${day.slice(0, 7)}-01`;
  const t = Date.parse(`${day}T00:00:00Z`);
  const dow = (new Date(t).getUTCDay() + 6) % 7;
  return new Date(t - dow * 86_400_000).toISOString().slice(0, 10);
}

/** Resamples to weeks or months: per column `sum` (default), `mean`, `max`, `min` or `last`. */
export function resample(
  f: ModelFrame,
  freq: "W" | "M",
  strategies: Record<string, "sum" | "mean" | "max" | "min" | "last">,
): ModelFrame {
  const groups = new Map<string, number[]>();
  f.dates.forEach((d, i) => {
    const k = periodStart(d, freq);
    const g = groups.get(k) ?? [];
    g.push(i);
    groups.set(k, g);
  });
  const dates = [...groups.keys()].sort();
  const columns: Record<string, Float64Array> = {};
  for (const [name, col] of Object.entries(f.columns)) {
    const how = strategies[name] ?? "sum";
    columns[name] = Float64Array.from(dates, (d) => {
      const xs = (groups.get(d) as number[]).map((i) => col[i]);
      if (how === "mean") return xs.reduce((a, b) => a + b, 0) / xs.length;
      if (how === "max") return Math.max(...xs);
      if (how === "min") return Math.min(...xs);
      if (how === "last") return xs[xs.length - 1];
      return xs.reduce((a, b) => a + b, 0);
    });
  }
  return { dates, columns };
}

/** Parses a CSV (the demo data) into rows, numbers where they parse. */
export function csvRows(text: string): Row[] {
  const lines = text.trim().split(/\r?\n/);
  const split = (l: string) => l.split(",").map((s) => s.replace(/^"|"$/g, ""));
  const head = split(lines[0]);
  return lines.slice(1).map((l) => {
    const v = split(l);
    return Object.fromEntries(
      head.map((h, i) => [h, v[i] !== "" && !Number.isNaN(Number(v[i])) ? Number(v[i]) : v[i]]),
    );
  });
}
