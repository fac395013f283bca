import { parentPort } from "node:worker_threads";
import { serializeError } from "./pool.ts";
import { convertTableFile, type TableFileTask } from "./table-file.ts";

/** Worker thread: converts the table files it is sent, one at a time, and answers each with its result. */

parentPort?.on("message", async ({ id, task }: { id: number; task: TableFileTask }) => {
  try {
    const result = await convertTableFile(task);
    parentPort?.postMessage({ id, result });
  } catch (err) {
    parentPort?.postMessage({ id, error: serializeError(err) });
  }
});
