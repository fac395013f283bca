import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { prepareModel } from "../../containers/mmm/model.ts";
import { selectPareto } from "../../containers/mmm/pareto.ts";
import { runTrial, search } from "../../containers/mmm/search.ts";
import { parseModelSpec } from "../../containers/mmm/spec.ts";
import { loadRefFrame } from "./helpers.ts";

const frame = loadRefFrame();
const parsed = parseModelSpec(
  JSON.parse(readFileSync("test/mmm/fixtures/demo_geometric.search.json", "utf8")),
);

describe("evolutionary search (TwoPointsDE-style)", () => {
  it("is reproducible under a seed and differs across seeds", () => {
    const prep = prepareModel(frame, parsed.spec);
    const opts = { iterations: 80, trials: 1, seed: 42, ranges: parsed.ranges, fixed: parsed.fixed };
    const a = runTrial(prep, opts, 1);
    const b = runTrial(prep, opts, 1);
    const c = runTrial(prep, { ...opts, seed: 43 }, 1);
    expect(a.map((x) => x.nrmse)).toEqual(b.map((x) => x.nrmse));
    expect(a.map((x) => x.nrmse)).not.toEqual(c.map((x) => x.nrmse));
    expect(a).toHaveLength(80);
    expect(a[0].solID).toBe("1_1_1");
    // every searched value lies in its range; lambda and train_size defaults applied
    for (const x of a) {
      for (const [k, [lo, hi]] of Object.entries(parsed.ranges)) {
        expect(x.hyp[k]).toBeGreaterThanOrEqual(lo);
        expect(x.hyp[k]).toBeLessThanOrEqual(hi);
      }
      expect(x.hyp.lambda).toBeGreaterThanOrEqual(0);
      expect(x.hyp.train_size).toBe(1);
    }
  });

  it("improves on random sampling: the best NRMSE after evolution beats the initial population's", () => {
    const prep = prepareModel(frame, parsed.spec);
    const c = runTrial(
      prep,
      { iterations: 600, trials: 1, seed: 7, ranges: parsed.ranges, fixed: parsed.fixed },
      1,
    );
    const initBest = Math.min(...c.slice(0, 30).map((x) => x.nrmse));
    const lateBest = Math.min(...c.slice(300).map((x) => x.nrmse));
    expect(lateBest).toBeLessThan(initBest);
    const { models } = selectPareto(c, { fronts: 1 });
    expect(models.length).toBeGreaterThan(0);
    // the first front is mutually non-dominated
    for (const m of models) {
      for (const o of models) {
        expect(o.nrmse < m.nrmse && o.decompRssd < m.decompRssd).toBe(false);
      }
    }
  });

  it("gives the same candidates with worker threads as in-thread", async () => {
    const opts = { iterations: 40, trials: 2, seed: 5, ranges: parsed.ranges, fixed: parsed.fixed };
    const inThread = await search(frame, parsed.spec, { ...opts, workers: 1 });
    const threaded = await search(frame, parsed.spec, { ...opts, workers: 2 });
    expect(threaded.candidates.map((c) => [c.solID, c.nrmse, c.decompRssd])).toEqual(
      inThread.candidates.map((c) => [c.solID, c.nrmse, c.decompRssd]),
    );
    expect(new Set(inThread.candidates.map((c) => c.trial))).toEqual(new Set([1, 2]));
  });

  it("splits train/validation/test with ts_validation and searches train_size in [0.5, 0.8]", () => {
    const spec = { ...parsed.spec, tsValidation: true };
    const prep = prepareModel(frame, spec);
    const c = runTrial(
      prep,
      { iterations: 40, trials: 1, seed: 1, ranges: parsed.ranges, fixed: parsed.fixed },
      1,
    );
    for (const x of c) {
      expect(x.hyp.train_size).toBeGreaterThanOrEqual(0.5);
      expect(x.hyp.train_size).toBeLessThanOrEqual(0.8);
      expect(x.nrmse).toBe(x.nrmseVal);
      expect(Number.isFinite(x.nrmseTest)).toBe(true);
    }
  });
});

describe("frontLoss (hypervolume scalarisation)", () => {
  it("scores dominated points by their distance to the front and front points by minus their exclusive area", async () => {
    const { frontLoss } = await import("../../containers/mmm/search.ts");
    const front = [
      [0.1, 0.5],
      [0.3, 0.2],
    ];
    expect(frontLoss([0.2, 0.6], front)).toBeCloseTo(Math.hypot(0.1, 0.1), 12);
    // [0.1, 0.5] on the front: width to the next point 0.2, height to the reference 0.5
    expect(frontLoss(front[0], front)).toBeCloseTo(-(0.2 * 0.5), 9);
    expect(frontLoss([0.3, 0.2], front)).toBeCloseTo(-(0.7 * 0.3), 9);
  });
});
