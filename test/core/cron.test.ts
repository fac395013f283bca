import { describe, expect, it } from "vitest";
import { cronMatches, nextFire, parseCron } from "../../shared/core/cron.ts";

describe("cron", () => {
  const cases: { cron: string; tz: string; after: string; next: string }[] = [
    { cron: "0 7 * * *", tz: "UTC", after: "2024-06-15T06:59:00Z", next: "2024-06-15T07:00:00.000Z" },
    { cron: "0 7 * * *", tz: "UTC", after: "2024-06-15T07:00:00Z", next: "2024-06-16T07:00:00.000Z" },
    { cron: "*/15 * * * *", tz: "UTC", after: "2024-06-15T10:01:00Z", next: "2024-06-15T10:15:00.000Z" },
    { cron: "0 3 * * mon", tz: "UTC", after: "2024-06-15T00:00:00Z", next: "2024-06-17T03:00:00.000Z" },
    { cron: "30 2 1 * *", tz: "UTC", after: "2024-01-31T00:00:00Z", next: "2024-02-01T02:30:00.000Z" },
    {
      cron: "0 9 * * 1-5",
      tz: "America/New_York",
      after: "2024-06-14T14:00:00Z",
      next: "2024-06-17T13:00:00.000Z",
    },
    { cron: "0 0 29 2 *", tz: "UTC", after: "2024-03-01T00:00:00Z", next: "2028-02-29T00:00:00.000Z" },
    // day-of-month OR day-of-week when both are restricted (Vixie cron)
    { cron: "0 0 13 * fri", tz: "UTC", after: "2024-06-01T00:00:00Z", next: "2024-06-07T00:00:00.000Z" },
    { cron: "0 7 * * 7", tz: "UTC", after: "2024-06-15T00:00:00Z", next: "2024-06-16T07:00:00.000Z" },
  ];
  for (const c of cases) {
    it(`${c.cron} in ${c.tz} after ${c.after}`, () => {
      const cron = parseCron(c.cron);
      const next = nextFire(cron, new Date(c.after), c.tz);
      expect(next.toISOString()).toBe(c.next);
      expect(cronMatches(cron, next, c.tz)).toBe(true);
    });
  }

  it("rejects malformed expressions with the field", () => {
    expect(() => parseCron("0 7 * *")).toThrow(/5 fields/);
    expect(() => parseCron("60 7 * * *")).toThrow(/minute 60 is outside 0-59/);
    expect(() => parseCron("0 7 * * funday")).toThrow(/day-of-week/);
    expect(() => parseCron("0 7 5-1 * *")).toThrow(/backwards/);
    expect(() => parseCron("*/0 * * * *")).toThrow(/step/);
  });
});
