/**
 * Five-field cron as Cloud Scheduler reads it (minute hour day-of-month month day-of-week), with lists,
 * ranges, steps, `*`, and month/day names; day-of-month and day-of-week combine with OR when both are
 * restricted, as in Vixie cron. Evaluated in an IANA time zone.
 */

export interface Cron {
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  daysOfMonth: Set<number>;
  months: Set<number>;
  daysOfWeek: Set<number>;
  domRestricted: boolean;
  dowRestricted: boolean;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

export function parseCron(source: string): Cron {
  const fields = source.trim().split(/\s+/);
  if (fields.length !== 5)
    throw new Error(`cron "${source}" must have 5 fields (minute hour day month weekday)`);
  const [mi, h, dom, mo, dow] = fields;
  const daysOfWeek = field(dow, 0, 7, DAYS, "day-of-week");
  if (daysOfWeek.has(7)) {
    daysOfWeek.delete(7);
    daysOfWeek.add(0);
  }
  return {
    source,
    minutes: field(mi, 0, 59, [], "minute"),
    hours: field(h, 0, 23, [], "hour"),
    daysOfMonth: field(dom, 1, 31, [], "day-of-month"),
    months: field(mo, 1, 12, MONTHS, "month", 1),
    daysOfWeek,
    domRestricted: dom !== "*" && dom !== "?",
    dowRestricted: dow !== "*" && dow !== "?",
  };
}

function field(
  text: string,
  min: number,
  max: number,
  names: string[],
  what: string,
  nameBase = 0,
): Set<number> {
  const out = new Set<number>();
  const value = (t: string): number => {
    const i = names.indexOf(t.toLowerCase());
    if (i >= 0) return i + nameBase;
    if (!/^\d+$/.test(t))
      throw new Error(`cron ${what} "${t}" is not a number${names.length ? " or name" : ""}`);
    const n = Number(t);
    if (n < min || n > max) throw new Error(`cron ${what} ${n} is outside ${min}-${max}`);
    return n;
  };
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new Error(`cron ${what} step "${stepText}" must be a positive integer`);
    let lo: number;
    let hi: number;
    if (range === "*" || range === "?") {
      lo = min;
      hi = max;
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      lo = value(a);
      hi = value(b);
      if (lo > hi) throw new Error(`cron ${what} range ${range} runs backwards`);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(at: Date, timeZone: string): LocalTime {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      weekday: "short",
    });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(at)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    weekday: DAYS.indexOf(parts.weekday.toLowerCase().slice(0, 3)),
  };
}

function dayMatches(cron: Cron, t: LocalTime): boolean {
  const dom = cron.daysOfMonth.has(t.day);
  const dow = cron.daysOfWeek.has(t.weekday);
  if (cron.domRestricted && cron.dowRestricted) return dom || dow;
  return dom && dow;
}

export function cronMatches(cron: Cron, at: Date, timeZone: string): boolean {
  const t = localTime(at, timeZone);
  return (
    cron.months.has(t.month) && dayMatches(cron, t) && cron.hours.has(t.hour) && cron.minutes.has(t.minute)
  );
}

/** The first minute strictly after `after` at which the cron fires in `timeZone` (searches up to ~4 years). */
export function nextFire(cron: Cron, after: Date, timeZone: string): Date {
  const MIN = 60_000;
  let t = Math.floor(after.getTime() / MIN) * MIN + MIN;
  const limit = t + 4 * 366 * 86_400_000;
  while (t < limit) {
    const lt = localTime(new Date(t), timeZone);
    if (!cron.months.has(lt.month) || !dayMatches(cron, lt)) {
      t += ((23 - lt.hour) * 60 + (60 - lt.minute)) * MIN;
      continue;
    }
    if (!cron.hours.has(lt.hour)) {
      t += (60 - lt.minute) * MIN;
      continue;
    }
    if (cron.minutes.has(lt.minute)) return new Date(t);
    t += MIN;
  }
  throw new Error(`cron "${cron.source}" never fires`);
}
