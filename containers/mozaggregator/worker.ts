import { parentPort } from "node:worker_threads";
import { convertTableFile } from "./table-file.ts";
import { serializeError } from "./pool.ts";

/** Worker thread: converts the table files it is sent, one at a time, and answers each with its result. */

parentPort?.on("message", async (task: { id: number; input: string; output: string }) => {
  try {
    const result = await convertTableFile(task.input, task.output);
    parentPort?.postMessage({ id: task.id, result });
  } catch (err) {
    parentPort?.postMessage({ id: task.id, error: serializeError(err) });
  }
});
