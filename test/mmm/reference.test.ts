import { describe, expect, it } from "vitest";
import { evaluateModel, prepareModel } from "../../containers/mmm/model.ts";
import { close, loadReference, loadRefFrame, refSpec } from "./helpers.ts";

// R 4.2.2 + glmnet 4.1-6 + prophet 1.0 on the Robyn demo (shared/data/robyn/reference): the contract is relative 1e-4.
const ref = loadReference();
const frame = loadRefFrame();

describe("reference agreement with R (Robyn iteration, glmnet ridge)", () => {
  it("snaps the demo window to rows 7..163 and computes lambda_max/min from the raw frame", () => {
    const prep = prepareModel(frame, refSpec("geometric", ref.geometric));
    expect([prep.ws + 1, prep.we]).toEqual([7, 163]);
    expect(close(prep.lambdaMax, ref.lambda_max, 1e-10)).toBe(true);
    expect(close(prep.lambdaMin, ref.lambda_min, 1e-10)).toBe(true);
  });

  for (const adstock of ["geometric", "weibull_pdf"] as const) {
    it(`reproduces coefficients, NRMSE, DECOMP.RSSD, R² and ROAS (${adstock})`, () => {
      const rc = ref[adstock];
      const prep = prepareModel(frame, refSpec(adstock, rc));
      const res = evaluateModel(prep, rc.hyperparameters);
      const coef = [res.intercept, ...res.coef];
      expect(coef).toHaveLength(rc.result.coef.length);
      for (const [i, c] of coef.entries()) {
        expect(close(c, rc.result.coef[i], 1e-6), `coef ${i}: ${c} vs ${rc.result.coef[i]}`).toBe(true);
      }
      expect(close(res.lambda, rc.result.lambda, 1e-10)).toBe(true);
      expect(close(res.nrmse, rc.result.nrmse, 1e-6)).toBe(true);
      expect(close(res.decompRssd, rc.result.decomp_rssd, 1e-6)).toBe(true);
      expect(close(res.rsqTrain, rc.result.rsq_train, 1e-6)).toBe(true);
      expect(close(res.adjRsqTrain, rc.result.adj_rsq_train, 1e-6)).toBe(true);
      expect(res.interceptDropped).toBe(rc.result.intercept_dropped);
      for (const [i, v] of Array.from(res.inflexion).entries()) {
        expect(close(v, rc.result.inflexion[i], 1e-10)).toBe(true);
      }
      for (const [i, v] of Array.from(res.xDecompAgg).entries()) {
        expect(close(v, rc.result.xDecompAgg[i], 1e-6, 1e-3)).toBe(true);
      }
      for (const [i, v] of Array.from(res.effectShare).entries()) {
        expect(close(v, rc.result.effect_share[i], 1e-6)).toBe(true);
      }
      for (const [i, v] of Array.from(res.roiTotal).entries()) {
        expect(close(v, rc.result.roi_total[i], 1e-6)).toBe(true);
      }
    });
  }

  it("the Weibull PDF case has binding lower bounds (trend and print_S at exactly 0)", () => {
    const rc = ref.weibull_pdf;
    const res = evaluateModel(prepareModel(frame, refSpec("weibull_pdf", rc)), rc.hyperparameters);
    expect(res.coef[res.names.indexOf("trend")]).toBe(0);
    expect(res.coef[res.names.indexOf("print_S")]).toBe(0);
  });
});
