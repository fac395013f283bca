import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseFrameCsv } from "../../containers/mmm/frame.ts";
import { evaluateModel, prepareModel } from "../../containers/mmm/model.ts";
import { parseModelSpec } from "../../containers/mmm/spec.ts";
import { NonRetriableError } from "../core/errors.ts";
import { type Io, parseVerbArgs, UsageError, type Verb } from "./verb.ts";

const help = `Usage:
  tessera mmm evaluate --frame FILE.csv --spec SPEC.json
      Fits one Robyn-method model on a prepared model frame (columns as Robyn's dt_mod: ds, dep_var, prophet
      columns, context, media) with the fixed hyperparameters in SPEC, and prints
      {coef: {name: value}, nrmse, decomp_rssd, rsq_train, lambda, ...} as JSON.

SPEC fields: dep_var ["dep_var"], date_var ["ds"], prophet_vars, context_vars, paid_media_vars (required),
  organic_vars, adstock (geometric | weibull_cdf | weibull_pdf), window_start, window_end, hyperparameters
  ({media}_thetas|shapes|scales|alphas|gammas, lambda in [0,1], train_size), spend_totals ({paid var: window spend}),
  signs ({var: positive|negative|default}), intercept_sign [non_negative], rssd_zero_penalty [true], ts_validation [false].

Example:
  tessera mmm evaluate --frame dt_mod_prophet.csv --spec test/mmm/fixtures/ref_geometric.spec.json
`;

async function readInput(io: Io, path: string, flag: string): Promise<string> {
  try {
    return await readFile(resolve(io.cwd, path), "utf8");
  } catch (err) {
    throw new NonRetriableError(`${flag} ${path}: ${(err as Error).message}`, {
      field: flag,
      fix: "give a readable file",
    });
  }
}

async function loadModel(io: Io, framePath: string | undefined, specPath: string | undefined) {
  if (!framePath) throw new UsageError("--frame FILE.csv is required");
  if (!specPath) throw new UsageError("--spec SPEC.json is required");
  const specText = await readInput(io, specPath, "--spec");
  let json: unknown;
  try {
    json = JSON.parse(specText);
  } catch (err) {
    throw new NonRetriableError(`--spec ${specPath}: not JSON (${(err as Error).message})`, {
      field: "--spec",
    });
  }
  const parsed = parseModelSpec(json, specPath);
  const frame = parseFrameCsv(
    await readInput(io, framePath, "--frame"),
    parsed.spec.dateVar ?? "ds",
    framePath,
  );
  return { parsed, prep: prepareModel(frame, parsed.spec) };
}

function num(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

async function evaluate(argv: string[], io: Io): Promise<number> {
  const { values } = parseVerbArgs(argv, { frame: { type: "string" }, spec: { type: "string" } }, false);
  const { parsed, prep } = await loadModel(io, values.frame, values.spec);
  const missing = Object.keys(parsed.ranges);
  if (missing.length > 0) {
    throw new NonRetriableError(`evaluate needs fixed hyperparameters; ${missing.join(", ")} are ranges`, {
      field: "hyperparameters",
      fix: "give single values, or use `tessera mmm train` to search ranges",
    });
  }
  const res = evaluateModel(prep, parsed.fixed);
  const coef: Record<string, number> = { "(Intercept)": res.intercept };
  res.names.forEach((n, j) => {
    coef[n] = res.coef[j];
  });
  const paid = prep.mediaNames.slice(0, prep.paidCount);
  const out = {
    coef,
    nrmse: num(res.nrmse),
    decomp_rssd: num(res.decompRssd),
    rsq_train: num(res.rsqTrain),
    lambda: res.lambda,
    adj_rsq_train: num(res.adjRsqTrain),
    lambda_hp: num(res.lambdaHp),
    lambda_max: prep.lambdaMax,
    lambda_min: prep.lambdaMin,
    intercept_dropped: res.interceptDropped,
    nrmse_train: num(res.nrmseTrain),
    nrmse_val: num(res.nrmseVal),
    nrmse_test: num(res.nrmseTest),
    mape: num(res.mape),
    window: { start: prep.dates[prep.ws], end: prep.dates[prep.we - 1], n: prep.we - prep.ws },
    effect_share: Object.fromEntries(paid.map((n, k) => [n, res.effectShare[k]])),
    spend_share: Object.fromEntries(paid.map((n, k) => [n, res.spendShare[k]])),
    roi_total: Object.fromEntries(paid.map((n, k) => [n, num(res.roiTotal[k])])),
  };
  io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

const verb: Verb = {
  name: "mmm",
  summary: "Robyn-method marketing-mix models: evaluate one model on a model frame",
  help,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === "evaluate") return evaluate(rest, io);
    throw new UsageError(
      sub ? `unknown subcommand "${sub}" (evaluate)` : "a subcommand is required: evaluate",
    );
  },
};

export default verb;
