import { describe, expect, it } from "vitest";
import { regionPeriodSums, spatialAggregation, type Temporal } from "../../containers/causemos/aggregate.ts";
import { seededRandom } from "../../containers/causemos/generator.ts";
import { groupByKey } from "../../containers/causemos/group.ts";

/** A temporal table of `n` rows over `series` series and `np` periods, with missing t_means and -0 sums. */
function table(n: number, series: number, np: number, seed: number): Temporal {
  const random = seededRandom(seed);
  const t: Temporal = {
    res: "month",
    rows: n,
    periods: Array.from({ length: np }, (_, p) => p * 1000),
    series: new Int32Array(n),
    period: new Int32Array(n),
    tSum: new Float64Array(n),
    tMean: new Float64Array(n),
    count: new Float64Array(n),
  };
  for (let r = 0; r < n; r++) {
    t.series[r] = Math.floor(random() * series);
    t.period[r] = Math.floor(random() * np);
    t.tSum[r] = r % 11 === 0 ? -0 : random() * 100 - 30;
    t.tMean[r] = r % 7 === 0 ? Number.NaN : random() * 10;
  }
  return t;
}

describe("regionPeriodSums (the region x period grouping summed in one pass)", () => {
  it("gives the groups, keys and sums of groupByKey over the keys and spatialAggregation", () => {
    for (const [regions, np, seed] of [
      [40, 3, 1],
      [1, 1, 2],
      [300, 12, 3],
    ]) {
      const t = table(5000, 200, np, seed);
      const ofSeries = Int32Array.from({ length: 200 }, (_, s) => (s * 7) % regions);
      // A feature's rows: every other row, in order.
      const rows = Int32Array.from({ length: 2500 }, (_, k) => 2 * k);
      for (const regionOf of [ofSeries, undefined]) {
        const keys = Float64Array.from(rows, (r) =>
          regionOf ? regionOf[t.series[r]] * np + t.period[r] : t.period[r],
        );
        const keyCount = regionOf ? regions * np : np;
        const g = groupByKey(keys, keyCount - 1);
        const expected = spatialAggregation(t, rows, g.groupOf, g.groups, false);
        const fused = regionPeriodSums(t, rows, regionOf, np, keyCount);
        expect(fused.groups).toBe(g.groups);
        expect([...fused.groupKey]).toEqual([...g.firstRow].map((k) => keys[k]));
        for (let c = 0; c < 2; c++) {
          expect([...fused.s.sum[c]]).toEqual([...expected.sum[c]]);
          expect([...fused.s.count[c]]).toEqual([...expected.count[c]]);
        }
      }
    }
  });
});
