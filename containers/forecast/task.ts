import type { Logger } from "../../shared/core/log.ts";
import type { PredictOptions, ProphetOptions, SeriesInput } from "./prophet.ts";
import { fitSeries, forecastSeries, type ModelKind } from "./series.ts";

/** One series to fit and forecast: what the pool posts to a worker (plain, structured-clone-safe data). */
export interface FitTask {
  id: string;
  series: SeriesInput;
  options?: ProphetOptions;
  predict?: PredictOptions;
}

export interface FitResult {
  id: string;
  kind: ModelKind;
  reason?: string;
  warnings: string[];
  ds: string[];
  yhat: Float64Array;
  yhatLower: Float64Array;
  yhatUpper: Float64Array;
  /** Date-major sample paths when `predict.keepSamples`. */
  samples?: Float64Array;
  nSamples: number;
  fitMs: number;
  totalMs: number;
  /** CPU time of this thread for the task (user + system), when the runtime can tell. */
  cpuMs?: number;
}

const threadCpu = (): number | undefined => {
  const f = (process as { threadCpuUsage?: () => { user: number; system: number } }).threadCpuUsage;
  if (!f) return undefined;
  const u = f.call(process);
  return (u.user + u.system) / 1000;
};

export function runTask(task: FitTask, logger?: Logger): FitResult {
  const started = performance.now();
  const cpu0 = threadCpu();
  const fit = fitSeries(task.series, task.options ?? {}, { logger, id: task.id });
  const f = forecastSeries(fit, task.predict ?? {});
  return {
    id: task.id,
    kind: fit.kind,
    reason: fit.reason,
    warnings: fit.warnings,
    ds: f.ds,
    yhat: f.yhat,
    yhatLower: f.yhatLower,
    yhatUpper: f.yhatUpper,
    samples: f.samples,
    nSamples: f.nSamples,
    fitMs: fit.ms,
    totalMs: performance.now() - started,
    cpuMs: cpu0 === undefined ? undefined : (threadCpu() as number) - cpu0,
  };
}
