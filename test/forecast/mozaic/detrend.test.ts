import { describe, expect, it } from "vitest";
import { detrendHolidays, kinematicK } from "../../../containers/forecast/mozaic/detrend.ts";

describe("kinematic holiday detrend", () => {
  const n = 120;
  const days = Array.from({ length: n }, (_, i) => 19000 + i);
  const clean = days.map((_, i) => 1000 + 2 * i + 100 * Math.sin((2 * Math.PI * i) / 7));

  it("replaces a dip on a holiday with the extrapolated expectation", () => {
    const y = clean.slice();
    y[70] *= 0.6;
    const out = detrendHolidays(days, y, [days[70]]);
    expect(Math.abs(out[70] - clean[70]) / clean[70]).toBeLessThan(0.02);
    for (let i = 0; i < n; i++) if (i !== 70) expect(out[i]).toBe(y[i]);
  });

  it("blends with weight (minRadius+1)/(d+1) beyond the minimum radius and ignores days outside maxRadius", () => {
    const y = clean.slice();
    y[70] *= 0.6;
    const near = detrendHolidays(days, y, [days[66]]);
    const w = 4 / 5;
    expect(near[70]).toBeGreaterThan(y[70]);
    expect(Math.abs(near[70] - (w * clean[70] + (1 - w) * y[70])) / clean[70]).toBeLessThan(0.02);
    const far = detrendHolidays(days, y, [days[60]]);
    expect(far[70]).toBe(y[70]);
  });

  it("leaves spikes, dips smaller than the threshold and the first 21 days alone", () => {
    const y = clean.slice();
    y[50] *= 1.5;
    y[80] *= 0.97;
    y[10] *= 0.5;
    const out = detrendHolidays(days, y, [days[50], days[80], days[10]]);
    expect(out[50]).toBe(y[50]);
    expect(out[80]).toBe(y[80]);
    expect(out[10]).toBe(y[10]);
  });

  it("uses Mozaic's sigmoid for the clamp factor", () => {
    expect(kinematicK(5e5)).toBeCloseTo(1.5 + 3.25, 12);
    expect(kinematicK(0)).toBeLessThan(1.6);
    expect(kinematicK(1e8)).toBeCloseTo(8, 6);
  });
});
