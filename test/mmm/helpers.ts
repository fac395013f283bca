import { readFileSync } from "node:fs";
import { parseFrameCsv } from "../../containers/mmm/frame.ts";
import type { ModelSpec } from "../../containers/mmm/model.ts";
import { teamData } from "../helpers/team-data.ts";

export const ROBYN_DIR = teamData("robyn");
export const REF_DIR = `${ROBYN_DIR}/reference`;

export interface RefCase {
  hyperparameters: Record<string, number>;
  result: {
    coef: number[];
    nrmse: number;
    rsq_train: number;
    adj_rsq_train: number;
    decomp_rssd: number;
    lambda: number;
    xDecompAgg: number[];
    effect_share: number[];
    total_spend: number[];
    roi_total: number[];
    inflexion: number[];
    intercept_dropped: boolean;
  };
}

export function loadReference(): {
  lambda_max: number;
  lambda_min: number;
  geometric: RefCase;
  weibull_pdf: RefCase;
} {
  return JSON.parse(readFileSync(`${REF_DIR}/ref_fit.json`, "utf8"));
}

export function loadRefFrame() {
  return parseFrameCsv(readFileSync(`${REF_DIR}/dt_mod_prophet.csv`, "utf8"), "ds", "dt_mod_prophet.csv");
}

export const PAID = ["tv_S", "ooh_S", "print_S", "facebook_I", "search_clicks_P"];

/** The demo roles of ref_fit.json on dt_mod_prophet.csv. */
export function refSpec(adstock: "geometric" | "weibull_pdf", ref: RefCase): ModelSpec {
  return {
    prophetVars: ["trend", "season", "holiday"],
    contextVars: ["competitor_sales_B", "events"],
    paidMediaVars: PAID,
    organicVars: ["newsletter"],
    adstock,
    window: { start: "2016-01-01", end: "2018-12-31" },
    spendTotals: Object.fromEntries(PAID.map((p, i) => [p, ref.result.total_spend[i]])),
  };
}

/** |a−b| ≤ rel·|b|, or ≤ abs when b is 0. */
export function close(a: number, b: number, rel: number, abs = 1e-9): boolean {
  return b === 0 ? Math.abs(a) <= abs : Math.abs(a - b) <= rel * Math.abs(b);
}
