import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { convergence } from "../../containers/mmm/convergence.ts";
import { parseFrameCsv } from "../../containers/mmm/frame.ts";
import { evaluateModel, prepareModel } from "../../containers/mmm/model.ts";
import { selectPareto } from "../../containers/mmm/pareto.ts";
import { allocateBudget, modelDetails } from "../../containers/mmm/response.ts";
import { search } from "../../containers/mmm/search.ts";
import { parseModelSpec } from "../../containers/mmm/spec.ts";
import { NonRetriableError } from "../core/errors.ts";
import { type Io, parseVerbArgs, UsageError, type Verb } from "./verb.ts";

const help = `Usage:
  tessera mmm evaluate --frame FILE.csv --spec SPEC.json
      Fits one Robyn-method model on a prepared model frame (columns as Robyn's dt_mod: ds, dep_var, prophet
      columns, context, media) with the fixed hyperparameters in SPEC, and prints
      {coef: {name: value}, nrmse, decomp_rssd, rsq_train, lambda, ...} as JSON.
  tessera mmm train --config JOB_CONFIG.json [--data FILE.csv] [--out DIR] [--run-id ID]
      Runs a full training locally with progress on stderr, the pipeline's steps in this process (prepare, the
      trials, Pareto merge, one-pagers, allocator, summary): the job config is the API's (country, dep_var,
      paid_media_spends, iterations, trials, ...); the data is FILE.csv if given, else the config's source
      (a warehouse table on the local DuckDB, \`.tessera/warehouse.duckdb\`). Artifacts go under
      DIR/robyn/<revision>/<country>/<timestamp>/ (default: the local data bucket, .tessera/objects/tessera-data).
      Prints the model summary as JSON.
  tessera mmm train --frame FILE.csv --spec SPEC.json [--iterations 2000] [--trials 5] [--seed 123]
                    [--workers N] [--fronts auto|N] [--candidates-csv OUT.csv]
      Searches the hyperparameter ranges in SPEC (values given as [lo, hi]; lambda defaults to [0, 1]) with the
      seeded TwoPointsDE-style search (trials over worker threads), prints progress to stderr and, as JSON, the
      Pareto models and the best one's decomposition, ROAS/CPA and max_response allocation.

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

function intFlag(v: string | undefined, flag: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer in ${min}..${max}, got "${v}"`);
  return n;
}

async function trainConfig(
  values: { config?: string; data?: string; out?: string; "run-id"?: string },
  io: Io,
): Promise<number> {
  const path = values.config as string;
  let config: unknown;
  try {
    config = JSON.parse(await readInput(io, path, "--config"));
  } catch (err) {
    if (err instanceof NonRetriableError) throw err;
    throw new NonRetriableError(`--config ${path}: not JSON (${(err as Error).message})`, {
      field: "--config",
      fix: "give the job config as a JSON object",
    });
  }
  // The config's own errors first, before any store or warehouse is opened.
  const { parseJobConfig } = await import("../../containers/mmm/jobconfig.ts");
  parseJobConfig(config, `--config ${path}`);
  const { trainLocally } = await import("../../containers/mmm/local-train.ts");
  const { csvRows } = await import("../../containers/mmm/source.ts");
  const { createLocalObjects } = await import("../adapters/local/objects.ts");
  const { loadRuntimeConfig } = await import("../runtime/config.ts");
  const { createLogger } = await import("../core/log.ts");
  const runtime = loadRuntimeConfig(io.env, io.cwd);
  const store = values.out
    ? createLocalObjects({ root: dirname(resolve(io.cwd, values.out)) }).bucket(basename(values.out))
    : createLocalObjects({ root: join(runtime.stateDir, "objects") }).bucket(runtime.dataBucket);
  const rows = values.data ? csvRows(await readInput(io, values.data, "--data")) : undefined;
  let warehouse: import("../adapters/ports.ts").Warehouse | undefined;
  if (!rows) {
    const { createLocalWarehouse } = await import("../adapters/local/warehouse.ts");
    warehouse = createLocalWarehouse({ path: join(runtime.stateDir, "warehouse.duckdb"), releaseAfterMs: 0 });
  }
  const log = createLogger({
    sink: { write: (e) => io.stderr.write(`${e.message}\n`) },
    minSeverity: "WARNING",
  });
  const started = Date.now();
  try {
    const { record, summary } = await trainLocally({
      config,
      store,
      log,
      rows,
      warehouse,
      runId: values["run-id"],
      onStep: (step, detail) =>
        io.stderr.write(`mmm train: [${((Date.now() - started) / 1000).toFixed(1)} s] ${step}: ${detail}\n`),
    });
    io.stderr.write(
      `mmm train: artifacts in ${store.uri(`${record.prefix}status.json`).replace(/status\.json$/, "")}\n`,
    );
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await warehouse?.close();
  }
  return 0;
}

async function train(argv: string[], io: Io): Promise<number> {
  const { values } = parseVerbArgs(
    argv,
    {
      config: { type: "string" },
      data: { type: "string" },
      out: { type: "string" },
      "run-id": { type: "string" },
      frame: { type: "string" },
      spec: { type: "string" },
      iterations: { type: "string" },
      trials: { type: "string" },
      seed: { type: "string" },
      workers: { type: "string" },
      fronts: { type: "string" },
      "candidates-csv": { type: "string" },
    },
    false,
  );
  if (values.config) {
    if (values.frame || values.spec) throw new UsageError("give --config, or --frame with --spec, not both");
    return trainConfig(values, io);
  }
  if (values.data || values.out) throw new UsageError("--data and --out go with --config");
  const iterations = intFlag(values.iterations, "--iterations", 2000, 1, 10_000);
  const trials = intFlag(values.trials, "--trials", 5, 1, 20);
  const seed = intFlag(values.seed, "--seed", 123, 0, 2 ** 31 - 1);
  const workers = values.workers === undefined ? undefined : intFlag(values.workers, "--workers", 1, 1, 64);
  const fronts =
    values.fronts === undefined || values.fronts === "auto"
      ? "auto"
      : intFlag(values.fronts, "--fronts", 1, 1, 20);
  const { parsed, prep } = await loadModel(io, values.frame, values.spec);
  const frame = {
    dates: prep.dates,
    columns: Object.fromEntries([
      ...prep.baselineNames.map((n, j) => [n, prep.baselineCols[j]]),
      ...prep.mediaNames.map((n, m) => [n, prep.mediaCols[m]]),
      [parsed.spec.depVar ?? "dep_var", prep.y],
    ]),
  };
  io.stderr.write(`mmm train: ${iterations} iterations × ${trials} trials, seed ${seed}\n`);
  const res = await search(
    frame,
    {
      ...parsed.spec,
      paidMediaSpends: undefined,
      spendTotals: Object.fromEntries(
        prep.mediaNames.slice(0, prep.paidCount).map((n, k) => [n, prep.totalSpend[k]]),
      ),
    },
    {
      iterations,
      trials,
      seed,
      ranges: parsed.ranges,
      fixed: parsed.fixed,
      workers,
      onProgress: (p) => io.stderr.write(`mmm train: trial ${p.trial} done (${p.candidates} models)\n`),
    },
  );
  const { models } = selectPareto(res.candidates, {
    fronts,
    minCandidates: Math.min(100, res.candidates.length),
    tsValidation: parsed.spec.tsValidation,
  });
  if (values["candidates-csv"]) {
    const keys = res.names;
    const head = [
      "solID",
      "trial",
      "iterNG",
      "iterPar",
      ...keys,
      "nrmse",
      "decomp.rssd",
      "mape",
      "rsq_train",
      "nrmse_train",
      "nrmse_val",
      "nrmse_test",
      "lambda",
    ];
    const rows = res.candidates.map((c) =>
      [
        c.solID,
        c.trial,
        c.iterNG,
        c.iterPar,
        ...keys.map((k) => c.hyp[k]),
        c.nrmse,
        c.decompRssd,
        c.mape,
        c.rsqTrain,
        c.nrmseTrain,
        c.nrmseVal,
        c.nrmseTest,
        c.lambda,
      ].join(","),
    );
    await writeFile(resolve(io.cwd, values["candidates-csv"]), `${head.join(",")}\n${rows.join("\n")}\n`);
  }
  const best = models[0];
  const details = best ? modelDetails(prep, best.hyp) : undefined;
  const out = {
    elapsed_s: res.elapsedMs / 1000,
    candidate_model_count: res.candidates.length,
    pareto_model_count: models.length,
    convergence: convergence(res.candidates).map((c) => c.message),
    pareto_models: models.slice(0, 10).map((m) => ({
      model_id: m.solID,
      robyn_pareto_front: m.robynParetoFront,
      error_score: m.errorScore,
      nrmse: num(m.nrmse),
      decomp_rssd: num(m.decompRssd),
      mape: num(m.mape),
      rsq_train: num(m.rsqTrain),
      nrmse_train: num(m.nrmseTrain),
      rsq_val: num(m.rsqVal),
      nrmse_val: num(m.nrmseVal),
      rsq_test: num(m.rsqTest),
      nrmse_test: num(m.nrmseTest),
    })),
    best_model:
      best && details
        ? {
            model_id: best.solID,
            hyperparameters: best.hyp,
            lambda: details.result.lambda,
            decomposition: details.decomposition,
            channels: details.channels,
            allocation: allocateBudget({ channels: details.channels }),
          }
        : null,
  };
  io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

const verb: Verb = {
  name: "mmm",
  summary:
    "Robyn-method marketing-mix models: evaluate one model, train a job config or search a model frame",
  help,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === "evaluate") return evaluate(rest, io);
    if (sub === "train") return train(rest, io);
    throw new UsageError(
      sub ? `unknown subcommand "${sub}" (evaluate | train)` : "a subcommand is required: evaluate | train",
    );
  },
};

export default verb;
