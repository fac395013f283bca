import { describe, expect, it } from "vitest";
import { errorScores, paretoFronts, quantile, selectPareto } from "../../containers/mmm/pareto.ts";
import type { Candidate } from "../../containers/mmm/search.ts";

function cand(id: string, nrmse: number, rssd: number, mape = Number.NaN): Candidate {
  return {
    solID: id,
    trial: 1,
    iterNG: 1,
    iterPar: 1,
    hyp: {},
    nrmse,
    decompRssd: rssd,
    mape,
    nrmseTrain: nrmse,
    nrmseVal: Number.NaN,
    nrmseTest: Number.NaN,
    rsqTrain: 0,
    adjRsqTrain: 0,
    rsqVal: Number.NaN,
    rsqTest: Number.NaN,
    lambda: 1,
    interceptDropped: false,
    pos: 1,
  };
}

describe("Pareto selection (Robyn pareto_front)", () => {
  it("quantile is R's type 7", () => {
    expect(quantile([1, 2, 3, 4], 0.9)).toBeCloseTo(3.7, 12);
    expect(quantile([5], 0.1)).toBe(5);
  });

  it("peels fronts by the running minimum of the second objective", () => {
    const x = [0.1, 0.2, 0.3, 0.15, 0.25, 0.4];
    const y = [0.9, 0.5, 0.1, 0.95, 0.6, 0.05];
    expect(paretoFronts(x, y, 3)).toEqual([1, 1, 1, 2, 2, 1]);
    expect(paretoFronts(x, y, 1)).toEqual([1, 1, 1, 0, 0, 1]);
    // ties in y: only the first (lowest x) enters the front
    expect(paretoFronts([0.1, 0.2], [0.5, 0.5], 1)).toEqual([1, 0]);
  });

  it("drops models above the 90% quantiles, orders by front then error score", () => {
    const cs = [
      cand("a", 0.1, 0.9),
      cand("b", 0.2, 0.5),
      cand("c", 0.3, 0.1),
      cand("d", 0.15, 0.95),
      cand("e", 0.25, 0.6),
      cand("z", 5, 5),
    ];
    const { models, fronts } = selectPareto(cs, { fronts: 2 });
    expect(fronts[5]).toBe(0);
    expect(
      models
        .map((m) => m.solID)
        .slice(0, 3)
        .sort(),
    ).toEqual(["a", "b", "c"]);
    expect(models.every((m, i) => i === 0 || m.robynParetoFront >= models[i - 1].robynParetoFront)).toBe(
      true,
    );
    expect(models.find((m) => m.solID === "d")?.robynParetoFront).toBe(2);
  });

  it("error score is the weighted norm of min-max normalised errors", () => {
    const s = errorScores([cand("a", 0.1, 0.9), cand("b", 0.3, 0.1)]);
    expect(s[0]).toBeCloseTo(Math.sqrt((1 / 3) ** 2), 12);
    expect(s[1]).toBeCloseTo(1 / 3, 12);
  });

  it("applies the calibration constraint on MAPE.LIFT", () => {
    const cs = Array.from({ length: 20 }, (_, i) => cand(`m${i}`, 0.1 + i * 0.001, 0.5 - i * 0.01, i / 20));
    const { models } = selectPareto(cs, { fronts: 1, calibrationConstraint: 0.1 });
    expect(
      models.every(
        (m) =>
          m.mape <=
          quantile(
            cs.map((c) => c.mape),
            0.1,
          ),
      ),
    ).toBe(true);
  });
});
