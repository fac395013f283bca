import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { convergence } from "../../containers/mmm/convergence.ts";
import { exposureInSpendUnits } from "../../containers/mmm/exposure.ts";
import { parseFrameCsv } from "../../containers/mmm/frame.ts";
import { evaluateModel, prepareModel } from "../../containers/mmm/model.ts";
import { runTrial } from "../../containers/mmm/search.ts";
import { close, loadReference, loadRefFrame, ROBYN_DIR, refSpec } from "./helpers.ts";

const ref = loadReference();
const frame = loadRefFrame();

describe("exposure handling", () => {
  it("rescales facebook_I impressions into spend units exactly as dt_mod_prophet.csv holds them", () => {
    const raw = parseFrameCsv(
      readFileSync(`${ROBYN_DIR}/dt_simulated_weekly.csv`, "utf8").replace(/"na"|"event1"|"event2"/g, "0"),
      "DATE",
      "dt_simulated_weekly.csv",
    );
    const scaled = exposureInSpendUnits(raw.columns.facebook_I, raw.columns.facebook_S, 6, 163);
    const mod = frame.columns.facebook_I;
    for (let i = 0; i < mod.length; i++) expect(close(scaled[i], mod[i], 1e-9, 1e-6)).toBe(true);
  });
});

describe("other adstocks and calibration", () => {
  it("Weibull CDF fits and its weights start at 1 (no delayed peak)", () => {
    const rc = ref.weibull_pdf;
    const res = evaluateModel(prepareModel(frame, refSpec("weibull_pdf", rc)), rc.hyperparameters);
    const cdf = evaluateModel(
      prepareModel(frame, { ...refSpec("weibull_pdf", rc), adstock: "weibull_cdf" }),
      rc.hyperparameters,
    );
    expect(Number.isFinite(cdf.nrmse)).toBe(true);
    expect(cdf.nrmse).not.toBe(res.nrmse);
    // CDF adstock keeps at least the raw spend, so its inflexions are at least the PDF's (whose first weight < 1)
    for (let m = 0; m < cdf.inflexion.length; m++) expect(cdf.inflexion[m]).toBeGreaterThan(0);
  });

  it("MAPE.LIFT compares the model's scaled channel effect over a study with the lift", () => {
    const rc = ref.geometric;
    const base = refSpec("geometric", rc);
    const plain = evaluateModel(prepareModel(frame, base), rc.hyperparameters, { keepSeries: true });
    // A study equal to the model's own total-scope prediction over four weeks has zero error.
    const m = plain.names.indexOf("tv_S");
    const sat = plain.mediaSaturated?.[0] as Float64Array;
    const prep0 = prepareModel(frame, base);
    const start = prep0.ws + 20;
    let pred = 0;
    for (let i = start; i < start + 4; i++) pred += plain.coef[m] * sat[i - prep0.ws];
    const liftAbs = (pred / 28) * 28; // 4 weekly rows = 28 days; study 28 days
    const study = {
      channel: "tv_S",
      liftStartDate: frame.dates[start],
      liftEndDate: new Date(Date.parse(frame.dates[start]) + 27 * 86_400_000).toISOString().slice(0, 10),
      liftAbs,
      calibrationScope: "total" as const,
    };
    const exact = evaluateModel(prepareModel(frame, { ...base, calibration: [study] }), rc.hyperparameters);
    expect(exact.mape).toBeCloseTo(0, 10);
    const off = evaluateModel(
      prepareModel(frame, { ...base, calibration: [{ ...study, liftAbs: liftAbs * 2 }] }),
      rc.hyperparameters,
    );
    expect(off.mape).toBeCloseTo(0.5, 10);
    const imm = evaluateModel(
      prepareModel(frame, { ...base, calibration: [{ ...study, calibrationScope: "immediate" }] }),
      rc.hyperparameters,
    );
    // immediate scope removes the carryover from before the study, so the prediction is lower than the lift
    expect(imm.mape).toBeGreaterThan(0);
    // the calibrated search optimises three objectives
    const cands = runTrial(
      prepareModel(frame, { ...base, calibration: [study] }),
      { iterations: 40, trials: 1, seed: 3, ranges: { tv_S_thetas: [0.3, 0.8] }, fixed: rc.hyperparameters },
      1,
    );
    expect(cands.every((c) => Number.isFinite(c.mape))).toBe(true);
  });
});

describe("convergence report", () => {
  it("flags an objective as converged when the last bin is tighter and lower than the first bins", () => {
    const rc = ref.geometric;
    const prep = prepareModel(frame, refSpec("geometric", rc));
    const ranges: Record<string, [number, number]> = {};
    for (const k of Object.keys(rc.hyperparameters))
      if (k !== "lambda")
        ranges[k] = k.endsWith("thetas") ? [0, 0.8] : k.endsWith("alphas") ? [0.5, 3] : [0.3, 1];
    const cands = runTrial(prep, { iterations: 400, trials: 1, seed: 2, ranges, fixed: {} }, 1);
    const rep = convergence(cands);
    expect(rep.map((r) => r.objective)).toEqual(["nrmse", "decomp.rssd"]);
    expect(rep[0].medians).toHaveLength(20);
    for (const r of rep) expect(r.message).toMatch(/converged/);
  });
});

describe("model frame (Robyn dt_mod)", () => {
  it("rebuilds dt_mod_prophet.csv from the raw simulated data plus the Prophet decomposition", async () => {
    const { buildModelFrame, windowSpendTotals } = await import("../../containers/mmm/modelframe.ts");
    const raw = parseFrameCsv(
      readFileSync(`${ROBYN_DIR}/dt_simulated_weekly.csv`, "utf8").replace(/"na"|"event1"|"event2"/g, "0"),
      "DATE",
      "dt_simulated_weekly.csv",
    );
    const roles = {
      depVar: "revenue",
      paidMediaSpends: ["tv_S", "ooh_S", "print_S", "facebook_S", "search_S"],
      paidMediaVars: ["tv_S", "ooh_S", "print_S", "facebook_I", "search_clicks_P"],
      organicVars: ["newsletter"],
      contextVars: ["competitor_sales_B", "events"],
      factorVars: ["events"],
      prophetVars: ["trend", "season", "holiday"],
      window: { start: "2016-01-01", end: "2018-12-31" },
    };
    // The Prophet part (trend, season, holiday, the events regressor) as R prophet produced it.
    const baseline = {
      trend: frame.columns.trend,
      season: frame.columns.season,
      holiday: frame.columns.holiday,
      events: frame.columns.events,
    };
    const built = buildModelFrame(raw, roles, baseline);
    expect(Object.keys(built.columns)).toEqual(Object.keys(frame.columns));
    for (const [name, c] of Object.entries(frame.columns)) {
      for (let i = 0; i < c.length; i++)
        expect(close(built.columns[name][i], c[i], 1e-9, 1e-6), `${name}[${i}]`).toBe(true);
    }
    const totals = windowSpendTotals(raw, roles);
    const want = ref.geometric.result.total_spend;
    roles.paidMediaVars.forEach((v, i) => {
      expect(close(totals[v], want[i], 1e-9)).toBe(true);
    });
  });
});
