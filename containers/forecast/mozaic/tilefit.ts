import type { Logger } from "../../../shared/core/log.ts";
import { type FitTask, runTask } from "../task.ts";
import { clipPaths, type PathSummary, type PathTransform, summarisePaths } from "./summary.ts";

/**
 * One Mozaic node fit: Prophet (or its fallback) with N sample paths on the forecast dates, mapped back to the
 * data's units, clipped at 0 and summarised (summary.ts) where it was fitted, so that a worker thread posts
 * back ~200 order statistics per date instead of every path.
 */
export interface TileTask {
  fit: FitTask & { predict: { dates: string[]; samples: number } };
  transform: PathTransform;
  /** Quantiles whose order statistics the summary keeps. */
  band: [number, number];
}

export interface TileFit {
  id: string;
  kind: string;
  reason?: string;
  summary: PathSummary;
  /** CPU time of the fitting thread for this node, when the runtime can tell. */
  cpuMs?: number;
}

export function fitTile(task: TileTask, logger?: Logger): TileFit {
  const result = runTask(task.fit, logger);
  const D = task.fit.predict.dates.length;
  const S = task.fit.predict.samples;
  let values = result.samples;
  if (!values || values.length !== D * S) {
    values = new Float64Array(D * S);
    for (let d = 0; d < D; d++) values.fill(result.yhat[d], d * S, (d + 1) * S);
  }
  clipPaths(values, task.transform);
  return {
    id: result.id,
    kind: result.kind,
    reason: result.reason,
    summary: summarisePaths(values, D, S, task.band[0], task.band[1]),
    cpuMs: result.cpuMs,
  };
}
