import { parentPort, workerData } from "node:worker_threads";
import { type PoolMessage, type PoolWorkerData, serializeError, takeTables } from "./pool.ts";

/** Worker thread: converts tables from the pool's shared counter, answering each with its result. */

const { tasks, shared } = workerData as PoolWorkerData;
const post = (msg: PoolMessage) => parentPort?.postMessage(msg);
await takeTables(
  tasks,
  shared,
  (id, result) => post({ id, result }),
  (id, err) => post({ id, error: serializeError(err) }),
);
post({ done: true });
