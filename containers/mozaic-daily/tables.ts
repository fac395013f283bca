import type { Column, Row } from "../../shared/adapters/ports.ts";
import type { GranularRow } from "../forecast/index.ts";
import { type DataSource, METRIC_COLUMNS, type Metric } from "./config.ts";

/**
 * The output table (`tables.py`): 13 columns in the original's order, one row per (data source, target date,
 * country, app, segment) with the four metrics merged (outer merge: a metric with no value there is null).
 * Desktop rows are app `desktop` with segment `{"os": <population>}`; mobile rows carry the app as `app_name`
 * (ALL -> `ALL MOBILE`) and segment `{}`. `actual` becomes `training`. Rows sort by the 9 non-metric columns.
 */
export const OUTPUT_TABLE = { dataset: "forecasts_derived", table: "mart_mozaic_daily_forecast_v2" } as const;
export const RUN_LOG_TABLE = { dataset: "forecasts_derived", table: "mozaic_daily_run_log" } as const;

export const METRIC_NAMES = Object.values(METRIC_COLUMNS);

export const OUTPUT_COLUMNS: Column[] = [
  { name: "forecast_start_date", type: "DATE", description: "First forecast day; the partition." },
  {
    name: "forecast_run_timestamp",
    type: "STRING",
    description: "When the run started, YYYY-MM-DD HH:MM:SS UTC.",
  },
  { name: "mozaic_hash", type: "STRING", description: "40-hex SHA-1 of the forecast engine's sources." },
  { name: "data_source", type: "STRING", description: "glean_desktop | legacy_desktop | glean_mobile" },
  { name: "target_date", type: "STRING", description: "YYYY-MM-DD" },
  { name: "data_type", type: "STRING", description: "training | forecast" },
  { name: "country", type: "STRING", description: "One of the 25 markets, ROW or ALL." },
  { name: "app_name", type: "STRING", description: "desktop, a mobile app, or ALL MOBILE." },
  { name: "segment", type: "STRING", description: 'JSON: {"os": ...} for desktop, {} for mobile.' },
  { name: "dau", type: "FLOAT64" },
  { name: "new_profiles", type: "FLOAT64" },
  { name: "existing_engagement_dau", type: "FLOAT64" },
  { name: "existing_engagement_mau", type: "FLOAT64" },
];

export const KEY_COLUMNS = OUTPUT_COLUMNS.slice(0, 9).map((c) => c.name);

export const RUN_LOG_COLUMNS: Column[] = [
  { name: "forecast_start_date", type: "DATE" },
  { name: "forecast_run_timestamp", type: "STRING" },
  { name: "mozaic_hash", type: "STRING" },
  { name: "engine", type: "STRING", description: "The forecast engine and its settings." },
  { name: "testing_mode", type: "BOOL" },
  { name: "data_sources", type: "STRING" },
  { name: "rows", type: "INT64" },
  { name: "published_at", type: "TIMESTAMP" },
];

export interface RunStamp {
  forecastStartDate: string;
  forecastRunTimestamp: string;
  mozaicHash: string;
}

/** Outer-merge one source's per-metric rows on (target_date, country, population, source). */
export function combineTables(source: DataSource, rows: GranularRow[]): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const r of rows) {
    const key = `${r.targetDate}|${r.country}|${r.population}|${r.source}`;
    let row = out.get(key);
    if (!row) {
      row = {
        target_date: r.targetDate,
        country: r.country,
        population: r.population,
        source: r.source,
        data_source: source,
      };
      for (const m of METRIC_NAMES) row[m] = null;
      out.set(key, row);
    }
    row[METRIC_COLUMNS[r.metric as Metric] ?? r.metric] = r.value;
  }
  return out;
}

export function desktopFormat(row: Row): Row {
  return {
    ...row,
    app_name: "desktop",
    segment: JSON.stringify({ os: row.population }).replace('":"', '": "'),
  };
}

export function mobileFormat(row: Row): Row {
  return { ...row, app_name: row.population === "ALL" ? "ALL MOBILE" : row.population, segment: "{}" };
}

/** Sort rows by the 9 non-metric columns: one key string per row (fields joined by NUL, which sorts first). */
export function sortRows(rows: Row[]): Row[] {
  const keyed = rows.map((r) => ({ k: KEY_COLUMNS.map((c) => String(r[c])).join("\u0000"), r }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((e) => e.r);
}

/** The final 13-column rows of every source, sorted. */
export function formatOutputTable(
  parts: { source: DataSource; rows: GranularRow[] }[],
  stamp: RunStamp,
): Row[] {
  const out: Row[] = [];
  for (const part of parts) {
    const fmt = part.source === "glean_mobile" ? mobileFormat : desktopFormat;
    for (const r of combineTables(part.source, part.rows).values()) {
      const f = fmt(r);
      out.push({
        forecast_start_date: stamp.forecastStartDate,
        forecast_run_timestamp: stamp.forecastRunTimestamp,
        mozaic_hash: stamp.mozaicHash,
        data_source: part.source,
        target_date: f.target_date,
        data_type: f.source === "actual" ? "training" : "forecast",
        country: f.country,
        app_name: f.app_name,
        segment: f.segment,
        dau: f.dau,
        new_profiles: f.new_profiles,
        existing_engagement_dau: f.existing_engagement_dau,
        existing_engagement_mau: f.existing_engagement_mau,
      });
    }
  }
  return sortRows(out);
}
