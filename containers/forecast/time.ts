import { NonRetriableError } from "../../shared/core/errors.ts";

/** Timestamps inside the engine are days since 1970-01-01 UTC (fractional for sub-daily data), as Prophet's Fourier terms use. */
const DAY_MS = 86_400_000;
const DS = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?)?(Z|[+-]00:?00)?$/;

export function parseDs(value: string, field = "ds"): number {
  const m = DS.exec(value.trim());
  if (!m) {
    throw new NonRetriableError(
      `${field} must be a date (YYYY-MM-DD) or a UTC timestamp (YYYY-MM-DD HH:MM:SS), got "${value}"`,
      {
        field,
        fix: "write dates as ISO 8601 in UTC",
      },
    );
  }
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d, Number(m[4] ?? 0), Number(m[5] ?? 0), 0) + Number(m[6] ?? 0) * 1000;
  const check = new Date(Date.UTC(y, mo - 1, d));
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) {
    throw new NonRetriableError(`${field} is not a calendar date: "${value}"`, {
      field,
      fix: "check the month's number of days",
    });
  }
  return ms / DAY_MS;
}

/** `YYYY-MM-DD` for whole days, `YYYY-MM-DD HH:MM:SS` otherwise. */
export function formatDs(days: number): string {
  const ms = Math.round(days * DAY_MS);
  const iso = new Date(ms).toISOString();
  return ms % DAY_MS === 0 ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** Whole day number of a timestamp (holiday matching is by calendar day). */
export function dayOf(days: number): number {
  return Math.floor(days + 1e-9);
}

/** Day of week with Monday = 0 .. Sunday = 6 (1970-01-01 was a Thursday). */
export function weekdayOf(days: number): number {
  return (((dayOf(days) + 3) % 7) + 7) % 7;
}
