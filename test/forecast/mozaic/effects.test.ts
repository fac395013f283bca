import { describe, expect, it } from "vitest";
import { holidayEffects } from "../../../containers/forecast/mozaic/effects.ts";

describe("country holiday effects", () => {
  const start = 19000;
  const hist = Array.from({ length: 800 }, (_, i) => start + i);
  const holidays = [start + 100, start + 465, start + 830].map((day) => ({
    date: "",
    name: "XX: Fest",
    day,
  }));
  const expected = hist.map(() => 100);
  const observed = hist.map((d) => (holidays.some((h) => h.day === d) ? 70 : 100));
  const forecastDays = Array.from({ length: 60 }, (_, i) => start + 800 + i);

  it("learns the dip from history and applies it on the next occurrence only", () => {
    const cal = [
      ...holidays,
      { date: "", name: "XX: Blackout", day: start + 850, blackout: true },
      { date: "", name: "XX: Data Loss", day: start + 200 },
    ];
    const { effect, newHolidays } = holidayEffects(hist, observed, expected, cal, forecastDays);
    const at = (day: number) => effect[forecastDays.indexOf(day)];
    expect(at(start + 830)).toBeLessThan(-0.25);
    expect(at(start + 830)).toBeGreaterThanOrEqual(-0.3 * 1.25 - 1e-12);
    expect(at(start + 810)).toBe(0);
    expect(at(start + 850)).toBe(-1);
    expect(newHolidays).toEqual(["XX: Blackout"]);
    for (const e of effect) expect(e).toBeLessThanOrEqual(0);
  });

  it("clips effects to [-0.6, 0] and ignores increases", () => {
    const deep = hist.map((d) => (holidays.some((h) => h.day === d) ? 5 : 100));
    const up = hist.map((d) => (holidays.some((h) => h.day === d) ? 180 : 100));
    const a = holidayEffects(hist, deep, expected, holidays, forecastDays).effect;
    const b = holidayEffects(hist, up, expected, holidays, forecastDays).effect;
    expect(Math.min(...a)).toBe(-0.6);
    expect(Math.max(...b)).toBe(0);
  });
});
