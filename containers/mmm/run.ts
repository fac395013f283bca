import type { ObjectStore, Secrets, Warehouse } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { Logger } from "../../shared/core/log.ts";
import { prophetBaseline } from "./baseline.ts";
import type { ModelFrame } from "./frame.ts";
import { hyperparameterRanges, type JobConfig, mediaOf, parseJobConfig } from "./jobconfig.ts";
import { type ModelSpec, prepareModel } from "./model.ts";
import { buildModelFrame, windowSpendTotals } from "./modelframe.ts";
import { onePagerSvg, paretoSvg } from "./onepager.ts";
import { type ParetoModel, selectPareto } from "./pareto.ts";
import { csvToParquet } from "./parquet.ts";
import {
  type Allocation,
  allocateBudget,
  allocateTargetEfficiency,
  allocatorBounds,
  type ModelDetails,
  modelDetails,
} from "./response.ts";
import {
  type RunRecord,
  type RunState,
  type RunStatus,
  readRunRecord,
  readStatus,
  runRecordName,
} from "./runrecord.ts";
import { type Candidate, runTrial } from "./search.ts";
import { readSourceRows, type SnowflakeClient } from "./source.ts";

export {
  type RunRecord,
  type RunState,
  type RunStatus,
  readRunRecord,
  readStatus,
  runRecordName,
  trialsDone,
} from "./runrecord.ts";

/**
 * The training pipeline's steps, each one job of `mmm.workflows.yaml`, sharing state through the objects port:
 *   `mmm/runs/<runId>/run.json`          the run's own config and artifact prefix (no shared latest/ handoff)
 *   `robyn/<revision>/<country>/<timestamp>/`  the original app's artifact tree (status.json, model_summary.json, ...)
 * prepare (data, Prophet baseline, model frame) → trial (one per task) → merge (Pareto fronts, best model) →
 * report (one-pagers, allocator, summaries, SUCCEEDED); `fail` records FAILED with the step and message.
 */

export interface StepContext {
  store: ObjectStore;
  runId: string;
  log: Logger;
  now?: () => Date;
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

async function readJson<T>(store: ObjectStore, name: string): Promise<T> {
  return JSON.parse((await store.get(name)).toString("utf8")) as T;
}

export async function writeStatus(
  store: ObjectStore,
  rec: Pick<RunRecord, "prefix" | "runId">,
  patch: Partial<RunStatus> & { state: RunState },
  now: Date,
): Promise<RunStatus> {
  const prev = await readStatus(store, rec.prefix);
  const next: RunStatus = {
    ...(prev ?? {}),
    ...patch,
    run_id: rec.runId,
    start_time: prev?.start_time ?? now.toISOString(),
    updated_at: now.toISOString(),
  };
  if (patch.state !== "RUNNING") {
    next.end_time = now.toISOString();
    next.duration_minutes = (now.getTime() - Date.parse(next.start_time as string)) / 60_000;
  }
  await store.put(`${rec.prefix}status.json`, json(next), { contentType: "application/json" });
  return next;
}

/**
 * The run's `console.log` artifact (as the original's): one timestamped line per event of the sequential steps,
 * also logged. Trials run in parallel tasks, so merge writes their lines as it reads their candidates.
 */
async function consoleLine(c: StepContext, prefix: string, message: string, warn = false): Promise<void> {
  if (warn) c.log.warn(`mmm ${c.runId}: ${message}`);
  else c.log.info(`mmm ${c.runId}: ${message}`);
  const name = `${prefix}console.log`;
  const prev = (await c.store.exists(name)) ? (await c.store.get(name)).toString("utf8") : "";
  const at = (c.now ?? (() => new Date()))().toISOString();
  await c.store.put(name, `${prev}${at} ${message}\n`, { contentType: "text/plain; charset=utf-8" });
}

/** The original's CET timestamp `%m%d_%H%M%S`. */
export function cetTimestamp(now: Date): string {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Berlin",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(now)
      .map((x) => [x.type, x.value]),
  );
  return `${p.month}${p.day}_${p.hour}${p.minute}${p.second}`;
}

interface Prepared {
  frame: { dates: string[]; columns: Record<string, number[]> };
  spec: ModelSpec;
  ranges: Record<string, [number, number]>;
  iterations: number;
  trials: number;
  seed: number;
}

function frameOf(p: Prepared): ModelFrame {
  return {
    dates: p.frame.dates,
    columns: Object.fromEntries(Object.entries(p.frame.columns).map(([k, v]) => [k, Float64Array.from(v)])),
  };
}

/** Step 1: the run record, status RUNNING, data from the source, the Prophet baseline and the model frame. */
export async function prepareStep(
  c: StepContext & {
    params: unknown;
    warehouse: Warehouse;
    secrets?: Secrets;
    snowflake?: SnowflakeClient;
    env?: Record<string, string | undefined>;
  },
): Promise<RunRecord> {
  const now = (c.now ?? (() => new Date()))();
  const config = parseJobConfig(c.params, `params of run ${c.runId}`);
  let rec: RunRecord;
  if (await c.store.exists(runRecordName(c.runId))) {
    rec = { ...(await readRunRecord(c.store, c.runId)), config };
  } else {
    const timestamp = cetTimestamp(now);
    rec = {
      runId: c.runId,
      timestamp,
      prefix: `robyn/${config.revision}/${config.country}/${timestamp}/`,
      config,
    };
  }
  await c.store.put(runRecordName(c.runId), json(rec));
  await writeStatus(c.store, rec, { state: "RUNNING", step: "prepare", progress: 0.02 }, now);
  await c.store.put(`${rec.prefix}debug/job_config.copy.json`, json(config));
  await consoleLine(
    c,
    rec.prefix,
    `run ${c.runId}: ${config.country} ${config.revision}, ${config.iterations} iterations x ${config.trials} trials, source ${config.source.kind}`,
  );

  const rows = await readSourceRows(config.source, c);
  const { prepareRows, SkipRun } = await import("./source.ts");
  let raw: ModelFrame;
  try {
    raw = prepareRows(rows, config);
  } catch (err) {
    if (!(err instanceof SkipRun)) throw err;
    // The original's skip rule: SKIPPED.txt and status SKIPPED with the reason; the run succeeds.
    await c.store.put(`${rec.prefix}SKIPPED.txt`, `${err.message}\n`);
    await writeStatus(
      c.store,
      rec,
      { state: "SKIPPED", step: "prepare", progress: 1, message: err.message, skip_reason: err.message },
      now,
    );
    await consoleLine(c, rec.prefix, `SKIPPED: ${err.message}`, true);
    return rec;
  }
  const baseline = prophetBaseline(raw, config.dep_var, config.country);
  const { paid, organic } = mediaOf(config);
  const roles = {
    depVar: config.dep_var,
    paidMediaSpends: config.paid_media_spends,
    paidMediaVars: config.paid_media_vars,
    organicVars: organic,
    contextVars: config.context_vars,
    factorVars: config.factor_vars,
    prophetVars: baseline.vars,
    window: { start: config.start_date, end: config.end_date },
  };
  const frame = buildModelFrame(raw, roles, baseline.columns);
  const spec: ModelSpec = {
    depVar: "dep_var",
    depVarType: config.dep_var_type,
    prophetVars: baseline.vars,
    contextVars: config.context_vars,
    paidMediaVars: paid,
    paidMediaSpends: config.paid_media_spends,
    organicVars: organic,
    adstock: config.adstock,
    window: { start: config.start_date, end: config.end_date ?? raw.dates[raw.dates.length - 1] },
    spendTotals: windowSpendTotals(raw, roles),
    tsValidation: true,
    calibration: config.calibration?.map((l) => ({ ...l, calibrationScope: l.calibration_scope })),
  };
  prepareModel(frame, spec); // fail here, in prepare, on a spec the model rejects
  const prepared: Prepared = {
    frame: {
      dates: frame.dates,
      columns: Object.fromEntries(Object.entries(frame.columns).map(([k, v]) => [k, [...v]])),
    },
    spec,
    ranges: hyperparameterRanges(config),
    iterations: config.iterations,
    trials: config.trials,
    seed: config.seed,
  };
  await c.store.put(`${rec.prefix}prepared.json`, JSON.stringify(prepared));
  await c.store.put(`${rec.prefix}debug/hyperparameters.json`, json(prepared.ranges));
  await c.store.put(`${rec.prefix}raw_data.csv`, frameCsv(frame));
  await writeStatus(
    c.store,
    rec,
    {
      state: "RUNNING",
      step: "trials",
      progress: 0.1,
      message: `${frame.dates.length} rows, ${config.trials} trials`,
    },
    now,
  );
  await consoleLine(
    c,
    rec.prefix,
    `prepared ${frame.dates.length} rows (${raw.dates[0]} to ${raw.dates[raw.dates.length - 1]}), ${Object.keys(prepared.ranges).length} hyperparameters`,
  );
  return rec;
}

function frameCsv(f: ModelFrame): string {
  const cols = Object.keys(f.columns);
  return [
    ["ds", ...cols].join(","),
    ...f.dates.map((d, i) => [d, ...cols.map((c) => f.columns[c][i])].join(",")),
  ].join("\n");
}

/** Step 2, one Cloud Run task per trial: the task's trial of the search, its candidates as JSON. */
export async function trialStep(c: StepContext & { taskIndex: number }): Promise<number> {
  const rec = await readRunRecord(c.store, c.runId);
  if ((await readStatus(c.store, rec.prefix))?.state === "SKIPPED") return 0;
  const p = await readJson<Prepared>(c.store, `${rec.prefix}prepared.json`);
  if (c.taskIndex >= p.trials) return 0;
  const trial = c.taskIndex + 1;
  const prep = prepareModel(frameOf(p), p.spec);
  const candidates = runTrial(
    prep,
    { iterations: p.iterations, trials: p.trials, seed: p.seed, ranges: p.ranges, fixed: {} },
    trial,
  );
  await c.store.put(`${rec.prefix}candidates/trial_${trial}.json`, JSON.stringify(candidates));
  c.log.info(`mmm ${c.runId}: trial ${trial} wrote ${candidates.length} candidates`);
  return candidates.length;
}

const METRICS = [
  "solID",
  "nrmse",
  "decompRssd",
  "mape",
  "rsqTrain",
  "nrmseTrain",
  "rsqVal",
  "nrmseVal",
  "rsqTest",
  "nrmseTest",
  "lambda",
] as const;

function candidatesCsv(rows: (Candidate & { robynParetoFront?: number })[], hypNames: string[]): string {
  const head = [...METRICS, "trial", "iterNG", "robynParetoFront", ...hypNames];
  return [
    head.join(","),
    ...rows.map((r) =>
      [
        ...METRICS.map((m) => r[m]),
        r.trial,
        r.iterNG,
        r.robynParetoFront ?? "",
        ...hypNames.map((h) => r.hyp[h]),
      ].join(","),
    ),
  ].join("\n");
}

/** Step 3: every trial's candidates, Pareto fronts (the original's pareto_fronts = 2, min_candidates = 5), best model. */
export async function mergeStep(c: StepContext): Promise<ParetoModel[]> {
  const now = () => (c.now ?? (() => new Date()))();
  const rec = await readRunRecord(c.store, c.runId);
  if ((await readStatus(c.store, rec.prefix))?.state === "SKIPPED") return [];
  await writeStatus(c.store, rec, { state: "RUNNING", step: "merge", progress: 0.8 }, now());
  const p = await readJson<Prepared>(c.store, `${rec.prefix}prepared.json`);
  const all: Candidate[] = [];
  for (let t = 1; t <= p.trials; t++) {
    const name = `${rec.prefix}candidates/trial_${t}.json`;
    if (!(await c.store.exists(name)))
      throw new NonRetriableError(`trial ${t} wrote no candidates (${name})`, { field: "trials" });
    const got = await readJson<Candidate[]>(c.store, name);
    all.push(...got);
    await consoleLine(c, rec.prefix, `trial ${t}: ${got.length} candidates`);
  }
  const { models, fronts } = selectPareto(all, { fronts: 2, minCandidates: 5, tsValidation: true });
  if (models.length === 0)
    throw new NonRetriableError(`no Pareto model among ${all.length} candidates`, {
      field: "iterations",
      fix: "raise iterations or trials",
    });
  const hypNames = Object.keys(all[0].hyp).sort();
  const allCsv = candidatesCsv(
    all.map((m, i) => ({ ...m, robynParetoFront: fronts[i] })),
    hypNames,
  );
  await c.store.put(`${rec.prefix}all_candidates.csv`, allCsv);
  await c.store.put(`${rec.prefix}all_candidates.parquet`, await csvToParquet(allCsv));
  await c.store.put(`${rec.prefix}pareto_hyperparameters.csv`, candidatesCsv(models, hypNames));
  await c.store.put(`${rec.prefix}pareto.json`, JSON.stringify({ models, candidates: all.length }));
  const best = models[0];
  await c.store.put(
    `${rec.prefix}best_model_id.txt`,
    `${best.solID}\niterations: ${p.iterations}\ntrials: ${p.trials}\ntraining_minutes: ${(
      (now().getTime() -
        Date.parse((await readStatus(c.store, rec.prefix))?.start_time ?? now().toISOString())) /
        60_000
    ).toFixed(2)}\n`,
  );
  await c.store.put(`${rec.prefix}pareto_front.svg`, paretoSvg(all, models), {
    contentType: "image/svg+xml",
  });
  await writeStatus(c.store, rec, { state: "RUNNING", step: "onepagers", progress: 0.85 }, now());
  await consoleLine(c, rec.prefix, `${models.length} Pareto models of ${all.length}; best ${best.solID}`);
  return models;
}

const modelMetrics = (m: Candidate) => ({
  model_id: m.solID,
  nrmse: m.nrmse,
  decomp_rssd: m.decompRssd,
  rsq_train: m.rsqTrain,
  nrmse_train: m.nrmseTrain,
  rsq_val: m.rsqVal,
  nrmse_val: m.nrmseVal,
  rsq_test: m.rsqTest,
  nrmse_test: m.nrmseTest,
  mape: Number.isFinite(m.mape) ? m.mape : null,
});

/** Step 4: one-pagers of the top 3 models, the allocator on the best, model_summary.json, the country aggregate. */
export async function reportStep(c: StepContext): Promise<Record<string, unknown>> {
  const now = () => (c.now ?? (() => new Date()))();
  const rec = await readRunRecord(c.store, c.runId);
  const skipped = await readStatus(c.store, rec.prefix);
  if (skipped?.state === "SKIPPED")
    return { run_id: rec.runId, state: "SKIPPED", skip_reason: skipped.skip_reason };
  const p = await readJson<Prepared>(c.store, `${rec.prefix}prepared.json`);
  const { models, candidates } = await readJson<{ models: ParetoModel[]; candidates: number }>(
    c.store,
    `${rec.prefix}pareto.json`,
  );
  const prep = prepareModel(frameOf(p), p.spec);
  // PNG beside SVG, drawn by our own rasteriser (raster.ts); loaded here only, so the API's bundle stays small.
  const { svgToPng } = await import("./raster.ts");
  for (const m of models.slice(0, 3)) {
    const details = modelDetails(prep, m.hyp);
    const svg = onePagerSvg(prep, details, m, rec.config);
    await c.store.put(`${rec.prefix}${m.solID}.svg`, svg, { contentType: "image/svg+xml" });
    await c.store.put(`${rec.prefix}${m.solID}.png`, svgToPng(svg), { contentType: "image/png" });
  }
  if (await c.store.exists(`${rec.prefix}pareto_front.svg`))
    await c.store.put(
      `${rec.prefix}pareto_front.png`,
      svgToPng((await c.store.get(`${rec.prefix}pareto_front.svg`)).toString("utf8")),
      { contentType: "image/png" },
    );
  await writeStatus(c.store, rec, { state: "RUNNING", step: "allocator", progress: 0.92 }, now());
  const best = models[0];
  const details = modelDetails(prep, best.hyp);
  const cfg = rec.config;
  let allocator: Record<string, unknown> | null = null;
  try {
    allocator = runAllocator(cfg, details, prep);
    const plan = allocator.allocations as Allocation[];
    const head = "channel,initSpend,optimalSpend,initResponse,optimalResponse";
    const rows = plan.map((a) =>
      [a.channel, a.initSpend, a.optimalSpend, a.initResponse, a.optimalResponse].join(","),
    );
    await c.store.put(`${rec.prefix}allocator_results.csv`, [head, ...rows].join("\n"));
    await c.store.put(`${rec.prefix}allocator.json`, json(allocator), { contentType: "application/json" });
    await consoleLine(
      c,
      rec.prefix,
      `allocator ${cfg.budget_scenario} on ${best.solID}: ${plan.length} channels`,
    );
  } catch (err) {
    await c.store.put(`${rec.prefix}allocator_error.txt`, (err as Error).message);
    await consoleLine(c, rec.prefix, `allocator failed: ${(err as Error).message}`, true);
  }
  const startedAt = Date.parse((await readStatus(c.store, rec.prefix))?.start_time ?? now().toISOString());
  const sum = (k: "optimalSpend" | "optimalResponse") =>
    ((allocator?.allocations ?? []) as Allocation[]).reduce((s, a) => s + a[k], 0);
  // The original's allocator_metrics columns; totals per period of the allocation (empty when it failed).
  await c.store.put(
    `${rec.prefix}allocator_metrics.csv`,
    [
      "model_id,training_time_mins,max_cores_used,r2_train,nrmse_train,r2_val,nrmse_val,r2_test,nrmse_test,decomp_rssd_train,allocator_total_response,allocator_total_spend,budget_scenario",
      [
        best.solID,
        ((now().getTime() - startedAt) / 60_000).toFixed(3),
        cfg.trials,
        best.rsqTrain,
        best.nrmseTrain,
        best.rsqVal,
        best.nrmseVal,
        best.rsqTest,
        best.nrmseTest,
        best.decompRssd,
        allocator ? sum("optimalResponse") : "",
        allocator ? sum("optimalSpend") : "",
        cfg.budget_scenario,
      ].join(","),
    ].join("\n"),
  );
  await writeStatus(c.store, rec, { state: "RUNNING", step: "summary", progress: 0.97 }, now());
  const status = await readStatus(c.store, rec.prefix);
  const summary = {
    country: cfg.country,
    revision: cfg.revision,
    timestamp: rec.timestamp,
    run_id: rec.runId,
    created_at: now().toISOString(),
    training_time_mins: (now().getTime() - Date.parse(status?.start_time ?? now().toISOString())) / 60_000,
    has_pareto_models: models.length > 0,
    pareto_model_count: models.length,
    candidate_model_count: candidates,
    best_model: modelMetrics(best),
    pareto_models: models
      .slice(0, 10)
      .map((m) => ({ ...modelMetrics(m), robyn_pareto_front: m.robynParetoFront })),
    channels: details.channels
      .filter((ch) => ch.paid)
      .map((ch) => ({
        name: ch.name,
        coef: ch.coef,
        total_spend: ch.totalSpend,
        effect: ch.xDecompAgg,
        roas: ch.xDecompAgg / ch.totalSpend,
      })),
    input_metadata: {
      dep_var: cfg.dep_var,
      dep_var_type: cfg.dep_var_type,
      adstock: cfg.adstock,
      window_start: cfg.start_date,
      window_end: p.spec.window?.end,
      paid_media_vars: p.spec.paidMediaVars,
      paid_media_spends: cfg.paid_media_spends,
      organic_vars: cfg.organic_vars,
      context_vars: cfg.context_vars,
      factor_vars: cfg.factor_vars,
    },
  };
  await c.store.put(`${rec.prefix}model_summary.json`, json(summary), { contentType: "application/json" });
  await aggregateCountry(c.store, summary);
  await writeStatus(
    c.store,
    rec,
    { state: "SUCCEEDED", step: "done", progress: 1, message: `best model ${best.solID}` },
    now(),
  );
  await consoleLine(c, rec.prefix, `SUCCEEDED: best model ${best.solID}, summary in model_summary.json`);
  return summary;
}

/** The job config's allocator scenario on the best model; spends and responses are per period. */
export function runAllocator(
  cfg: JobConfig,
  details: ModelDetails,
  prep: { dates: string[]; we: number },
): Record<string, unknown> {
  const last = prep.dates[prep.we - 1];
  const from = new Date(Date.parse(`${last}T00:00:00Z`) - 364 * 86_400_000).toISOString().slice(0, 10);
  const periods = prep.dates.slice(0, prep.we).filter((d) => d >= from).length;
  if (cfg.budget_scenario === "target_efficiency") {
    const r = allocateTargetEfficiency({
      channels: details.channels,
      depVarType: cfg.dep_var_type,
      target: cfg.target_value,
    });
    return { scenario: cfg.budget_scenario, periods, ...r };
  }
  const withBudget = cfg.budget_scenario !== "max_historical_response";
  if (withBudget && cfg.expected_spend === undefined)
    throw new NonRetriableError(`budget_scenario ${cfg.budget_scenario} needs expected_spend`, {
      field: "expected_spend",
      fix: "give the total spend to allocate over a year, or use max_historical_response",
    });
  const bounds = withBudget
    ? allocatorBounds(details.channels, {
        expectedSpend: cfg.expected_spend,
        channelBudgets: cfg.channel_budgets,
        periods,
      })
    : {};
  const allocations = allocateBudget({ channels: details.channels, ...bounds });
  return { scenario: cfg.budget_scenario, periods, ...bounds, allocations };
}

/** `model_summary/<country>/summary.json`: every run of the country, the best model overall (lowest NRMSE). */
async function aggregateCountry(store: ObjectStore, summary: Record<string, unknown> & { country: string }) {
  const name = `model_summary/${summary.country}/summary.json`;
  const prev = (await store.exists(name))
    ? await readJson<{ runs: Record<string, unknown>[] }>(store, name)
    : { runs: [] };
  const runs = [...prev.runs.filter((r) => r.run_id !== summary.run_id), summary];
  const withModels = runs.filter((r) => r.has_pareto_models);
  const bestOverall = withModels
    .map((r) => ({ ...(r.best_model as { nrmse: number }), revision: r.revision, timestamp: r.timestamp }))
    .sort((a, b) => a.nrmse - b.nrmse)[0];
  await store.put(
    name,
    json({
      country: summary.country,
      revision: summary.revision,
      aggregated_at: new Date().toISOString(),
      total_runs: runs.length,
      runs_with_pareto_models: withModels.length,
      best_model_overall: bestOverall ?? null,
      runs,
    }),
  );
}

/** The except branch: FAILED with the step and the message (the run record may not exist if prepare failed early). */
export async function failStep(
  c: StepContext & { step: string; message: string; params?: unknown },
): Promise<void> {
  const now = (c.now ?? (() => new Date()))();
  let rec: Pick<RunRecord, "prefix" | "runId">;
  if (await c.store.exists(runRecordName(c.runId))) rec = await readRunRecord(c.store, c.runId);
  else rec = { runId: c.runId, prefix: `mmm/runs/${c.runId}/` };
  await writeStatus(
    c.store,
    rec,
    { state: "FAILED", step: c.step, error: c.message, message: c.message },
    now,
  );
  await consoleLine(c, rec.prefix, `FAILED in ${c.step}: ${c.message}`, true);
  if (!(await c.store.exists(runRecordName(c.runId))))
    await c.store.put(runRecordName(c.runId), json({ ...rec, timestamp: "", config: c.params ?? null }));
}
