import { describe, expect, it } from "vitest";
import {
  exclusiveRange,
  filterWeekdays,
  inclusiveRange,
  parseDay,
  parsePartition,
  parseWeekday,
  todayUtc,
  weekdayOf,
} from "../../shared/core/dates.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

describe("dates and partitions (UTC)", () => {
  it("rejects impossible and malformed dates, naming the field", () => {
    for (const bad of ["2024-02-30", "2023-02-29", "2024-13-01", "2024-6-1", "20240601", "yesterday"]) {
      let caught: unknown;
      try {
        parseDay(bad, "from");
      } catch (e) {
        caught = e;
      }
      expect(caught, bad).toBeInstanceOf(NonRetriableError);
      expect((caught as NonRetriableError).field).toBe("from");
    }
    expect(parseDay("2024-02-29").toISOString()).toBe("2024-02-29T00:00:00.000Z");
  });

  it("enumerates inclusive and exclusive ranges", () => {
    expect(inclusiveRange("daily", "2024-02-27", "2024-03-01")).toEqual([
      "2024-02-27",
      "2024-02-28",
      "2024-02-29",
      "2024-03-01",
    ]);
    expect(exclusiveRange("daily", "2024-02-27", "2024-03-01")).toEqual([
      "2024-02-27",
      "2024-02-28",
      "2024-02-29",
    ]);
    expect(inclusiveRange("daily", "2024-01-01", "2024-01-01")).toEqual(["2024-01-01"]);
    expect(inclusiveRange("monthly", "2023-11", "2024-02")).toEqual([
      "2023-11",
      "2023-12",
      "2024-01",
      "2024-02",
    ]);
    expect(inclusiveRange("daily", "2024-01-01", "2024-12-31")).toHaveLength(366);
  });

  it("filters weekdays", () => {
    const week = inclusiveRange("daily", "2024-06-10", "2024-06-23");
    expect(filterWeekdays(week, ["monday"])).toEqual(["2024-06-10", "2024-06-17"]);
    expect(filterWeekdays(week, ["saturday", "sunday"])).toEqual([
      "2024-06-15",
      "2024-06-16",
      "2024-06-22",
      "2024-06-23",
    ]);
    expect(filterWeekdays(week, [])).toHaveLength(14);
    expect(weekdayOf(parseDay("2024-06-15"))).toBe("saturday");
    expect(parseWeekday("Mon")).toBe("monday");
    expect(() => parseWeekday("funday", "weekdays.0")).toThrow(/weekdays.0 must be a day of the week/);
  });

  it("validates partitions by kind", () => {
    expect(parsePartition("daily", "2024-06-15")).toBe("2024-06-15");
    expect(parsePartition("monthly", "2024-06")).toBe("2024-06");
    expect(parsePartition("key", "model-1/run-2")).toBe("model-1/run-2");
    expect(() => parsePartition("monthly", "2024-00")).toThrow(/YYYY-MM/);
    for (const bad of ["../etc", "a/../b", "/abs", "a/", "", "x".repeat(201), "a b"]) {
      expect(() => parsePartition("key", bad), bad).toThrow(NonRetriableError);
    }
  });

  it("computes today in UTC whatever the local zone", () => {
    expect(todayUtc(new Date("2024-06-15T23:59:59-05:00")).toISOString()).toBe("2024-06-16T00:00:00.000Z");
  });
});
