import { parentPort } from "node:worker_threads";
import { createLogger } from "../../../shared/core/log.ts";
import { type FitTask, runTask } from "../task.ts";
import { fitTile, type TileTask } from "./tilefit.ts";

/**
 * Worker-thread entry of the Mozaic pool (pool.ts): fits "tile" tasks (summarised here) and plain "fit" tasks,
 * in the order they arrive, answering each with the milliseconds it took (`ms`) and this thread's CPU time for it
 * (`cpuMs`, 0 where the runtime cannot tell).
 */
const logger = createLogger({ labels: { component: "mozaic-worker" } });
const cpuNow = (): number => {
  const f = (process as { threadCpuUsage?: () => { user: number; system: number } }).threadCpuUsage;
  if (!f) return 0;
  const u = f.call(process);
  return (u.user + u.system) / 1000;
};
parentPort?.on("message", (msg: { seq: number; kind: "tile" | "fit"; task: TileTask | FitTask }) => {
  const started = performance.now();
  const cpu0 = cpuNow();
  try {
    if (msg.kind === "tile") {
      const result = fitTile(msg.task as TileTask, logger);
      const s = result.summary;
      parentPort?.postMessage(
        { seq: msg.seq, ms: performance.now() - started, cpuMs: cpuNow() - cpu0, result },
        [s.band.buffer, s.mean.buffer, s.variance.buffer] as ArrayBuffer[],
      );
      return;
    }
    const result = runTask(msg.task as FitTask, logger);
    const transfer: ArrayBuffer[] = [];
    for (const arr of [result.yhat, result.yhatLower, result.yhatUpper, result.samples])
      if (arr) transfer.push(arr.buffer as ArrayBuffer);
    parentPort?.postMessage(
      { seq: msg.seq, ms: performance.now() - started, cpuMs: cpuNow() - cpu0, result },
      transfer,
    );
  } catch (err) {
    parentPort?.postMessage({
      seq: msg.seq,
      ms: performance.now() - started,
      cpuMs: cpuNow() - cpu0,
      error: { name: (err as Error).name, message: (err as Error).message },
    });
  }
});
