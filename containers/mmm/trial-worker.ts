import { parentPort, workerData } from "node:worker_threads";
import type { ModelFrame } from "./frame.ts";
import { type ModelSpec, prepareModel } from "./model.ts";
import { runTrial, type SearchOptions } from "./search.ts";

/** Worker-thread entry: prepares the model once, then runs each trial number it is sent. */
const { frame, spec, opts } = workerData as { frame: ModelFrame; spec: ModelSpec; opts: SearchOptions };
const prep = prepareModel(frame, spec);
parentPort?.on("message", (m: { trial: number }) => {
  try {
    parentPort?.postMessage({ trial: m.trial, candidates: runTrial(prep, opts, m.trial) });
  } catch (err) {
    parentPort?.postMessage({ trial: m.trial, error: err instanceof Error ? err.message : String(err) });
  }
});
