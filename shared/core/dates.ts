import { NonRetriableError } from "./errors.ts";

/**
 * Partitions and dates, always in UTC. A daily partition is `YYYY-MM-DD`, a monthly one `YYYY-MM`; a `key`
 * partition is an opaque id (`modelId/runId`, an MMM run id) that is never enumerated.
 * Ranges are explicit about their ends: `inclusiveRange` includes both, as Tessera's backfills do.
 */

export type PartitionKind = "daily" | "monthly" | "key";

export const WEEKDAYS = [
  "sunday",
  "monday",
  "tuesday",
  "wednesday",
  "thursday",
  "friday",
  "saturday",
] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const DAY_MS = 86_400_000;
const DAILY = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTHLY = /^(\d{4})-(\d{2})$/;
const KEY = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/;

/** Parse `YYYY-MM-DD` into a UTC midnight Date; impossible dates (2024-02-30) are rejected. */
export function parseDay(value: string, field = "date"): Date {
  const m = DAILY.exec(value);
  if (!m) throw new NonRetriableError(`${field} must be a date as YYYY-MM-DD, got "${value}"`, { field });
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    throw new NonRetriableError(`${field} is not a calendar date: "${value}"`, {
      field,
      fix: "check the month's number of days",
    });
  }
  return date;
}

export function formatDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function parseMonth(value: string, field = "month"): Date {
  const m = MONTHLY.exec(value);
  const month = m ? Number(m[2]) : 0;
  if (!m || month < 1 || month > 12) {
    throw new NonRetriableError(`${field} must be a month as YYYY-MM, got "${value}"`, { field });
  }
  return new Date(Date.UTC(Number(m[1]), month - 1, 1));
}

export function formatMonth(date: Date): string {
  return date.toISOString().slice(0, 7);
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}

export function addMonths(date: Date, months: number): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1));
}

export function weekdayOf(date: Date): Weekday {
  return WEEKDAYS[date.getUTCDay()];
}

export function parseWeekday(value: string, field = "weekday"): Weekday {
  const v = value.trim().toLowerCase();
  const hit = WEEKDAYS.find((w) => w === v || w.slice(0, 3) === v);
  if (!hit) {
    throw new NonRetriableError(
      `${field} must be a day of the week (monday..sunday or mon..sun), got "${value}"`,
      {
        field,
      },
    );
  }
  return hit;
}

/** Today at UTC midnight. */
export function todayUtc(now: Date = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** Validate a partition of the given kind and return it in canonical form. */
export function parsePartition(kind: PartitionKind, value: string, field = "partition"): string {
  switch (kind) {
    case "daily":
      return formatDay(parseDay(value, field));
    case "monthly":
      return formatMonth(parseMonth(value, field));
    case "key":
      if (!KEY.test(value) || value.includes("..") || value.endsWith("/")) {
        throw new NonRetriableError(
          `${field} must be 1-200 characters of letters, digits, '.', '_', '-' and '/', got "${value}"`,
          { field },
        );
      }
      return value;
  }
}

/** Every partition from `from` to `to`, both included. */
export function inclusiveRange(kind: "daily" | "monthly", from: string, to: string): string[] {
  return exclusiveRange(
    kind,
    from,
    kind === "daily"
      ? formatDay(addDays(parseDay(to, "to"), 1))
      : formatMonth(addMonths(parseMonth(to, "to"), 1)),
  );
}

/** Every partition from `from` (included) to `end` (excluded), as the original mozaggregator scripts counted. */
export function exclusiveRange(kind: "daily" | "monthly", from: string, end: string): string[] {
  const out: string[] = [];
  if (kind === "daily") {
    const a = parseDay(from, "from");
    const b = parseDay(end, "to");
    for (let t = a.getTime(); t < b.getTime(); t += DAY_MS) out.push(formatDay(new Date(t)));
  } else {
    const b = parseMonth(end, "to");
    for (let d = parseMonth(from, "from"); d < b; d = addMonths(d, 1)) out.push(formatMonth(d));
  }
  return out;
}

/** Keep the daily partitions that fall on one of `weekdays` (all of them when the filter is empty). */
export function filterWeekdays(days: readonly string[], weekdays: readonly Weekday[]): string[] {
  if (weekdays.length === 0) return [...days];
  const set = new Set(weekdays);
  return days.filter((d) => set.has(weekdayOf(parseDay(d))));
}

/** The partition of the given kind that a moment falls into. */
export function partitionAt(kind: "daily" | "monthly", at: Date): string {
  return kind === "daily" ? formatDay(at) : formatMonth(at);
}

/** Compare partitions of one kind (ISO strings sort as their dates do). */
export function comparePartitions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
