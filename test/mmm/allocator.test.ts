import { describe, expect, it } from "vitest";
import { parseJobConfig } from "../../containers/mmm/jobconfig.ts";
import {
  allocateBudget,
  allocateTargetEfficiency,
  allocatorBounds,
  type ChannelSummary,
  type ModelDetails,
  responseCurve,
} from "../../containers/mmm/response.ts";
import { runAllocator } from "../../containers/mmm/run.ts";
import { tinyConfig } from "./pipeline-helpers.ts";

/** Channels with known concave (alpha < 1.5) Hill response curves; spends per period. */
function channel(
  name: string,
  coef: number,
  alpha: number,
  inflexion: number,
  meanSpend: number,
): ChannelSummary {
  return {
    name,
    paid: true,
    coef,
    alpha,
    inflexion,
    meanCarryover: 0,
    totalSpend: meanSpend * 52,
    xDecompAgg: 0,
    meanSpend,
    meanResponse: 0,
    immediateAgg: 0,
    carryoverAgg: 0,
    roiTotal: null,
    cpaTotal: null,
    effectShare: null,
    spendShare: null,
  };
}

const CHANNELS = [
  channel("TV_S", 200_000, 1.0, 30_000, 20_000),
  channel("SEARCH_S", 80_000, 0.8, 5_000, 8_000),
  channel("OOH_S", 50_000, 1.2, 10_000, 12_000),
];

const totals = (
  a: { optimalSpend: number; optimalResponse: number; initSpend: number; initResponse: number }[],
) => ({
  spend: a.reduce((s, x) => s + x.optimalSpend, 0),
  response: a.reduce((s, x) => s + x.optimalResponse, 0),
  initSpend: a.reduce((s, x) => s + x.initSpend, 0),
  initResponse: a.reduce((s, x) => s + x.initResponse, 0),
});

describe("budget allocator: target_efficiency", () => {
  it("by default spends until the ROAS falls to 0.8 × the historical ROAS, within 0.1..10 × the current spend", () => {
    const r = allocateTargetEfficiency({ channels: CHANNELS, depVarType: "revenue" });
    const t = totals(r.allocations);
    const histRoas = t.initResponse / t.initSpend;
    expect(r.metric).toBe("ROAS");
    expect(r.historical).toBeCloseTo(histRoas, 10);
    expect(r.target).toBeCloseTo(0.8 * histRoas, 10);
    expect(r.reached).toBe(true);
    expect(Math.abs(t.response / t.spend / r.target - 1)).toBeLessThan(1e-4);
    expect(r.achieved).toBeCloseTo(t.response / t.spend, 8);
    // Lower efficiency than history on concave curves means a larger budget and a larger response.
    expect(t.spend).toBeGreaterThan(t.initSpend);
    expect(t.response).toBeGreaterThan(t.initResponse);
    for (const [i, a] of r.allocations.entries()) {
      expect(a.optimalSpend).toBeGreaterThanOrEqual(0.1 * CHANNELS[i].meanSpend - 1e-6);
      expect(a.optimalSpend).toBeLessThanOrEqual(10 * CHANNELS[i].meanSpend + 1e-6);
      expect(a.optimalResponse).toBeCloseTo(responseCurve(CHANNELS[i], [a.optimalSpend])[0], 6);
    }
    // At that budget it is the max-response allocation.
    const check = allocateBudget({ channels: CHANNELS, budget: t.spend, low: 0.1, up: 10 });
    expect(totals(check).response).toBeLessThanOrEqual(t.response * (1 + 1e-6));
  });

  it("meets an explicit ROAS target and, on conversions, a CPA target (default 1.2 × historical CPA)", () => {
    const r = allocateTargetEfficiency({ channels: CHANNELS, depVarType: "revenue", target: 3 });
    const t = totals(r.allocations);
    expect(r.reached).toBe(true);
    expect(t.response / t.spend).toBeCloseTo(3, 3);

    const c = allocateTargetEfficiency({ channels: CHANNELS, depVarType: "conversion" });
    const tc = totals(c.allocations);
    expect(c.metric).toBe("CPA");
    expect(c.target).toBeCloseTo(1.2 * (tc.initSpend / tc.initResponse), 10);
    expect(tc.spend / tc.response / c.target).toBeCloseTo(1, 3);
  });

  it("reports an unreachable target instead of pretending: the lowest budget the bounds allow", () => {
    const r = allocateTargetEfficiency({ channels: CHANNELS, depVarType: "revenue", target: 1e6 });
    expect(r.reached).toBe(false);
    const t = totals(r.allocations);
    expect(t.spend).toBeCloseTo(0.1 * t.initSpend, 3);
    expect(r.achieved).toBeLessThan(1e6);
  });
});

describe("allocator bounds from the job config (the original's rules)", () => {
  it("channel_budgets: normalised to expected_spend, each channel's multiple ± 5 %, [0, 0] without history", () => {
    const chans = [...CHANNELS, channel("PRINT_S", 10_000, 1, 1000, 0)];
    const b = allocatorBounds(chans, {
      expectedSpend: 52 * 40_000,
      channelBudgets: { tv_s: 2, search_s: 1, ooh_s: 1, print_s: 0 },
      periods: 52,
    });
    expect(b.budget).toBeCloseTo(40_000, 6);
    const low = b.low as Record<string, number>;
    const up = b.up as Record<string, number>;
    // TV gets half of 40,000 = 20,000 per period = 1.0 × its mean spend.
    expect(low.TV_S).toBeCloseTo(0.95, 10);
    expect(up.TV_S).toBeCloseTo(1.05, 10);
    expect(up.SEARCH_S).toBeCloseTo((10_000 / 8_000) * 1.05, 10);
    expect([low.PRINT_S, up.PRINT_S]).toEqual([0, 0]);
    const a = allocateBudget({ channels: chans, ...b });
    expect(totals(a).spend).toBeCloseTo(40_000, 3);
  });

  it("expected_spend alone below 0.9 × history: bounds [0.01, min(2 · ratio, 2)]; otherwise Robyn's defaults", () => {
    const hist = 40_000;
    const b = allocatorBounds(CHANNELS, { expectedSpend: 52 * 0.5 * hist, periods: 52 });
    expect(b.low).toBe(0.01);
    expect(b.up).toBeCloseTo(1.0, 10);
    expect(allocatorBounds(CHANNELS, { expectedSpend: 52 * hist, periods: 52 })).toEqual({ budget: hist });
    expect(allocatorBounds(CHANNELS, { periods: 52 })).toEqual({});
  });

  it("runs the config's scenario and names expected_spend when a budget scenario lacks it", () => {
    const details = { channels: CHANNELS } as unknown as ModelDetails;
    const dates = Array.from({ length: 104 }, (_, i) =>
      new Date(Date.UTC(2020, 0, 6 + 7 * i)).toISOString().slice(0, 10),
    );
    const prep = { dates, we: dates.length };
    const eff = runAllocator(
      parseJobConfig({ ...tinyConfig, budget_scenario: "target_efficiency" }),
      details,
      prep,
    );
    expect(eff.scenario).toBe("target_efficiency");
    expect(eff.reached).toBe(true);
    expect(eff.periods).toBe(53);
    expect(() =>
      runAllocator(parseJobConfig({ ...tinyConfig, budget_scenario: "max_response" }), details, prep),
    ).toThrow(expect.objectContaining({ field: "expected_spend" }));
    const spent = runAllocator(
      parseJobConfig({ ...tinyConfig, budget_scenario: "max_response", expected_spend: 53 * 30_000 }),
      details,
      prep,
    );
    expect(totals(spent.allocations as never).spend).toBeCloseTo(30_000, 3);
  });
});
