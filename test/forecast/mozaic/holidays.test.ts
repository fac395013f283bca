import { describe, expect, it } from "vitest";
import { easter, lunarNewYear, mozaicCalendar } from "../../../containers/forecast/mozaic/holidays.ts";
import { NonRetriableError } from "../../../shared/core/errors.ts";

const on = (cal: readonly { date: string; name: string }[], date: string) =>
  cal.find((h) => h.date === date)?.name ?? "";

describe("Mozaic holiday calendars", () => {
  it("computes Western and Orthodox Easter and Lunar New Year", () => {
    expect(easter(2024)).toBe("2024-03-31");
    expect(easter(2024, true)).toBe("2024-05-05");
    expect(easter(2025, true)).toBe("2025-04-20");
    expect(lunarNewYear(2024)).toBe("2024-02-10");
    expect(lunarNewYear(2025)).toBe("2025-01-29");
    expect(lunarNewYear(2026)).toBe("2026-02-17");
  });

  it("uses Orthodox Easter and +13-day feasts for RU, the Western cycle elsewhere", () => {
    const ru = mozaicCalendar("RU", 2024, 2024);
    expect(on(ru, "2024-05-05")).toContain("RU: Easter");
    expect(on(ru, "2024-05-03")).toContain("RU: Good Friday");
    expect(on(ru, "2024-01-19")).toContain("RU: Epiphany");
    expect(on(ru, "2024-03-31")).not.toContain("Easter");
    const de = mozaicCalendar("DE", 2024, 2024);
    expect(on(de, "2024-03-31")).toContain("DE: Easter");
    expect(on(de, "2024-02-13")).toContain("Mardi Gras");
    expect(on(de, "2024-05-09")).toContain("Ascension");
    expect(on(de, "2024-05-30")).toContain("Corpus Christi");
    expect(on(de, "2024-01-06")).toContain("Epiphany");
  });

  it("skips the Christian cycle for IN, JP, IR and CN and adds the global days everywhere", () => {
    for (const cc of ["IN", "JP", "IR", "CN"]) {
      const cal = mozaicCalendar(cc, 2025, 2025);
      expect(cal.some((h) => /Easter|Palm Sunday|Corpus Christi/.test(h.name))).toBe(false);
      expect(on(cal, "2025-01-29")).toContain("Lunar New Year");
      expect(on(cal, "2025-12-24")).toContain("Christmas Eve");
    }
    expect(on(mozaicCalendar("US", 2025, 2025), "2025-01-29")).toBe("US: Lunar New Year");
  });

  it("includes country holidays, ROW's May 1, Mozilla data loss and IR's blackouts", () => {
    const us = mozaicCalendar("US", 2019, 2019);
    expect(on(us, "2019-07-04")).toContain("US: Independence Day");
    expect(on(us, "2019-11-28")).toContain("Thanksgiving");
    expect(on(us, "2019-05-08")).toBe("US: Data Loss");
    expect(on(us, "2019-01-01")).toMatch(/; /);
    expect(on(mozaicCalendar("ROW", 2024, 2024), "2024-05-01")).toContain("International Workers' Day");
    const ir = mozaicCalendar("IR", 2025, 2026);
    expect(ir.find((h) => h.date === "2026-01-10")?.blackout).toBe(true);
    expect(on(ir, "2025-12-21")).toContain("Shab-e Yalda");
    expect(() => mozaicCalendar("XX", 2024, 2024)).toThrow(NonRetriableError);
  });
});
