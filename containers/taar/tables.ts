/**
 * The warehouse tables the TAAR jobs read (the telemetry ones, which the local twin seeds) and the temp table
 * of the weekly profile load. The temp table's columns carry the names the TAAR service's profile fetcher
 * reads (`city`, `places_bookmarks_count`, `scalar_parent_browser_engagement_*`), not the original ETL's
 * aliases (`geo_city`, `bookmark_count`, ...), which the fetcher never found.
 */
import type { Column, TableSchema } from "../../shared/adapters/ports.ts";

export const TELEMETRY = "telemetry";
export const TMP_DATASET = "taar_tmp";
export const TMP_TABLE = "taar_tmp_profile";
export const BIGTABLE_TABLE = "taar_profile";
export const PROFILE_FAMILY = {
  name: "profile",
  gc: { maxAgeSeconds: 90 * 86_400, maxVersions: 1, mode: "union" as const },
};

export const ACTIVE_ADDONS: Column = {
  name: "active_addons",
  type: "RECORD",
  mode: "REPEATED",
  fields: [
    { name: "addon_id", type: "STRING" },
    { name: "blocklisted", type: "BOOL" },
    { name: "name", type: "STRING" },
    { name: "user_disabled", type: "BOOL" },
    { name: "app_disabled", type: "BOOL" },
    { name: "version", type: "STRING" },
    { name: "scope", type: "INT64" },
    { name: "type", type: "STRING" },
    { name: "foreign_install", type: "BOOL" },
    { name: "has_binary_components", type: "BOOL" },
    { name: "install_day", type: "INT64" },
    { name: "update_day", type: "INT64" },
    { name: "signed_state", type: "INT64" },
    { name: "is_system", type: "BOOL" },
    { name: "is_web_extension", type: "BOOL" },
    { name: "multiprocess_compatible", type: "BOOL" },
  ],
};

const clientColumns: Column[] = [
  { name: "submission_date", type: "DATE" },
  { name: "client_id", type: "STRING" },
  { name: "channel", type: "STRING" },
  { name: "normalized_channel", type: "STRING" },
  { name: "app_name", type: "STRING" },
  { name: "city", type: "STRING" },
  { name: "locale", type: "STRING" },
  { name: "os", type: "STRING" },
  { name: "subsession_hours_sum", type: "FLOAT64" },
  { name: "places_bookmarks_count_mean", type: "FLOAT64" },
  { name: "scalar_parent_browser_engagement_tab_open_event_count_sum", type: "INT64" },
  { name: "scalar_parent_browser_engagement_total_uri_count_sum", type: "INT64" },
  { name: "scalar_parent_browser_engagement_unique_domains_count_mean", type: "FLOAT64" },
  ACTIVE_ADDONS,
];

export const TELEMETRY_TABLES: { dataset: string; table: string; schema: TableSchema }[] = [
  {
    dataset: TELEMETRY,
    table: "clients_daily",
    schema: {
      columns: clientColumns,
      partitionBy: "submission_date",
      description: "Firefox clients, one row per client and day (seeded locally)",
    },
  },
  {
    dataset: TELEMETRY,
    table: "clients_last_seen",
    schema: {
      columns: clientColumns,
      partitionBy: "submission_date",
      description: "Firefox clients' last-seen state per day (seeded locally)",
    },
  },
  {
    dataset: TELEMETRY,
    table: "addons",
    schema: {
      columns: [
        { name: "submission_date", type: "DATE" },
        { name: "client_id", type: "STRING" },
        { name: "addon_id", type: "STRING" },
      ],
      partitionBy: "submission_date",
      description: "One row per client, day and installed add-on",
    },
  },
  {
    dataset: TELEMETRY,
    table: "deletion_request",
    schema: {
      columns: [
        { name: "submission_timestamp", type: "TIMESTAMP" },
        { name: "client_id", type: "STRING" },
      ],
      partitionBy: "submission_timestamp",
      description: "Clients that asked for their data to be deleted",
    },
  },
];

/** The temp table: the original's ten columns under the consumer's names. */
export const PROFILE_TMP_SCHEMA: TableSchema = {
  columns: [
    { name: "client_id", type: "STRING" },
    { name: "city", type: "STRING" },
    { name: "subsession_length", type: "INT64" },
    { name: "locale", type: "STRING" },
    { name: "os", type: "STRING" },
    ACTIVE_ADDONS,
    { name: "places_bookmarks_count", type: "INT64" },
    { name: "scalar_parent_browser_engagement_tab_open_event_count", type: "INT64" },
    { name: "scalar_parent_browser_engagement_total_uri_count", type: "INT64" },
    { name: "scalar_parent_browser_engagement_unique_domains_count", type: "INT64" },
  ],
  description: "TAAR profile load staging (dropped at the end of every weekly run)",
};

/** The numeric payload fields coerced to integers (null -> 0), as the original loader did. */
export const INT_FIELDS = [
  "subsession_length",
  "places_bookmarks_count",
  "scalar_parent_browser_engagement_tab_open_event_count",
  "scalar_parent_browser_engagement_total_uri_count",
  "scalar_parent_browser_engagement_unique_domains_count",
] as const;
