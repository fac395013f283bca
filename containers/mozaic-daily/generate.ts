import type { Column, Row, TableSchema, Warehouse } from "../../shared/adapters/ports.ts";
import { addDays, formatDay, parseDay } from "../../shared/core/dates.ts";
import { mozaicCalendar } from "../forecast/index.ts";
import { COUNTRIES, daysBetween } from "./config.ts";
import { SOURCE_PROJECT } from "./queries.ts";

/**
 * The local stand-in for mozaic-daily's eight source tables, with their original column names and types.
 * Every (day, country, OS or app[, lifecycle stage]) gets a value from a seeded model: a per-country base,
 * segment shares that move over time (Windows 11 appears in October 2021 and takes over from Windows 10),
 * growth (desktop shrinks slowly, mobile grows), weekly seasonality (desktop dips at weekends, mobile peaks),
 * yearly seasonality (summer and year-end dips), country holidays from Mozaic's calendar, and multiplicative
 * noise. Known gaps are reproduced: new profiles collapse on 2023-07-18..19 (the queries exclude those days)
 * and legacy desktop telemetry drops by 40% through October 2025. Three extra countries (SE, KR, ZA) land
 * in `ROW`.
 */
export interface GenerateOptions {
  /** Last day with data (inclusive), normally yesterday. */
  to: string;
  /** Countries to generate; default: the 25 markets plus SE, KR and ZA. */
  countries?: string[];
  /** Only these tables (`dataset.table`); default all eight. */
  tables?: string[];
  seed?: number;
}

const col = (name: string, type: Column["type"]): Column => ({ name, type });

export const SOURCE_TABLES: Record<string, TableSchema & { dateField: string; start: string }> = {
  "glean_telemetry.active_users_aggregates": {
    dateField: "submission_date",
    start: "2020-12-31",
    columns: [
      col("submission_date", "DATE"),
      col("app_name", "STRING"),
      col("channel", "STRING"),
      col("country", "STRING"),
      col("os", "STRING"),
      col("os_version", "STRING"),
      col("dau", "INT64"),
      col("wau", "INT64"),
      col("mau", "INT64"),
    ],
  },
  "telemetry.active_users_aggregates": {
    dateField: "submission_date",
    start: "2020-01-01",
    columns: [
      col("submission_date", "DATE"),
      col("app_name", "STRING"),
      col("channel", "STRING"),
      col("country", "STRING"),
      col("os", "STRING"),
      col("os_version", "STRING"),
      col("dau", "INT64"),
      col("wau", "INT64"),
      col("mau", "INT64"),
    ],
  },
  "firefox_desktop.new_profiles_aggregates": {
    dateField: "first_seen_date",
    start: "2023-07-01",
    columns: [
      col("first_seen_date", "DATE"),
      col("country", "STRING"),
      col("windows_version", "STRING"),
      col("is_desktop", "BOOL"),
      col("new_profiles", "INT64"),
    ],
  },
  "telemetry.desktop_new_profiles": {
    dateField: "first_seen_date",
    start: "2021-01-01",
    columns: [
      col("first_seen_date", "DATE"),
      col("country", "STRING"),
      col("windows_version", "STRING"),
      col("is_desktop", "BOOL"),
      col("new_profiles", "INT64"),
    ],
  },
  "firefox_desktop.desktop_engagement_aggregates": {
    dateField: "submission_date",
    start: "2023-06-07",
    columns: [
      col("submission_date", "DATE"),
      col("country", "STRING"),
      col("normalized_os_version", "STRING"),
      col("is_desktop", "BOOL"),
      col("lifecycle_stage", "STRING"),
      col("dau", "INT64"),
      col("wau", "INT64"),
      col("mau", "INT64"),
    ],
  },
  "telemetry.desktop_engagement": {
    dateField: "submission_date",
    start: "2021-01-01",
    columns: [
      col("submission_date", "DATE"),
      col("country", "STRING"),
      col("normalized_os_version", "STRING"),
      col("is_desktop", "BOOL"),
      col("lifecycle_stage", "STRING"),
      col("dau", "INT64"),
      col("wau", "INT64"),
      col("mau", "INT64"),
    ],
  },
  "telemetry.mobile_new_profiles": {
    dateField: "first_seen_date",
    start: "2023-07-01",
    columns: [
      col("first_seen_date", "DATE"),
      col("country", "STRING"),
      col("app_name", "STRING"),
      col("is_mobile", "BOOL"),
      col("new_profiles", "INT64"),
    ],
  },
  "telemetry.mobile_engagement": {
    dateField: "submission_date",
    start: "2023-07-01",
    columns: [
      col("submission_date", "DATE"),
      col("country", "STRING"),
      col("app_name", "STRING"),
      col("is_mobile", "BOOL"),
      col("lifecycle_stage", "STRING"),
      col("dau", "INT64"),
      col("wau", "INT64"),
      col("mau", "INT64"),
    ],
  },
};

export const EXTRA_COUNTRIES = ["SE", "KR", "ZA"];

/** Desktop DAU base per country (millions). */
const BASE: Record<string, number> = {
  US: 12,
  DE: 6,
  FR: 4,
  BR: 3,
  RU: 3,
  PL: 2.5,
  IN: 2.5,
  IT: 2,
  GB: 2,
  JP: 1.5,
  ES: 1.5,
  CA: 1.2,
  MX: 1.2,
  CN: 1,
  ID: 1,
  AR: 0.8,
  NL: 0.8,
  IR: 0.7,
  UA: 0.7,
  TR: 0.5,
  AU: 0.5,
  CH: 0.4,
  AT: 0.4,
  BY: 0.3,
  KZ: 0.2,
  SE: 0.5,
  KR: 0.3,
  ZA: 0.2,
};

const DESKTOP_OS = [
  { os: "Windows", version: "Windows 10" },
  { os: "Windows", version: "Windows 11" },
  { os: "Windows", version: "Windows 7" },
  { os: "Darwin", version: "macOS 14" },
  { os: "Linux", version: "Linux" },
];
const MOBILE_APPS = [
  { app: "Fenix", os: "Android", share: 0.6 },
  { app: "Firefox iOS", os: "iOS", share: 0.25 },
  { app: "Focus Android", os: "Android", share: 0.1 },
  { app: "Focus iOS", os: "iOS", share: 0.05 },
];

/** Engagement rows per segment and day: existing and new users as fractions of the segment's DAU. */
const ENGAGEMENT = {
  desktop: [
    { stage: "existing_user", dau: 0.9, wau: 1.7, mau: 2.5 },
    { stage: "new_user", dau: 0.05, wau: 0.1, mau: 0.2 },
  ],
  mobile: [
    { stage: "existing_user", dau: 0.85, wau: 1.8, mau: 3 },
    { stage: "new_user", dau: 0.08, wau: 0.15, mau: 0.3 },
  ],
};

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

const EPOCH = Date.UTC(2020, 0, 1);
const dayIndex = (d: string) => (parseDay(d).getTime() - EPOCH) / 86_400_000;

/** Windows version shares on a day (Windows 11 from 2021-10-05, replacing Windows 10 over four years). */
function osShares(day: string): number[] {
  const t = dayIndex(day);
  const w11Start = dayIndex("2021-10-05");
  const w11 = t < w11Start ? 0 : Math.min(0.45, ((t - w11Start) / 1461) * 0.45);
  const w7 = Math.max(0.03, 0.12 - t * 0.00004);
  return [0.82 - w11 - w7 - 0.2, w11, w7, 0.15, 0.05].map((s) => Math.max(s, 0));
}

function holidaySets(countries: string[], from: string, to: string): Map<string, Set<string>> {
  const y0 = parseDay(from).getUTCFullYear();
  const y1 = parseDay(to).getUTCFullYear();
  const out = new Map<string, Set<string>>();
  for (const c of countries) {
    const cal = mozaicCalendar(COUNTRIES.includes(c) ? c : "ROW", y0, y1);
    out.set(c, new Set(cal.filter((h) => !h.name.includes("Data Loss")).map((h) => h.date)));
  }
  return out;
}

interface DayFactors {
  desktop: number;
  mobile: number;
}

/** The shared shape of every series on a day for a country, before segment shares and noise. */
function factors(day: string, holidays: Set<string>): DayFactors {
  const t = dayIndex(day);
  const date = parseDay(day);
  const dow = date.getUTCDay();
  const doy = (date.getTime() - Date.UTC(date.getUTCFullYear(), 0, 1)) / 86_400_000;
  const yearly =
    1 - 0.06 * Math.cos((2 * Math.PI * (doy - 15)) / 365.25) - 0.05 * Math.exp(-(((doy - 205) / 25) ** 2));
  const yearEnd = doy > 355 ? 0.9 : 1;
  const hol = holidays.has(day) ? 0.8 : holidays.has(formatDay(addDays(date, -1))) ? 0.93 : 1;
  const desktopWeekly = dow === 0 || dow === 6 ? 0.8 : 1;
  const mobileWeekly = dow === 0 || dow === 6 ? 1.08 : 1;
  const desktopTrend = 1 - 0.00008 * t;
  const mobileTrend = 1 + 0.00025 * t;
  return {
    desktop: desktopTrend * desktopWeekly * yearly * yearEnd * hol,
    mobile: mobileTrend * mobileWeekly * (0.5 + 0.5 * yearly) * hol,
  };
}

/** Every row of one source table from its start (or 2020-01-01) through `to`. */
export function generateTable(table: string, options: GenerateOptions): Row[] {
  const def = SOURCE_TABLES[table];
  const countries = options.countries ?? [...COUNTRIES, ...EXTRA_COUNTRIES];
  const rand = mulberry32((options.seed ?? 42) + table.length * 7919 + table.charCodeAt(0));
  const from = table === "glean_telemetry.active_users_aggregates" ? "2020-12-31" : def.start;
  if (from > options.to) return [];
  const days = daysBetween(from, options.to);
  const holidays = holidaySets(countries, from, options.to);
  const legacy = table.startsWith("telemetry.") && !table.includes("mobile");
  const rows: Row[] = [];
  const noise = (sd: number) => Math.exp(sd * gauss(rand));
  for (const day of days) {
    const legacyDrop = legacy && day >= "2025-10-04" && day <= "2025-10-31" ? 0.6 : 1;
    const npGap = day === "2023-07-18" || day === "2023-07-19" ? 0.01 : 1;
    const shares = osShares(day);
    for (const country of countries) {
      const base = (BASE[country] ?? 0.3) * 1e6;
      const f = factors(day, holidays.get(country) as Set<string>);
      const desktop = (kind: "dau" | "np") =>
        DESKTOP_OS.map((o, i) => {
          const v = base * shares[i] * f.desktop * legacyDrop * (kind === "np" ? 0.004 * npGap : 1);
          return { ...o, v: shares[i] > 0 ? Math.round(v * noise(kind === "np" ? 0.08 : 0.02)) : 0 };
        }).filter((o) => o.v > 0);
      const mobile = (kind: "dau" | "np") =>
        MOBILE_APPS.map((a) => ({
          ...a,
          v: Math.round(
            base *
              0.3 *
              a.share *
              f.mobile *
              (kind === "np" ? 0.01 * npGap : 1) *
              noise(kind === "np" ? 0.1 : 0.03),
          ),
        })).filter((a) => a.v > 0);
      switch (table) {
        case "glean_telemetry.active_users_aggregates":
        case "telemetry.active_users_aggregates": {
          const desktopFrom = table === "telemetry.active_users_aggregates" ? "2020-01-01" : "2023-04-01";
          if (day >= desktopFrom)
            for (const o of desktop("dau"))
              rows.push({
                submission_date: day,
                app_name: "Firefox Desktop",
                channel: "release",
                country,
                os: o.os,
                os_version: o.version,
                dau: o.v,
                wau: Math.round(o.v * 1.9),
                mau: Math.round(o.v * 2.8),
              });
          if (table === "glean_telemetry.active_users_aggregates")
            for (const a of mobile("dau"))
              rows.push({
                submission_date: day,
                app_name: a.app,
                channel: "release",
                country,
                os: a.os,
                os_version: null,
                dau: a.v,
                wau: Math.round(a.v * 2.2),
                mau: Math.round(a.v * 3.5),
              });
          break;
        }
        case "firefox_desktop.new_profiles_aggregates":
        case "telemetry.desktop_new_profiles":
          for (const o of desktop("np"))
            rows.push({
              first_seen_date: day,
              country,
              windows_version: o.os === "Windows" ? o.version : null,
              is_desktop: true,
              new_profiles: o.v,
            });
          break;
        case "firefox_desktop.desktop_engagement_aggregates":
        case "telemetry.desktop_engagement":
        case "telemetry.mobile_engagement": {
          const mobileTable = table === "telemetry.mobile_engagement";
          const stages = ENGAGEMENT[mobileTable ? "mobile" : "desktop"];
          const segments = mobileTable
            ? mobile("dau").map((a) => ({ v: a.v, columns: { app_name: a.app, is_mobile: true } }))
            : desktop("dau").map((o) => ({
                v: o.v,
                columns: { normalized_os_version: o.version, is_desktop: true },
              }));
          for (const { v, columns } of segments)
            for (const st of stages)
              rows.push({
                submission_date: day,
                country,
                ...columns,
                lifecycle_stage: st.stage,
                dau: Math.round(v * st.dau),
                wau: Math.round(v * st.wau),
                mau: Math.round(v * st.mau),
              });
          break;
        }
        case "telemetry.mobile_new_profiles":
          for (const a of mobile("np"))
            rows.push({ first_seen_date: day, country, app_name: a.app, is_mobile: true, new_profiles: a.v });
          break;
      }
    }
  }
  return rows;
}

export const refOf = (table: string) => {
  const [dataset, name] = table.split(".");
  return { project: SOURCE_PROJECT, dataset, table: name };
};

/**
 * Fill the source tables. A table that already holds data through `to` is left alone, so `npm start` seeds once
 * a day; otherwise its rows are replaced.
 */
export async function seedSources(
  warehouse: Warehouse,
  options: GenerateOptions,
): Promise<{ table: string; rows: number; skipped: boolean }[]> {
  const out: { table: string; rows: number; skipped: boolean }[] = [];
  for (const table of options.tables ?? Object.keys(SOURCE_TABLES)) {
    const def = SOURCE_TABLES[table];
    const ref = refOf(table);
    await warehouse.ensureTable(ref, { columns: def.columns });
    const [have] = await warehouse.query<{ n: number; last: string | null }>(
      `SELECT COUNT(*) AS n, CAST(MAX(${def.dateField}) AS STRING) AS last FROM \`${SOURCE_PROJECT}.${table}\``,
    );
    if (Number(have?.n ?? 0) > 0 && have?.last === options.to) {
      out.push({ table, rows: Number(have.n), skipped: true });
      continue;
    }
    if (Number(have?.n ?? 0) > 0)
      await warehouse.query(`DELETE FROM \`${SOURCE_PROJECT}.${table}\` WHERE TRUE`);
    const rows = generateTable(table, options);
    for (let i = 0; i < rows.length; i += 100_000)
      await warehouse.insertRows(ref, rows.slice(i, i + 100_000));
    out.push({ table, rows: rows.length, skipped: false });
  }
  return out;
}
