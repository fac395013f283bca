import { setFlagsFromString } from "node:v8";
import { Worker } from "node:worker_threads";
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";
import { convertTableFile, type TableFileResult, type TableFileTask } from "./table-file.ts";

/**
 * Converts table files on `threads` threads: this thread and `threads - 1` worker threads. Every thread takes
 * the next table from a shared counter (Atomics), so a worker never waits for this thread to hand out work
 * while this thread is busy converting; each thread holds one table's buffers at a time, so memory is bounded
 * by the thread count, not by the number of tables. The first failure stops every thread from taking more
 * tables and is rethrown with its type (NonRetriableError keeps its field and fix); the workers are always
 * terminated before `runPool` returns.
 */

interface SerializedError {
  name: string;
  message: string;
  field?: string;
  fix?: string;
  retryable?: boolean;
}

/** What a worker is started with (`workerData`). */
export interface PoolWorkerData {
  tasks: TableFileTask[];
  /** [0]: the next table to take; [1]: 1 once a thread has failed. */
  shared: Int32Array;
}

/** A worker's messages: one per table, then `done`. */
export type PoolMessage =
  | { id: number; result: TableFileResult }
  | { id: number; error: SerializedError }
  | { done: true };

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

/** Take tables from the shared counter until there are none left or a thread has failed. */
export async function takeTables(
  tasks: TableFileTask[],
  shared: Int32Array,
  onResult: (id: number, result: TableFileResult) => void,
  onError: (id: number, err: unknown) => void,
): Promise<void> {
  while (Atomics.load(shared, 1) === 0) {
    const id = Atomics.add(shared, 0, 1);
    if (id >= tasks.length) return;
    try {
      onResult(id, await convertTableFile(tasks[id]));
    } catch (err) {
      Atomics.store(shared, 1, 1);
      onError(id, err);
      return;
    }
  }
}

/**
 * Worker isolates compile their hot functions with TurboFan on their own thread instead of handing them to V8's
 * background compile threads. The converters keep every core busy, so the background jobs only compete with
 * them; measured on one converting isolate over half the bench's day, the process spent ~0.1 CPU-s less (its
 * background compile threads ~0.2 CPU-s less, the converting thread ~0.1 more). V8 reads this process-wide
 * flag when an isolate is created: it applies to the workers started after this call, never to the isolate
 * that is already running this code.
 */
function compileOnConvertingThreads(): void {
  setFlagsFromString("--no-concurrent-recompilation");
}

export async function runPool(
  tasks: TableFileTask[],
  threads: number,
  onDone?: (result: TableFileResult) => void,
): Promise<TableFileResult[]> {
  const results: TableFileResult[] = new Array(tasks.length);
  if (tasks.length === 0) return results;
  const shared = new Int32Array(new SharedArrayBuffer(8));
  let failure: Error | undefined;
  const accept = (id: number, result: TableFileResult) => {
    results[id] = result;
    onDone?.(result);
  };
  const workers: Worker[] = [];
  try {
    const finished: Promise<void>[] = [];
    if (threads > 1 && tasks.length > 1) compileOnConvertingThreads();
    for (let i = 0; i < Math.min(threads, tasks.length) - 1; i++) {
      // A converter thread keeps a few MB live (buffers, one row group's pages); capping its heap makes V8
      // collect early, which keeps the job's RSS flat.
      const worker = new Worker(new URL("./worker.ts", import.meta.url), {
        workerData: { tasks, shared } satisfies PoolWorkerData,
        resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
      });
      workers.push(worker);
      finished.push(
        new Promise<void>((resolve) => {
          let settled = false;
          const stop = (err: Error) => {
            Atomics.store(shared, 1, 1);
            failure ??= err;
            settled = true;
            resolve();
          };
          worker.on("message", (msg: PoolMessage) => {
            if ("done" in msg) {
              settled = true;
              resolve();
            } else if ("error" in msg) stop(revive(msg.error));
            else accept(msg.id, msg.result);
          });
          worker.on("error", (err) => {
            if (!settled)
              stop(new RetryableError(`converter thread crashed: ${err.message}`, { cause: err }));
          });
          worker.on("exit", (code) => {
            if (!settled) stop(new RetryableError(`converter thread exited (${code}) before it finished`));
          });
        }),
      );
    }
    await takeTables(tasks, shared, accept, (_id, err) => {
      failure ??= err as Error;
    });
    await Promise.all(finished);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (failure) throw failure;
  return results;
}
