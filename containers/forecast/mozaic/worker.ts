import { parentPort } from "node:worker_threads";
import { createLogger } from "../../../shared/core/log.ts";
import { type FitTask, runTask } from "../task.ts";
import { fitTile, type TileTask } from "./tilefit.ts";

/** Worker-thread entry of the Mozaic pool (pool.ts): fits "tile" tasks (summarised here) and plain "fit" tasks. */
const logger = createLogger({ labels: { component: "mozaic-worker" } });
parentPort?.on("message", (msg: { seq: number; kind: "tile" | "fit"; task: TileTask | FitTask }) => {
  try {
    if (msg.kind === "tile") {
      const result = fitTile(msg.task as TileTask, logger);
      const s = result.summary;
      parentPort?.postMessage({ seq: msg.seq, result }, [
        s.band.buffer,
        s.mean.buffer,
        s.variance.buffer,
      ] as ArrayBuffer[]);
      return;
    }
    const result = runTask(msg.task as FitTask, logger);
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
