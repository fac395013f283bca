import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ForecastPool } from "../pool.ts";
import type { FitResult, FitTask } from "../task.ts";
import type { TileFit, TileTask } from "./tilefit.ts";

/**
 * The Mozaic worker pool: a ForecastPool (plain fits, e.g. for fan charts) that also fits Mozaic nodes and
 * summarises their sample paths on the worker (`fitTile`), so the main thread receives ~1/5 of the data and
 * never sorts a path. Fixed size, FIFO. Each worker holds up to `depth` tasks at once (default 4; it runs them
 * one after another from its message port), so a worker goes on to its next task while the main thread is busy
 * with long synchronous work (parsing, reconciling, formatting) and cannot hand out new ones. A task whose fit
 * throws rejects its own promise only; a crashed worker is replaced, the task it was running is rejected and
 * the ones it still held go back to the front of the queue. Workers load worker.ts directly (Node >= 22.18
 * strips the types).
 */
export interface MozaicPool extends ForecastPool {
  fitTile(task: TileTask): Promise<TileFit>;
  /**
   * Milliseconds the workers spent on tasks (wall, summed over workers), their CPU time for them, and the pool's
   * age: utilisation = busy / (size * age).
   */
  stats(): { busyMs: number; cpuMs: number; ageMs: number; tasks: number };
}

interface Job {
  seq: number;
  kind: "tile" | "fit";
  task: TileTask | FitTask;
  id: string;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Posted and not yet answered, oldest first (the worker answers in order). */
  jobs: Job[];
}

export function createMozaicPool(options: { size?: number; depth?: number } = {}): MozaicPool {
  const size = Math.max(1, options.size ?? availableParallelism());
  const depth = Math.max(1, options.depth ?? 4);
  const queue: Job[] = [];
  const slots: Slot[] = [];
  const born = performance.now();
  let busyMs = 0;
  let cpuMs = 0;
  let done = 0;
  let seq = 0;
  let closed = false;

  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(new URL("./worker.ts", import.meta.url)), jobs: [] };
    slot.worker.on(
      "message",
      (msg: {
        seq: number;
        ms?: number;
        cpuMs?: number;
        result?: unknown;
        error?: { name: string; message: string };
      }) => {
        const job = slot.jobs[0];
        if (!job || job.seq !== msg.seq) return;
        slot.jobs.shift();
        busyMs += msg.ms ?? 0;
        cpuMs += msg.cpuMs ?? 0;
        done++;
        if (msg.error) {
          const e = new Error(msg.error.message);
          e.name = msg.error.name;
          job.reject(e);
        } else job.resolve(msg.result);
        pump();
      },
    );
    slot.worker.on("error", (err) => {
      const [job, ...held] = slot.jobs.splice(0);
      job?.reject(new Error(`mozaic worker crashed on ${job.id}: ${err.message}`));
      queue.unshift(...held);
      const i = slots.indexOf(slot);
      if (i >= 0 && !closed) {
        slots[i] = spawn();
        pump();
      }
    });
    slot.worker.unref();
    return slot;
  };

  const pump = () => {
    // Fill the emptiest worker first, one task at a time, so that work spreads evenly.
    while (queue.length > 0) {
      let best: Slot | undefined;
      for (const slot of slots)
        if (slot.jobs.length < depth && (!best || slot.jobs.length < best.jobs.length)) best = slot;
      if (!best) break;
      const job = queue.shift() as Job;
      best.jobs.push(job);
      best.worker.ref();
      best.worker.postMessage({ seq: job.seq, kind: job.kind, task: job.task });
    }
    for (const slot of slots) if (slot.jobs.length === 0) slot.worker.unref();
  };

  const submit = <T>(kind: Job["kind"], task: TileTask | FitTask, id: string) =>
    new Promise<T>((resolve, reject) => {
      if (closed) {
        reject(new Error("mozaic pool is closed"));
        return;
      }
      queue.push({ seq: seq++, kind, task, id, resolve: resolve as (r: unknown) => void, reject });
      pump();
    });

  for (let i = 0; i < size; i++) slots.push(spawn());
  const fit = (task: FitTask) => submit<FitResult>("fit", task, task.id);
  return {
    size,
    fit,
    fitAll: (tasks) => Promise.all(tasks.map(fit)),
    fitTile: (task) => submit<TileFit>("tile", task, task.fit.id),
    stats: () => ({ busyMs, cpuMs, ageMs: performance.now() - born, tasks: done }),
    close: async () => {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error("mozaic pool closed"));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
