import { Worker } from "node:worker_threads";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { OutputWriter } from "./writer.ts";

/**
 * An {@link OutputWriter} whose puts run on a worker thread (write-worker.ts), so the file system or network
 * work of thousands of small objects overlaps the job's computing on the other core. Files are copied into
 * batches (about 4 MiB or 512 files) and posted with their buffer transferred; `drain` waits while more than
 * `maxBatches` batches are unanswered, `close` waits for all and stops the thread. The thread starts with the first
 * batch, or earlier with `prepare()`.
 */

export type StoreSpec =
  | { kind: "local"; root: string; bucket: string }
  | { kind: "gcs"; projectId?: string; bucket: string };

export interface WriteBatch {
  id: number;
  names: string[];
  /** File k is data[spans[2k], spans[2k + 1]) (a body written twice in a row is in the data once). */
  spans: number[];
  data: ArrayBuffer;
}

export type WriteReply =
  | { id: number; files: number; bytes: number; error?: undefined }
  | { id: number; error: { name: string; message: string } };

const BATCH_BYTES = 4 << 20;
const BATCH_FILES = 512;

export function threadedWriter(spec: StoreSpec, options: { maxBatches?: number } = {}): OutputWriter {
  const maxBatches = options.maxBatches ?? 8;
  // The thread starts with the first batch (a run that fails before writing never starts it) and keeps the
  // process alive only while writes are in flight.
  let worker: Worker | undefined;
  let names: string[] = [];
  let spans: number[] = [];
  // The batch's distinct bodies in order, their total size, and the body written last (a body written again
  // right after, as the year's copy of a month tile, takes the same span).
  let bodies: Uint8Array[] = [];
  let size = 0;
  let last: string | Uint8Array | undefined;
  let nextId = 0;
  let pending = 0;
  let files = 0;
  let bytes = 0;
  let failure: Error | undefined;
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const start = (): Worker => {
    const w = new Worker(new URL("./write-worker.ts", import.meta.url), { workerData: spec });
    w.on("message", (reply: WriteReply) => {
      pending--;
      if (pending === 0) w.unref();
      if (reply.error) {
        const { name, message } = reply.error;
        failure ??=
          name === "NonRetriableError"
            ? new NonRetriableError(message, {
                field: "outputs",
                fix: "check the output bucket and object names",
              })
            : Object.assign(new Error(message), { name });
      } else {
        files += reply.files;
        bytes += reply.bytes;
      }
      wake();
    });
    w.on("error", (err) => {
      failure ??= err;
      wake();
    });
    return w;
  };
  const flush = () => {
    if (names.length === 0) return;
    // Not zeroed first: every byte is copied over (its own ArrayBuffer, not the pool's, so it can be transferred).
    const data = Buffer.allocUnsafeSlow(size);
    let o = 0;
    for (const body of bodies) {
      data.set(body, o);
      o += body.length;
    }
    const batch: WriteBatch = { id: nextId++, names, spans, data: data.buffer };
    worker ??= start();
    if (pending++ === 0) worker.ref();
    worker.postMessage(batch, [data.buffer]);
    names = [];
    spans = [];
    bodies = [];
    size = 0;
    last = undefined;
  };
  const settled = (limit: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (failure !== undefined) reject(failure);
        else if (pending <= limit) resolve();
        else waiters.push(check);
      };
      check();
    });
  return {
    write(name, body) {
      if (failure !== undefined) throw failure;
      names.push(name);
      if (body === last && typeof body !== "string") {
        spans.push(spans[spans.length - 2], spans[spans.length - 1]);
      } else {
        const b = typeof body === "string" ? Buffer.from(body) : body;
        spans.push(size, size + b.length);
        bodies.push(b);
        size += b.length;
        last = body;
      }
      if (size >= BATCH_BYTES || names.length >= BATCH_FILES) flush();
    },
    prepare() {
      // The thread loads its modules on the other core while the job reads; it holds the process open only
      // while batches are in flight.
      if (failure !== undefined || worker) return;
      worker = start();
      worker.unref();
    },
    drain: () => settled(maxBatches),
    async close() {
      flush();
      try {
        await settled(0);
      } finally {
        await worker?.terminate();
      }
    },
    async abort() {
      names = [];
      spans = [];
      bodies = [];
      last = undefined;
      await worker?.terminate();
    },
    get files() {
      return files;
    },
    get bytes() {
      return bytes;
    },
  };
}
