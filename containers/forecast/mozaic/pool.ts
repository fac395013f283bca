import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ForecastPool } from "../pool.ts";
import type { FitResult, FitTask } from "../task.ts";
import type { TileFit, TileTask } from "./tilefit.ts";

/**
 * The Mozaic worker pool: a ForecastPool (plain fits, e.g. for fan charts) that also fits Mozaic nodes and
 * summarises their sample paths on the worker (`fitTile`), so the main thread receives ~1/5 of the data and
 * never sorts a path. Fixed size, one task per worker at a time, FIFO; a task whose fit throws rejects its own
 * promise only; a crashed worker is replaced and its task rejected. Workers load worker.ts directly
 * (Node >= 22.18 strips the types).
 */
export interface MozaicPool extends ForecastPool {
  fitTile(task: TileTask): Promise<TileFit>;
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
  job?: Job;
}

export function createMozaicPool(options: { size?: number } = {}): MozaicPool {
  const size = Math.max(1, options.size ?? availableParallelism());
  const queue: Job[] = [];
  const slots: Slot[] = [];
  let seq = 0;
  let closed = false;

  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(new URL("./worker.ts", import.meta.url)) };
    slot.worker.on(
      "message",
      (msg: { seq: number; result?: unknown; error?: { name: string; message: string } }) => {
        const job = slot.job;
        if (!job || job.seq !== msg.seq) return;
        slot.job = undefined;
        if (msg.error) {
          const e = new Error(msg.error.message);
          e.name = msg.error.name;
          job.reject(e);
        } else job.resolve(msg.result);
        pump();
      },
    );
    slot.worker.on("error", (err) => {
      const job = slot.job;
      slot.job = undefined;
      job?.reject(new Error(`mozaic worker crashed on ${job.id}: ${err.message}`));
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
    for (const slot of slots) {
      if (slot.job || queue.length === 0) continue;
      const job = queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ seq: job.seq, kind: job.kind, task: job.task });
    }
    for (const slot of slots) if (!slot.job) slot.worker.unref();
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
    close: async () => {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error("mozaic pool closed"));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
