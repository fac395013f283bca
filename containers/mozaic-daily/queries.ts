import type { Warehouse } from "../../shared/adapters/ports.ts";
import { addDays, formatDay, parseDay } from "../../shared/core/dates.ts";
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";
import { COUNTRIES, type DataSource, daysBetween, type Metric } from "./config.ts";

/**
 * The 12 input queries (`queries.py QUERY_SPECS`), generated as BigQuery SQL. The same text runs on DuckDB in
 * the local twin, so string literals are single-quoted (BigQuery takes both quotes; DuckDB reads double quotes
 * as identifiers). As in the original there is no upper date bound: the model trains on days before the
 * forecast start.
 */
export const SOURCE_PROJECT = "moz-fx-data-shared-prod";

export interface QuerySpec {
  source: DataSource;
  platform: "desktop" | "mobile";
  metric: Metric;
  /** `dataset.table` in the source project. */
  table: string;
  segmentColumn: string;
  where: string;
  dateField: string;
  dateStart: string;
  /** Inclusive ranges left out (`NOT BETWEEN`). */
  excluded?: [string, string];
  yColumn: string;
}

const DESKTOP_WHERE = "app_name = 'Firefox Desktop'";
const EXISTING = "is_desktop AND lifecycle_stage = 'existing_user'";
const MOBILE_APPS = "app_name IN ('Fenix', 'Firefox iOS', 'Focus Android', 'Focus iOS')";
const MOBILE_EXISTING = "is_mobile AND lifecycle_stage = 'existing_user'";
const NP_GAP: [string, string] = ["2023-07-18", "2023-07-19"];

const spec = (
  source: DataSource,
  metric: Metric,
  table: string,
  segmentColumn: string,
  where: string,
  dateField: string,
  dateStart: string,
  yColumn: string,
  excluded?: [string, string],
): QuerySpec => ({
  source,
  platform: source === "glean_mobile" ? "mobile" : "desktop",
  metric,
  table,
  segmentColumn,
  where,
  dateField,
  dateStart,
  yColumn,
  ...(excluded ? { excluded } : {}),
});

export const QUERY_SPECS: readonly QuerySpec[] = [
  spec(
    "glean_desktop",
    "DAU",
    "glean_telemetry.active_users_aggregates",
    "os_version",
    DESKTOP_WHERE,
    "submission_date",
    "2023-04-17",
    "dau",
  ),
  spec(
    "glean_desktop",
    "New Profiles",
    "firefox_desktop.new_profiles_aggregates",
    "windows_version",
    "is_desktop",
    "first_seen_date",
    "2023-07-01",
    "new_profiles",
    NP_GAP,
  ),
  spec(
    "glean_desktop",
    "Existing Engagement DAU",
    "firefox_desktop.desktop_engagement_aggregates",
    "normalized_os_version",
    EXISTING,
    "submission_date",
    "2023-06-07",
    "dau",
  ),
  spec(
    "glean_desktop",
    "Existing Engagement MAU",
    "firefox_desktop.desktop_engagement_aggregates",
    "normalized_os_version",
    EXISTING,
    "submission_date",
    "2023-06-07",
    "mau",
  ),
  spec(
    "legacy_desktop",
    "DAU",
    "telemetry.active_users_aggregates",
    "os_version",
    DESKTOP_WHERE,
    "submission_date",
    "2020-01-01",
    "dau",
  ),
  spec(
    "legacy_desktop",
    "New Profiles",
    "telemetry.desktop_new_profiles",
    "windows_version",
    "is_desktop",
    "first_seen_date",
    "2021-01-01",
    "new_profiles",
    NP_GAP,
  ),
  spec(
    "legacy_desktop",
    "Existing Engagement DAU",
    "telemetry.desktop_engagement",
    "normalized_os_version",
    EXISTING,
    "submission_date",
    "2021-01-01",
    "dau",
  ),
  spec(
    "legacy_desktop",
    "Existing Engagement MAU",
    "telemetry.desktop_engagement",
    "normalized_os_version",
    EXISTING,
    "submission_date",
    "2021-01-01",
    "mau",
  ),
  spec(
    "glean_mobile",
    "DAU",
    "glean_telemetry.active_users_aggregates",
    "app_name",
    MOBILE_APPS,
    "submission_date",
    "2020-12-31",
    "dau",
  ),
  spec(
    "glean_mobile",
    "New Profiles",
    "telemetry.mobile_new_profiles",
    "app_name",
    "is_mobile",
    "first_seen_date",
    "2023-07-01",
    "new_profiles",
    NP_GAP,
  ),
  spec(
    "glean_mobile",
    "Existing Engagement DAU",
    "telemetry.mobile_engagement",
    "app_name",
    MOBILE_EXISTING,
    "submission_date",
    "2023-07-01",
    "dau",
  ),
  spec(
    "glean_mobile",
    "Existing Engagement MAU",
    "telemetry.mobile_engagement",
    "app_name",
    MOBILE_EXISTING,
    "submission_date",
    "2023-07-01",
    "mau",
  ),
];

/** Segment columns: name -> the LIKE rule on LOWER(col). Desktop's `winX` is Windows but neither 10 nor 11. */
export const SEGMENTS: Record<"desktop" | "mobile", string[]> = {
  desktop: ["win10", "win11", "winX"],
  mobile: ["fenix_android", "firefox_ios", "focus_android", "focus_ios"],
};

function segmentSql(platform: "desktop" | "mobile", column: string): string {
  const c = `LOWER(${column})`;
  if (platform === "desktop") {
    return [
      `IFNULL(${c} LIKE '%windows 10%', FALSE) AS win10`,
      `IFNULL(${c} LIKE '%windows 11%', FALSE) AS win11`,
      `IFNULL(${c} LIKE '%windows%' AND NOT ${c} LIKE '%windows 10%' AND NOT ${c} LIKE '%windows 11%', FALSE) AS winX`,
    ].join(",\n  ");
  }
  return [
    `IFNULL(${c} LIKE '%fenix%', FALSE) AS fenix_android`,
    `IFNULL(${c} LIKE '%firefox ios%', FALSE) AS firefox_ios`,
    `IFNULL(${c} LIKE '%focus android%', FALSE) AS focus_android`,
    `IFNULL(${c} LIKE '%focus ios%', FALSE) AS focus_ios`,
  ].join(",\n  ");
}

const quoted = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(", ");

export function tableName(s: QuerySpec): string {
  return `\`${SOURCE_PROJECT}.${s.table}\``;
}

/** The query of one spec, as the original builds it (`SUM(y) AS y,` keeps its trailing comma). */
export function buildQuery(s: QuerySpec, countries: readonly string[] = COUNTRIES): string {
  const excl = s.excluded
    ? `\n  AND ${s.dateField} NOT BETWEEN '${s.excluded[0]}' AND '${s.excluded[1]}'`
    : "";
  return `SELECT
  ${s.dateField} AS x,
  IF(country IN (${quoted(countries)}), country, 'ROW') AS country,
  ${segmentSql(s.platform, s.segmentColumn)},
  SUM(${s.yColumn}) AS y,
FROM ${tableName(s)}
WHERE ${s.where}
  AND ${s.dateField} >= '${s.dateStart}'${excl}
GROUP BY ALL
ORDER BY 1, 2 ASC`;
}

export function specKey(s: Pick<QuerySpec, "source" | "platform" | "metric">): string {
  return `${s.source}.${s.platform}.${s.metric}`;
}

/**
 * The pre-flight query of one (table, date field, where): the newest date with data in the week before the
 * training end. The original looked at the week before the wall clock's today; anchoring the window to the
 * training end gives a backfill of an old date the same check, whenever it runs.
 */
export function availabilityQuery(s: QuerySpec): string {
  return `SELECT MAX(${s.dateField}) AS max_date
FROM ${tableName(s)}
WHERE ${s.where}
  AND ${s.dateField} >= DATE(@window_start)`;
}

/** The 9 distinct (table, date field, where) triples the pre-flight checks. */
export function availabilityChecks(specs: readonly QuerySpec[] = QUERY_SPECS): QuerySpec[] {
  const seen = new Map<string, QuerySpec>();
  for (const s of specs) {
    const k = `${s.table}|${s.dateField}|${s.where}`;
    if (!seen.has(k)) seen.set(k, s);
  }
  return [...seen.values()];
}

export class DataNotReadyError extends NonRetriableError {
  readonly suggestedStartDate?: string;
  constructor(message: string, suggested?: string) {
    super(message, {
      field: "forecastStartDate",
      fix: suggested
        ? `wait for the data to land, or run with --forecast_start_date ${suggested} (params.forecastStartDate / partition ${suggested})`
        : "check that the source table is being filled",
    });
    this.name = "DataNotReadyError";
    this.suggestedStartDate = suggested;
  }
}

const asDay = (v: unknown): string | undefined =>
  v === null || v === undefined ? undefined : v instanceof Date ? formatDay(v) : String(v).slice(0, 10);

/** Throws DataNotReadyError naming the table and the latest usable forecastStartDate. */
export async function checkAvailability(
  warehouse: Warehouse,
  trainingEnd: string,
  specs: readonly QuerySpec[] = QUERY_SPECS,
): Promise<{ table: string; maxDate: string }[]> {
  const out: { table: string; maxDate: string }[] = [];
  for (const s of availabilityChecks(specs)) {
    const rows = await warehouse.query<{ max_date: unknown }>(availabilityQuery(s), {
      window_start: formatDay(addDays(parseDay(trainingEnd), -7)),
    });
    const max = asDay(rows[0]?.max_date);
    if (!max)
      throw new DataNotReadyError(
        `no data found in ${s.table} (${s.where}) for the 7 days before the training end ${trainingEnd}`,
      );
    if (max < trainingEnd) {
      const suggested = formatDay(addDays(parseDay(max), 1));
      throw new DataNotReadyError(
        `${s.table} has data through ${max} but training needs ${trainingEnd}; the latest usable forecastStartDate is ${suggested}`,
        suggested,
      );
    }
    out.push({ table: s.table, maxDate: max });
  }
  return out;
}

export interface RawRow {
  x: string;
  country: string;
  segments: Record<string, boolean>;
  y: number;
}

/** A query row as the job passes it between steps: [x, country, segment bit mask (SEGMENTS order), y]. */
export type PackedRow = [x: string, country: string, mask: number, y: number];

/** Run one spec; zero rows is an error naming the query. Rows come back packed (see {@link unpackRow}). */
export async function runQueryPacked(warehouse: Warehouse, s: QuerySpec): Promise<PackedRow[]> {
  let rows: Record<string, unknown>[];
  try {
    rows = await warehouse.query(buildQuery(s));
  } catch (err) {
    if (err instanceof NonRetriableError) throw err;
    throw new RetryableError(`query ${specKey(s)} failed: ${(err as Error).message}`, { cause: err });
  }
  if (rows.length === 0)
    throw new NonRetriableError(`the warehouse returned 0 rows for query ${specKey(s)} on ${s.table}`, {
      field: `query.${specKey(s)}`,
      fix: `check that ${SOURCE_PROJECT}.${s.table} has rows with ${s.where} since ${s.dateStart}`,
    });
  const segs = SEGMENTS[s.platform];
  // About 2 M rows in a full run: one string per distinct day, no per-row objects beyond the tuple.
  const days = new Map<unknown, string>();
  const out: PackedRow[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const key = r.x instanceof Date ? r.x.getTime() : r.x;
    let x = days.get(key);
    if (x === undefined) {
      x = asDay(r.x) as string;
      days.set(key, x);
    }
    let mask = 0;
    for (let k = 0; k < segs.length; k++) if (r[segs[k]] === true) mask |= 1 << k;
    out[i] = [x, String(r.country), mask, Number(r.y)];
  }
  return out;
}

export function unpackRow(platform: "desktop" | "mobile", [x, country, mask, y]: PackedRow): RawRow {
  const segments: Record<string, boolean> = {};
  SEGMENTS[platform].forEach((p, i) => {
    segments[p] = (mask & (1 << i)) !== 0;
  });
  return { x, country, segments, y };
}

/** {@link runQueryPacked} with one object per row. */
export async function runQuery(warehouse: Warehouse, s: QuerySpec): Promise<RawRow[]> {
  return (await runQueryPacked(warehouse, s)).map((r) => unpackRow(s.platform, r));
}

/** The training dates of one key: its start through the training end, its excluded range removed. */
export function trainingDateIndex(s: QuerySpec, trainingEnd: string): string[] {
  const days = daysBetween(s.dateStart, trainingEnd);
  return s.excluded
    ? days.filter((d) => d < (s.excluded as [string, string])[0] || d > (s.excluded as [string, string])[1])
    : days;
}
