import { parentPort } from "node:worker_threads";
import { createLogger } from "../../shared/core/log.ts";
import { type FitTask, runTask } from "./task.ts";

/** Worker-thread entry: fits the tasks it is posted, one at a time, and posts each result back. */
const logger = createLogger({ labels: { component: "forecast-worker" } });
parentPort?.on("message", (msg: { seq: number; task: FitTask }) => {
  try {
    const result = runTask(msg.task, logger);
    const transfer: ArrayBuffer[] = [];
    for (const arr of [result.yhat, result.yhatLower, result.yhatUpper, result.samples])
      if (arr) transfer.push(arr.buffer as ArrayBuffer);
    parentPort?.postMessage({ seq: msg.seq, result }, transfer);
  } catch (err) {
    parentPort?.postMessage({
      seq: msg.seq,
      error: { name: (err as Error).name, message: (err as Error).message },
    });
  }
});
