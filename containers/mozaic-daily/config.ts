import { addDays, formatDay, parseDay, todayUtc } from "../../shared/core/dates.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

/**
 * Dates and markets of mozaic-daily (`config.py get_runtime_config`), all in UTC: with no override the forecast
 * starts yesterday (T-1) and training ends the day before (T-2); an override D (a backfill) starts at D and
 * trains through D-1. The horizon always runs to 31 December of the year after the start. A start after today
 * is rejected.
 */
export interface RuntimeDates {
  forecastStartDate: string;
  trainingEndDate: string;
  forecastEndDate: string;
  /** `YYYY-MM-DD HH:MM:SS` (UTC), the run's `forecast_run_timestamp`. */
  forecastRunTimestamp: string;
}

export function runtimeDates(now: Date, override?: string): RuntimeDates {
  const today = todayUtc(now);
  let start: Date;
  if (override === undefined || override === "") {
    start = addDays(today, -1);
  } else {
    start = parseDay(override, "forecastStartDate");
    if (start.getTime() > today.getTime())
      throw new NonRetriableError(
        `forecastStartDate ${override} is in the future (today is ${formatDay(today)} UTC)`,
        { field: "forecastStartDate", fix: `use a date on or before ${formatDay(today)}` },
      );
  }
  const end = new Date(Date.UTC(start.getUTCFullYear() + 1, 11, 31));
  return {
    forecastStartDate: formatDay(start),
    trainingEndDate: formatDay(addDays(start, -1)),
    forecastEndDate: formatDay(end),
    forecastRunTimestamp: now.toISOString().slice(0, 19).replace("T", " "),
  };
}

const TOP_DAU = ["US", "BR", "CA", "MX", "AR", "IN", "ID", "JP", "IR", "CN", "DE", "FR", "PL", "RU", "IT"];
const TOP_GOOGLE = ["US", "DE", "FR", "GB", "PL", "CA", "CH", "IT", "AU", "NL", "ES", "JP", "AT"];
const NONMONETIZED_GOOGLE = ["RU", "UA", "TR", "BY", "KZ", "CN"];

/** The 25 named markets; every other country is `ROW`. */
export const COUNTRIES: readonly string[] = [
  ...new Set([...TOP_DAU, ...TOP_GOOGLE, ...NONMONETIZED_GOOGLE]),
].sort();
/** What the output may hold in `country`: the markets, `ALL` and `ROW` (27). */
export const VALIDATION_COUNTRIES: readonly string[] = [...COUNTRIES, "ALL", "ROW"].sort();

export const DATA_SOURCES = ["glean_desktop", "legacy_desktop", "glean_mobile"] as const;
export type DataSource = (typeof DATA_SOURCES)[number];

export const METRICS = ["DAU", "New Profiles", "Existing Engagement DAU", "Existing Engagement MAU"] as const;
export type Metric = (typeof METRICS)[number];

/** Output column of each metric. */
export const METRIC_COLUMNS: Record<Metric, string> = {
  DAU: "dau",
  "New Profiles": "new_profiles",
  "Existing Engagement DAU": "existing_engagement_dau",
  "Existing Engagement MAU": "existing_engagement_mau",
};

export const PLATFORM_OF: Record<DataSource, "desktop" | "mobile"> = {
  glean_desktop: "desktop",
  legacy_desktop: "desktop",
  glean_mobile: "mobile",
};

/** The testing mode of the original: only Desktop Glean DAU, and the 27-countries check relaxed. */
export const TESTING_SCOPE: { source: DataSource; metric: Metric } = {
  source: "glean_desktop",
  metric: "DAU",
};

export const QUANTILE = 0.5;

/** Days from `from` to `to` inclusive (YYYY-MM-DD). */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const end = parseDay(to).getTime();
  for (let d = parseDay(from); d.getTime() <= end; d = addDays(d, 1)) out.push(formatDay(d));
  return out;
}
