import { describe, expect, it } from "vitest";
import { COUNTRIES, runtimeDates, VALIDATION_COUNTRIES } from "../../containers/mozaic-daily/config.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { mozaicDaily } from "../../shared/pipelines/mozaic-daily.ts";

describe("mozaic-daily dates", () => {
  it("starts the forecast at T-1, ends training at T-2 and the horizon on 31 December of next year", () => {
    const d = runtimeDates(new Date("2026-03-15T07:00:00Z"));
    expect(d).toEqual({
      forecastStartDate: "2026-03-14",
      trainingEndDate: "2026-03-13",
      forecastEndDate: "2027-12-31",
      forecastRunTimestamp: "2026-03-15 07:00:00",
    });
  });

  it("uses the UTC day: 5 PM PST on 1 January is already 2 January", () => {
    const d = runtimeDates(new Date("2025-01-01T17:00:00-08:00"));
    expect(d.forecastStartDate).toBe("2025-01-01");
    expect(d.trainingEndDate).toBe("2024-12-31");
    expect(d.forecastEndDate).toBe("2026-12-31");
  });

  it("takes an override for backfills, with the horizon from the override's year", () => {
    const d = runtimeDates(new Date("2026-03-15T07:00:00Z"), "2024-01-01");
    expect(d.forecastStartDate).toBe("2024-01-01");
    expect(d.trainingEndDate).toBe("2023-12-31");
    expect(d.forecastEndDate).toBe("2025-12-31");
  });

  it("accepts today and rejects a future start naming the field", () => {
    expect(runtimeDates(new Date("2026-03-15T07:00:00Z"), "2026-03-15").forecastStartDate).toBe("2026-03-15");
    try {
      runtimeDates(new Date("2026-03-15T07:00:00Z"), "2026-03-16");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(NonRetriableError);
      expect((err as NonRetriableError).field).toBe("forecastStartDate");
      expect((err as Error).message).toMatch(/future/);
    }
    expect(() => runtimeDates(new Date(), "2026-02-30")).toThrow(NonRetriableError);
  });

  it("has the 25 markets plus ALL and ROW", () => {
    expect(COUNTRIES).toHaveLength(25);
    expect(COUNTRIES.join(" ")).toBe(
      "AR AT AU BR BY CA CH CN DE ES FR GB ID IN IR IT JP KZ MX NL PL RU TR UA US",
    );
    expect(VALIDATION_COUNTRIES).toHaveLength(27);
  });

  it("registers a daily partition run at 07:00 UTC for yesterday", () => {
    expect(mozaicDaily.schedules).toEqual([{ name: "daily", cron: "0 7 * * *", timeZone: "UTC" }]);
    const at = new Date("2026-03-15T07:00:00Z");
    expect(mozaicDaily.partition.fromTick?.(at)).toBe("2026-03-14");
    expect(mozaicDaily.partition.latest?.(new Date("2026-03-15T00:30:00Z"))).toBe("2026-03-14");
    expect(mozaicDaily.params.safeParse({ testingMode: true, forecastStartDate: "2026-03-14" }).success).toBe(
      true,
    );
    expect(mozaicDaily.params.safeParse({ testing: true }).success).toBe(false);
    expect(mozaicDaily.tables[0].columns.map((c) => c.name)).toHaveLength(13);
  });
});
