import type { Column, Row } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import {
  DATA_SOURCES,
  type DataSource,
  daysBetween,
  METRIC_COLUMNS,
  VALIDATION_COUNTRIES,
} from "./config.ts";
import { QUERY_SPECS, type QuerySpec, trainingDateIndex } from "./queries.ts";
import { KEY_COLUMNS, OUTPUT_COLUMNS } from "./tables.ts";

/**
 * Every rule of the original's `validate_output_dataframe`. A failure names the rule, the column and an
 * example row; `validateOutput` throws on the first rule that fails, so nothing is published.
 */
export interface ValidationContext {
  forecastStartDate: string;
  trainingEndDate: string;
  forecastEndDate: string;
  testingMode: boolean;
  /** The query specs that ran (testing mode: Desktop Glean DAU only). */
  specs?: readonly QuerySpec[];
  /** The destination table's schema; default the declared output schema. */
  schema?: Column[];
}

export interface RuleFailure {
  rule: string;
  column: string;
  message: string;
  example?: Row;
}

export class ValidationError extends NonRetriableError {
  readonly failures: RuleFailure[];
  constructor(failures: RuleFailure[]) {
    const f = failures[0];
    super(
      `validation failed: rule ${f.rule}, column ${f.column}: ${f.message}${f.example ? `; example row ${JSON.stringify(f.example)}` : ""}${failures.length > 1 ? ` (and ${failures.length - 1} more rule(s))` : ""}`,
      { field: f.column, fix: "nothing was published; fix the forecast or its inputs and rerun the date" },
    );
    this.name = "ValidationError";
    this.failures = failures;
  }
}

export const APP_NAMES = [
  "firefox_ios",
  "focus_ios",
  "fenix_android",
  "focus_android",
  "desktop",
  "ALL MOBILE",
];
const OPTIONAL_APP_NAMES = ["other_mobile"];
export const OS_VALUES = ["win10", "win11", "winX", "other", "ALL"];
const DATA_TYPES = ["training", "forecast"];
export const MAX_ROWS_PER_DATE = 27 * 6 * 3 * 6;

const TYPE_OK: Record<string, (v: unknown) => boolean> = {
  STRING: (v) => typeof v === "string",
  JSON: (v) => typeof v === "string",
  BYTES: (v) => typeof v === "string" || Buffer.isBuffer(v),
  FLOAT64: (v) => typeof v === "number",
  NUMERIC: (v) => typeof v === "number",
  INT64: (v) => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint",
  BOOL: (v) => typeof v === "boolean",
  DATE: (v) => v instanceof Date || (typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v)),
  TIMESTAMP: (v) => v instanceof Date || typeof v === "string",
  DATETIME: (v) => v instanceof Date || typeof v === "string",
};

const isDay = (v: unknown) =>
  typeof v === "string" &&
  /^\d{4}-\d{2}-\d{2}$/.test(v) &&
  new Date(`${v}T00:00:00Z`).toISOString().startsWith(v);

function firstBad(rows: Row[], bad: (r: Row) => boolean): Row | undefined {
  for (const r of rows) if (bad(r)) return r;
  return undefined;
}

/** The expected value sets for the sources in scope. */
function expectedSets(sources: DataSource[]) {
  const apps = new Set<string>();
  const segments = new Set<string>();
  for (const s of sources) {
    if (s === "glean_mobile") {
      for (const a of ["firefox_ios", "focus_ios", "fenix_android", "focus_android", "ALL MOBILE"])
        apps.add(a);
      segments.add("{}");
    } else {
      apps.add("desktop");
      for (const os of OS_VALUES) segments.add(JSON.stringify({ os }).replace('":"', '": "'));
    }
  }
  return { apps, segments, sources: new Set<string>(sources) };
}

export function checkOutput(rows: Row[], ctx: ValidationContext): RuleFailure[] {
  const failures: RuleFailure[] = [];
  const fail = (rule: string, column: string, message: string, example?: Row) =>
    failures.push({ rule, column, message, ...(example ? { example } : {}) });
  const specs = ctx.specs ?? QUERY_SPECS;
  const sources = [...new Set(specs.map((s) => s.source))];
  const schema = ctx.schema ?? OUTPUT_COLUMNS;

  if (rows.length === 0) {
    fail("non_empty", "*", "the output has no rows");
    return failures;
  }
  // schema: every column of the frame is in the table and vice versa, with a compatible type.
  const cols = new Set(Object.keys(rows[0]));
  for (const c of schema)
    if (!cols.has(c.name))
      fail("schema_columns", c.name, `column ${c.name} of the table is missing from the output`, rows[0]);
  for (const c of cols)
    if (!schema.some((s) => s.name === c))
      fail("schema_columns", c, `output column ${c} is not in the table`, rows[0]);
  for (const c of schema) {
    const ok = TYPE_OK[c.type];
    if (!ok || !cols.has(c.name)) continue;
    const bad = firstBad(rows, (r) => r[c.name] !== null && r[c.name] !== undefined && !ok(r[c.name]));
    if (bad) fail("schema_types", c.name, `value ${JSON.stringify(bad[c.name])} does not fit ${c.type}`, bad);
  }
  if (failures.length > 0) return failures;

  // string formats
  let bad = firstBad(rows, (r) => {
    const v = r.forecast_run_timestamp;
    return (
      typeof v !== "string" ||
      !(v.includes("T") || v.includes(" ")) ||
      Number.isNaN(Date.parse(v.replace(" ", "T")))
    );
  });
  if (bad)
    fail("timestamp_format", "forecast_run_timestamp", "must be an ISO date-time with 'T' or ' '", bad);
  bad = firstBad(rows, (r) => typeof r.mozaic_hash !== "string" || !/^[0-9a-fA-F]{40}$/.test(r.mozaic_hash));
  if (bad) fail("mozaic_hash_format", "mozaic_hash", "must be 40 hexadecimal characters", bad);
  const dayOk = new Map<unknown, boolean>();
  bad = firstBad(rows, (r) => {
    let ok = dayOk.get(r.target_date);
    if (ok === undefined) {
      ok = isDay(r.target_date);
      dayOk.set(r.target_date, ok);
    }
    return !ok;
  });
  if (bad) fail("target_date_format", "target_date", "must be a YYYY-MM-DD date with no time part", bad);
  const inSet = (rule: string, column: string, allowed: string[]) => {
    const set = new Set(allowed);
    const b = firstBad(rows, (r) => !set.has(r[column] as string));
    if (b) fail(rule, column, `${JSON.stringify(b[column])} is not one of ${allowed.join(", ")}`, b);
  };
  inSet("data_type_values", "data_type", DATA_TYPES);
  inSet("country_values", "country", [...VALIDATION_COUNTRIES]);
  inSet("app_name_values", "app_name", [...APP_NAMES, ...OPTIONAL_APP_NAMES]);
  inSet("data_source_values", "data_source", [...DATA_SOURCES]);
  // A full run has about a million rows but only a handful of distinct segments: parse each once.
  const segmentBad = new Map<string, boolean>();
  bad = firstBad(rows, (r) => {
    const text = String(r.segment);
    let verdict = segmentBad.get(text);
    if (verdict === undefined) {
      try {
        const j = JSON.parse(text);
        verdict =
          typeof j !== "object" ||
          j === null ||
          Array.isArray(j) ||
          (j.os !== undefined && !OS_VALUES.includes(j.os));
      } catch {
        verdict = true;
      }
      segmentBad.set(text, verdict);
    }
    return verdict;
  });
  if (bad)
    fail(
      "segment_format",
      "segment",
      `segment must be JSON whose "os" is one of ${OS_VALUES.join(", ")} or absent`,
      bad,
    );
  if (failures.length > 0) return failures;

  // date coverage
  const training = rows.filter((r) => r.data_type === "training");
  const forecast = rows.filter((r) => r.data_type === "forecast");
  const want = new Set<string>();
  for (const s of specs) for (const d of trainingDateIndex(s, ctx.trainingEndDate)) want.add(d);
  const have = new Set(training.map((r) => r.target_date as string));
  const missing = [...want].filter((d) => !have.has(d)).sort();
  if (missing.length > 0)
    fail(
      "training_dates",
      "target_date",
      `${missing.length} training date(s) are missing, first ${missing[0]}`,
    );
  const extra = [...have].filter((d) => !want.has(d)).sort();
  if (extra.length > 0)
    fail(
      "training_dates",
      "target_date",
      `training rows on unexpected dates, first ${extra[0]}`,
      training.find((r) => r.target_date === extra[0]),
    );
  const wantF = daysBetween(ctx.forecastStartDate, ctx.forecastEndDate);
  const haveF = new Set(forecast.map((r) => r.target_date as string));
  const missingF = wantF.filter((d) => !haveF.has(d));
  if (missingF.length > 0)
    fail(
      "forecast_dates",
      "target_date",
      `${missingF.length} forecast date(s) between ${ctx.forecastStartDate} and ${ctx.forecastEndDate} are missing, first ${missingF[0]}`,
    );
  const wantFSet = new Set(wantF);
  const extraF = forecast.find((r) => !wantFSet.has(r.target_date as string));
  if (extraF)
    fail(
      "forecast_dates",
      "target_date",
      `forecast row outside ${ctx.forecastStartDate}..${ctx.forecastEndDate}`,
      extraF,
    );

  // per-date counts
  const byDate = new Map<string, { countries: Set<string>; rows: number; example: Row }>();
  for (const r of rows) {
    const d = r.target_date as string;
    const e = byDate.get(d) ?? { countries: new Set<string>(), rows: 0, example: r };
    e.countries.add(r.country as string);
    e.rows++;
    byDate.set(d, e);
  }
  if (!ctx.testingMode) {
    for (const [d, e] of [...byDate].sort()) {
      if (e.countries.size !== VALIDATION_COUNTRIES.length) {
        const absent = VALIDATION_COUNTRIES.filter((c) => !e.countries.has(c));
        fail(
          "countries_per_date",
          "country",
          `${d} has ${e.countries.size} countries, not ${VALIDATION_COUNTRIES.length} (missing ${absent.slice(0, 5).join(", ")})`,
          e.example,
        );
        break;
      }
    }
  }
  for (const [d, e] of [...byDate].sort()) {
    if (e.rows > MAX_ROWS_PER_DATE) {
      fail(
        "rows_per_date",
        "target_date",
        `${d} has ${e.rows} rows, more than ${MAX_ROWS_PER_DATE}`,
        e.example,
      );
      break;
    }
  }
  // exact value sets
  const exp = expectedSets(sources);
  const exact = (rule: string, column: string, expected: Set<string>) => {
    const got = new Set(rows.map((r) => String(r[column])));
    const miss = [...expected].filter((v) => !got.has(v));
    const more = [...got].filter((v) => !expected.has(v));
    if (miss.length > 0 || more.length > 0)
      fail(
        rule,
        column,
        `values differ from the expected set: missing [${miss.join(", ")}], unexpected [${more.join(", ")}]`,
        more.length > 0 ? rows.find((r) => String(r[column]) === more[0]) : undefined,
      );
  };
  exact("app_name_set", "app_name", exp.apps);
  exact("data_source_set", "data_source", exp.sources);
  exact("segment_set", "segment", exp.segments);

  // nulls: per key, the training dates with a value are exactly the key's training index
  for (const s of specs) {
    const column = METRIC_COLUMNS[s.metric];
    const dates = new Set<string>();
    for (const r of training)
      if (r.data_source === s.source && r[column] !== null && r[column] !== undefined)
        dates.add(r.target_date as string);
    const idx = trainingDateIndex(s, ctx.trainingEndDate);
    const idxSet = new Set(idx);
    const miss = idx.filter((d) => !dates.has(d));
    const more = [...dates].filter((d) => !idxSet.has(d)).sort();
    if (miss.length > 0)
      fail(
        "nulls_per_key",
        column,
        `${s.source} ${s.metric} has no value on ${miss.length} training date(s), first ${miss[0]}`,
        training.find((r) => r.data_source === s.source && r.target_date === miss[0]),
      );
    else if (more.length > 0)
      fail(
        "nulls_per_key",
        column,
        `${s.source} ${s.metric} has values on ${more.length} date(s) outside its training index, first ${more[0]}`,
        training.find((r) => r.data_source === s.source && r.target_date === more[0]),
      );
  }
  // duplicates on the non-metric columns
  const seen = new Set<string>();
  for (const r of rows) {
    const k = KEY_COLUMNS.map((c) => String(r[c])).join("\u0000");
    if (seen.has(k)) {
      fail("duplicates", KEY_COLUMNS.join(","), "two rows share every non-metric column", r);
      break;
    }
    seen.add(k);
  }
  return failures;
}

export function validateOutput(rows: Row[], ctx: ValidationContext): void {
  const failures = checkOutput(rows, ctx);
  if (failures.length > 0) throw new ValidationError(failures);
}
