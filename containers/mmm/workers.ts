import { Worker } from "node:worker_threads";
import type { ModelFrame } from "./frame.ts";
import type { ModelSpec } from "./model.ts";
import type { Candidate, SearchOptions } from "./search.ts";

/**
 * Runs trials on a pool of worker threads (each trial is independent and seeded by its number, so the pool size does
 * not change results). Workers load the TypeScript sources through tsx's loader.
 */
export async function runTrialsInWorkers(
  frame: ModelFrame,
  spec: ModelSpec,
  opts: SearchOptions,
  trials: number[],
  size: number,
  onTrial: (trial: number, candidates: Candidate[]) => void,
): Promise<void> {
  const tsx = import.meta.resolve("tsx");
  const pending = [...trials];
  const run = async () => {
    const worker = new Worker(new URL("./trial-worker.ts", import.meta.url), {
      execArgv: ["--import", tsx],
      workerData: { frame, spec, opts },
    });
    try {
      for (;;) {
        const t = pending.shift();
        if (t === undefined) break;
        const result = await new Promise<Candidate[]>((resolve, reject) => {
          const onMsg = (m: { trial: number; candidates?: Candidate[]; error?: string }) => {
            cleanup();
            if (m.error) reject(new Error(`trial ${m.trial}: ${m.error}`));
            else resolve(m.candidates ?? []);
          };
          const onErr = (e: Error) => {
            cleanup();
            reject(e);
          };
          const onExit = (code: number) => {
            cleanup();
            reject(new Error(`trial worker exited with ${code}`));
          };
          const cleanup = () => {
            worker.off("message", onMsg);
            worker.off("error", onErr);
            worker.off("exit", onExit);
          };
          worker.on("message", onMsg);
          worker.on("error", onErr);
          worker.on("exit", onExit);
          worker.postMessage({ trial: t });
        });
        onTrial(t, result);
      }
    } finally {
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(size, trials.length)) }, run));
}
