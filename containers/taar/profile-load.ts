/**
 * The profile load's fast path to Bigtable: Avro files are split into block groups on this thread, builders
 * (worker threads from 3 CPUs, else this thread) decode them and build the MutateRows entry bytes (key, zlib
 * JSON payload), and this thread sends them as pre-encoded requests (bigtable-bulk.ts) with a bound on the
 * streams in flight and on the chunks built ahead of the writes. The embedded store of the local twin keeps
 * the port path (`loadAvro`).
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ObjectStore } from "../../shared/adapters/ports.ts";
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";
import { type BigtableBulk, type EncodedEntries, writeEntries } from "./bigtable-bulk.ts";
import { TMP_PREFIX } from "./profile.ts";
import { type BuildJob, buildJobEntries, buildJobs, splitAvro } from "./profile-build.ts";
import { BIGTABLE_TABLE } from "./tables.ts";

export interface BulkLoadOptions {
  table?: string;
  /**
   * Builder threads; 0 builds on this thread. Default: 0 with up to 2 CPUs, else one less than the CPUs (this
   * thread keeps one for sending), at most 4. Measured on 2 cores: sending pre-encoded entries costs this
   * thread ~4 us per row, so one builder thread can only take that much off it, while each thread costs
   * ~1 CPU-s to start and warm up and competes with everything else for the same two cores.
   */
  workers?: number;
  /** Rows per MutateRows request (whole Avro blocks). Default 5000. */
  batchRows?: number;
  /** MutateRows streams in flight. Default 4. */
  streams?: number;
  /** Cell timestamp in microseconds (whole milliseconds). Default now. */
  timestampMicros?: number;
}

export interface Builder {
  build(job: BuildJob): Promise<EncodedEntries>;
  close(): Promise<void>;
}

/** Builder threads, handed jobs round-robin by whichever is free; `workers: 0` builds on this thread. */
export function createBuilder(workers: number): Builder {
  if (workers <= 0)
    return {
      build: async (job) => buildJobEntries(job),
      close: async () => {},
    };
  type Pending = { resolve: (e: EncodedEntries) => void; reject: (err: Error) => void };
  const pending = new Map<number, Pending>();
  let nextId = 0;
  const threads = Array.from({ length: workers }, () => {
    const w = new Worker(new URL("./profile-worker.ts", import.meta.url));
    w.on("message", (m: { id: number; entries?: EncodedEntries; error?: Record<string, unknown> }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.entries) p.resolve(m.entries);
      else {
        const e = m.error ?? {};
        p.reject(
          e.nonRetriable
            ? new NonRetriableError(String(e.message), { field: e.field as string, fix: e.fix as string })
            : new RetryableError(String(e.message)),
        );
      }
    });
    const t = { worker: w, busy: 0, dead: undefined as Error | undefined };
    // A thread that crashed or exited fails what it holds; jobs for it fail at once (they would never answer).
    const die = (err: Error) => {
      t.dead ??= err;
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    w.on("error", die);
    w.on("exit", (code) => die(new RetryableError(`a profile builder thread exited with code ${code}`)));
    return t;
  });
  return {
    build(job) {
      const t = threads.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (t.dead) return Promise.reject(t.dead);
      t.busy++;
      const id = nextId++;
      return new Promise<EncodedEntries>((resolve, reject) => {
        pending.set(id, {
          resolve: (e) => {
            t.busy--;
            resolve(e);
          },
          reject: (err) => {
            t.busy--;
            reject(err);
          },
        });
        // The job's data is a fresh copy: hand it over instead of cloning it.
        t.worker.postMessage({ id, job }, [job.data.buffer as ArrayBuffer]);
      });
    },
    async close() {
      await Promise.all(threads.map((t) => t.worker.terminate()));
    },
  };
}

const defaultWorkers = () => {
  const cpus = availableParallelism();
  return cpus <= 2 ? 0 : Math.min(4, cpus - 1);
};

/**
 * Load Avro container files (already read) into Bigtable. Builds run up to `streams + workers` chunks ahead of
 * the writes; the first failure stops the load and is rethrown.
 */
export async function loadAvroBuffersBulk(
  bulk: BigtableBulk,
  files: AsyncIterable<{ name: string; data: Uint8Array }> | Iterable<{ name: string; data: Uint8Array }>,
  o: BulkLoadOptions = {},
): Promise<{ files: number; rows: number }> {
  const tableName = bulk.tableName(o.table ?? BIGTABLE_TABLE);
  const workers = o.workers ?? defaultWorkers();
  const streams = o.streams ?? 4;
  const timestampMicros = o.timestampMicros ?? Date.now() * 1000;
  const builder = createBuilder(workers);
  let failure: unknown;
  let rows = 0;
  let fileCount = 0;
  // Two semaphores: chunks built but not yet written (memory), and writes in flight (streams).
  let ahead = 0;
  let writing = 0;
  const aheadLimit = streams + Math.max(1, workers);
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const until = async (ok: () => boolean) => {
    while (!ok() && failure === undefined) await new Promise<void>((r) => waiters.push(r));
  };
  const inFlight = new Set<Promise<void>>();
  const run = (job: BuildJob) => {
    const p = (async () => {
      try {
        const entries = await builder.build(job);
        await until(() => writing < streams);
        if (failure !== undefined) return;
        writing++;
        try {
          await writeEntries({ tableName, appProfileId: bulk.appProfileId, send: bulk.send }, entries);
          rows += entries.count;
        } finally {
          writing--;
        }
      } catch (err) {
        failure ??= err;
      } finally {
        ahead--;
        wake();
      }
    })();
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
  };
  try {
    for await (const f of files) {
      fileCount++;
      const jobs = buildJobs(splitAvro(f.data, f.name), f.name, o.batchRows ?? 5000, timestampMicros);
      for (const job of jobs) {
        await until(() => ahead < aheadLimit);
        if (failure !== undefined) break;
        ahead++;
        run(job);
      }
      if (failure !== undefined) break;
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.all(inFlight);
    await builder.close();
  }
  if (failure !== undefined) throw failure;
  return { files: fileCount, rows };
}

/** This task's share of the day's Avro files (file i goes to task i mod taskCount), read one at a time. */
export async function loadAvroBulk(
  bulk: BigtableBulk,
  data: ObjectStore,
  o: BulkLoadOptions & { day: string; taskIndex: number; taskCount: number },
): Promise<{ files: number; rows: number }> {
  const prefix = `${TMP_PREFIX}taar-profile.${o.day.replaceAll("-", "")}.avro.`;
  const names = (await data.list(prefix))
    .filter((_, i) => i % o.taskCount === o.taskIndex)
    .map((f) => f.name);
  async function* read() {
    for (const name of names) yield { name, data: await data.get(name) };
  }
  return loadAvroBuffersBulk(bulk, read(), o);
}
