import { Worker } from "node:worker_threads";
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";
import { convertTableFile, type TableFileResult, type TableFileTask } from "./table-file.ts";

/**
 * A fixed pool of worker threads converting table files in parallel (with one thread: in this thread). The first failure stops handing out
 * work and is rethrown with its type (NonRetriableError keeps its field and fix); the workers are always
 * terminated before `run` returns.
 */

interface SerializedError {
  name: string;
  message: string;
  field?: string;
  fix?: string;
  retryable?: boolean;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof NonRetriableError)
    return { name: err.name, message: err.message, field: err.field, fix: err.fix };
  if (err instanceof Error) return { name: err.name, message: err.message, retryable: true };
  return { name: "Error", message: String(err), retryable: true };
}

function revive(e: SerializedError): Error {
  if (e.retryable) return new RetryableError(e.message);
  const err = new NonRetriableError(e.message, { field: e.field, fix: e.fix });
  err.name = e.name;
  return err;
}

export async function runPool(
  tasks: TableFileTask[],
  threads: number,
  onDone?: (result: TableFileResult) => void,
): Promise<TableFileResult[]> {
  const results: TableFileResult[] = new Array(tasks.length);
  if (tasks.length === 0) return results;
  if (threads <= 1) {
    // One thread: convert in this thread, without a worker's start-up cost.
    for (let i = 0; i < tasks.length; i++) {
      results[i] = await convertTableFile(tasks[i]);
      onDone?.(results[i]);
    }
    return results;
  }
  const n = Math.max(1, Math.min(threads, tasks.length));
  const workers: Worker[] = [];
  let next = 0;
  let failure: Error | undefined;
  try {
    await Promise.all(
      Array.from({ length: n }, async () => {
        // A converter thread keeps a few MB live (streams, one row group's pages); capping its heap makes V8
        // collect (and free zstd contexts) early, which keeps the job's RSS flat.
        const worker = new Worker(new URL("./worker.ts", import.meta.url), {
          resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
        });
        workers.push(worker);
        while (failure === undefined && next < tasks.length) {
          const id = next++;
          try {
            results[id] = await send(worker, id, tasks[id]);
            onDone?.(results[id]);
          } catch (err) {
            failure ??= err as Error;
          }
        }
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (failure) throw failure;
  return results;
}

function send(worker: Worker, id: number, task: TableFileTask): Promise<TableFileResult> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: { id: number; result?: TableFileResult; error?: SerializedError }) => {
      if (msg.id !== id) return;
      cleanup();
      if (msg.error) reject(revive(msg.error));
      else resolve(msg.result as TableFileResult);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new RetryableError(`converter thread crashed on ${task.input}: ${err.message}`, { cause: err }));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new RetryableError(`converter thread exited (${code}) while converting ${task.input}`));
    };
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    worker.postMessage({ id, task });
  });
}
