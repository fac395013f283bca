import type { ObjectStore, Row, Warehouse } from "../../shared/adapters/ports.ts";
import type { Logger } from "../../shared/core/log.ts";
import { parseJobConfig } from "./jobconfig.ts";
import { mergeStep, prepareStep, type RunRecord, reportStep, trialStep } from "./run.ts";

/**
 * One training run in this process, the workflow's steps in order (for `tessera mmm train --config`): the
 * data comes from `rows` (e.g. a CSV) or the warehouse, artifacts go to `store`, progress to `onStep`.
 */
export async function trainLocally(options: {
  config: unknown;
  store: ObjectStore;
  log: Logger;
  runId?: string;
  rows?: Row[];
  warehouse?: Warehouse;
  onStep?: (step: string, detail: string) => void;
}): Promise<{ record: RunRecord; summary: Record<string, unknown> }> {
  const config = parseJobConfig(options.config);
  const runId = options.runId ?? `local-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;
  const rows = options.rows;
  const warehouse: Warehouse = rows
    ? ({ query: async () => rows } as unknown as Warehouse)
    : (options.warehouse as Warehouse);
  const c = { store: options.store, runId, log: options.log };
  const step = options.onStep ?? (() => {});
  step("prepare", `${config.country} ${config.revision}`);
  const record = await prepareStep({ ...c, params: config, warehouse });
  for (let t = 0; t < config.trials; t++) {
    const n = await trialStep({ ...c, taskIndex: t });
    step("trials", `trial ${t + 1}/${config.trials}: ${n} candidates`);
  }
  const models = await mergeStep(c);
  if (models.length > 0) step("merge", `${models.length} Pareto models, best ${models[0].solID}`);
  const summary = await reportStep(c);
  if (summary.state === "SKIPPED") step("skipped", String(summary.skip_reason));
  else step("done", options.store.uri(`${record.prefix}model_summary.json`));
  return { record, summary };
}
