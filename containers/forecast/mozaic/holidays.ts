import Holidays from "date-holidays";
import { NonRetriableError } from "../../../shared/core/errors.ts";

/**
 * Mozaic's holiday calendars (mozaic/holiday_smart.py `get_calendar`), rebuilt on the `date-holidays` package:
 * - the country's public holidays (ROW: the US calendar plus May 1 "International Workers' Day");
 * - global days: Dec 24, Dec 31, Jan 1 and Lunar New Year (the first day of the first Chinese month);
 * - Mozilla "Data Loss" outages: 2019-05-06..13 and 2019-07-15..17;
 * - the Christian/Paschal cycle for every country except IN, JP, IR, CN: Mardi Gras (E-47), Palm Sunday (E-7),
 *   Good Friday (E-2), Easter, Ascension (E+39), Corpus Christi (E+60), Aug 15, Nov 1, Jan 6; RU uses Orthodox
 *   Easter and moves the fixed feasts by +13 days (Julian calendar);
 * - per-country extras this port has dates for: IR blackouts (2025-06-18..27, 2026-01-08..22) and Shab-e Yalda
 *   (Dec 21). Mozaic's other extras (AR, BR, CA, CN, DE, IN, IT, MX, PL) are hard-coded tables in mozaic that the
 *   spec does not list, so they are not reproduced.
 * Names are prefixed with the country code ("US: Christmas Day"); names falling on one date are joined with "; ".
 */
export interface HolidayDay {
  date: string;
  name: string;
  /** Blackout days (IR shutdowns): Mozaic sets their effect to -1. */
  blackout?: boolean;
}

const NO_CHRISTIAN = new Set(["IN", "JP", "IR", "CN"]);
const DATA_LOSS: [string, string][] = [
  ["2019-05-06", "2019-05-13"],
  ["2019-07-15", "2019-07-17"],
];
const IR_BLACKOUTS: [string, string][] = [
  ["2025-06-18", "2025-06-27"],
  ["2026-01-08", "2026-01-22"],
];

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const utc = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d);

const ruleCache = new Map<string, string[]>();

function ruleDays(rule: string, year: number): string[] {
  const key = `${rule}/${year}`;
  let days = ruleCache.get(key);
  if (!days) {
    const hd = new Holidays();
    hd.setHoliday(rule, { name: "x", type: "public" });
    days = hd.getHolidays(year).map((h) => h.date.slice(0, 10));
    ruleCache.set(key, days);
  }
  return days;
}

export function easter(year: number, orthodox = false): string {
  return ruleDays(orthodox ? "orthodox" : "easter", year)[0];
}

export function lunarNewYear(year: number): string {
  return ruleDays("chinese 01-0-01", year)[0];
}

/** Calendars already built in this process (every metric and source of a run asks for the same ones). */
const calendarCache = new Map<string, readonly HolidayDay[]>();

/** Mozaic's holiday calendar of one country, fromYear..toYear; memoised, so the result must not be modified. */
export function mozaicCalendar(country: string, fromYear: number, toYear: number): readonly HolidayDay[] {
  const key = `${country.toUpperCase()}/${fromYear}/${toYear}`;
  let cal = calendarCache.get(key);
  if (!cal) {
    cal = Object.freeze(buildCalendar(country, fromYear, toYear).map((h) => Object.freeze(h)));
    calendarCache.set(key, cal);
  }
  return cal;
}

function buildCalendar(country: string, fromYear: number, toYear: number): HolidayDay[] {
  const cc = country.toUpperCase();
  const names = new Map<string, Set<string>>();
  const blackouts = new Set<string>();
  const add = (date: string, name: string) => {
    const y = Number(date.slice(0, 4));
    if (y < fromYear || y > toYear) return;
    let s = names.get(date);
    if (!s) {
      s = new Set();
      names.set(date, s);
    }
    s.add(`${cc}: ${name}`);
  };
  const addRange = (from: string, to: string, name: string, blackout = false) => {
    for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY) {
      add(iso(t), name);
      if (blackout) blackouts.add(iso(t));
    }
  };
  const base = cc === "ROW" ? "US" : cc;
  const hd = new Holidays();
  hd.init(base, { languages: ["en"] });
  if (!hd.getCountries()[base] || hd.getHolidays(fromYear).length === 0) {
    throw new NonRetriableError(`no holiday calendar for country "${country}"`, {
      field: "country",
      fix: "use an ISO 3166-1 alpha-2 code or ROW",
    });
  }
  for (let y = fromYear; y <= toYear; y++) {
    for (const h of hd.getHolidays(y)) if (h.type === "public") add(h.date.slice(0, 10), h.name);
    if (cc === "ROW") add(`${y}-05-01`, "International Workers' Day");
    add(`${y}-12-24`, "Christmas Eve (global)");
    add(`${y}-12-31`, "New Year's Eve (global)");
    add(`${y}-01-01`, "New Year's Day (global)");
    add(lunarNewYear(y), "Lunar New Year");
    if (!NO_CHRISTIAN.has(cc)) {
      const ru = cc === "RU";
      const e = Date.parse(`${easter(y, ru)}T00:00:00Z`);
      const shift = ru ? 13 : 0;
      for (const [off, name] of [
        [-47, "Mardi Gras"],
        [-7, "Palm Sunday"],
        [-2, "Good Friday"],
        [0, "Easter"],
        [39, "Ascension"],
        [60, "Corpus Christi"],
      ] as const) {
        add(iso(e + off * DAY), name);
      }
      for (const [m, d, name] of [
        [8, 15, "Assumption"],
        [11, 1, "All Saints"],
        [1, 6, "Epiphany"],
      ] as const) {
        add(iso(utc(y, m, d) + shift * DAY), name);
      }
    }
    if (cc === "IR") add(`${y}-12-21`, "Shab-e Yalda");
  }
  for (const [a, b] of DATA_LOSS) addRange(a, b, "Data Loss");
  if (cc === "IR") for (const [a, b] of IR_BLACKOUTS) addRange(a, b, "Blackout", true);
  return [...names.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([date, set]) => ({
      date,
      name: [...set].join("; "),
      ...(blackouts.has(date) ? { blackout: true } : {}),
    }));
}
