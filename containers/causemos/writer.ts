import type { ObjectStore } from "../../shared/adapters/ports.ts";

/**
 * Where the job's files go. `write` queues and returns at once; `drain` waits while too many writes are in
 * flight (back-pressure for the producer); `close` waits for every write and rethrows the first failure.
 */
export interface OutputWriter {
  write(name: string, body: string | Uint8Array): void;
  drain(): Promise<void>;
  close(): Promise<void>;
  /** Stop without finishing (a failed run): drops what is queued, releases threads. */
  abort?(): Promise<void>;
  /** Get ready for the first write while the caller reads its input (a writer thread starts loading). */
  prepare?(): void;
  readonly files: number;
  readonly bytes: number;
}

export interface StoreWriterOptions {
  /** Writes in flight at once (default 64). */
  concurrency?: number;
  /** `drain()` waits while more than this many writes are queued (default 4096). */
  highWaterMark?: number;
}

/** Writes to one bucket of the objects port (Cloud Storage, or the local directory tree). */
export function objectStoreWriter(store: ObjectStore, options: StoreWriterOptions = {}): OutputWriter {
  const concurrency = options.concurrency ?? 64;
  const highWaterMark = options.highWaterMark ?? 4096;
  const queue: { name: string; body: Buffer }[] = [];
  let active = 0;
  let files = 0;
  let bytes = 0;
  let failure: unknown;
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const pump = () => {
    while (active < concurrency && queue.length > 0 && failure === undefined) {
      const item = queue.shift() as { name: string; body: Buffer };
      active++;
      store.put(item.name, item.body).then(
        () => {
          active--;
          files++;
          bytes += item.body.length;
          pump();
          wake();
        },
        (err) => {
          active--;
          failure ??= err;
          wake();
        },
      );
    }
  };
  const settled = (limit: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (failure !== undefined) reject(failure);
        else if (queue.length + active <= limit) resolve();
        else waiters.push(check);
      };
      check();
    });
  return {
    write(name, body) {
      if (failure !== undefined) throw failure;
      queue.push({
        name,
        body:
          typeof body === "string"
            ? Buffer.from(body)
            : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      });
      pump();
    },
    drain: () => settled(highWaterMark),
    close: () => settled(0),
    get files() {
      return files;
    },
    get bytes() {
      return bytes;
    },
  };
}

/** Counts what would be written and keeps nothing (the original's WM_DEST_TYPE=none). */
export function nullWriter(): OutputWriter {
  let files = 0;
  let bytes = 0;
  return {
    write(_name, body) {
      files++;
      bytes += typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    },
    drain: async () => {},
    close: async () => {},
    get files() {
      return files;
    },
    get bytes() {
      return bytes;
    },
  };
}

/** Keeps every file in memory: for tests and for the shard merge. */
export function memoryWriter(): OutputWriter & { output: Map<string, Buffer> } {
  const output = new Map<string, Buffer>();
  let bytes = 0;
  return {
    output,
    write(name, body) {
      const b = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
      output.set(name, b);
      bytes += b.length;
    },
    drain: async () => {},
    close: async () => {},
    get files() {
      return output.size;
    },
    get bytes() {
      return bytes;
    },
  };
}
