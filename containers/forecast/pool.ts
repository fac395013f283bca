import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { FitResult, FitTask } from "./task.ts";

/**
 * A fixed pool of worker threads that fit series (tiles) in parallel. Each worker loads worker.ts directly
 * (Node >= 22.18 strips the types), takes one task at a time and posts back the forecast arrays (transferred,
 * not copied). A task whose fit throws (bad input) rejects its own promise only; a crashed worker is replaced
 * and its task rejected.
 */
export interface ForecastPool {
  readonly size: number;
  fit(task: FitTask): Promise<FitResult>;
  fitAll(tasks: FitTask[]): Promise<FitResult[]>;
  close(): Promise<void>;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Pending {
  seq: number;
  task: FitTask;
  resolve: (r: FitResult) => void;
  reject: (e: Error) => void;
}

export function createForecastPool(options: { size?: number } = {}): ForecastPool {
  const size = Math.max(1, options.size ?? Math.max(1, availableParallelism()));
  const queue: Pending[] = [];
  const inflight = new Map<number, { pending: Pending; slot: Slot }>();
  const slots: Slot[] = [];
  let seq = 0;
  let closed = false;

  const spawn = (): Slot => {
    const worker = new Worker(new URL("./worker.ts", import.meta.url));
    const slot: Slot = { worker, busy: false };
    worker.on(
      "message",
      (msg: { seq: number; result?: FitResult; error?: { name: string; message: string } }) => {
        const entry = inflight.get(msg.seq);
        if (!entry) return;
        inflight.delete(msg.seq);
        slot.busy = false;
        if (msg.error) {
          const e = new Error(msg.error.message);
          e.name = msg.error.name;
          entry.pending.reject(e);
        } else entry.pending.resolve(msg.result as FitResult);
        pump();
      },
    );
    worker.on("error", (err) => {
      for (const [k, entry] of inflight) {
        if (entry.slot === slot) {
          inflight.delete(k);
          entry.pending.reject(
            new Error(`forecast worker crashed on ${entry.pending.task.id}: ${err.message}`),
          );
        }
      }
      const i = slots.indexOf(slot);
      if (i >= 0 && !closed) {
        slots[i] = spawn();
        pump();
      }
    });
    worker.unref();
    return slot;
  };
  for (let i = 0; i < size; i++) slots.push(spawn());

  const pump = () => {
    for (const slot of slots) {
      if (slot.busy || queue.length === 0) continue;
      const pending = queue.shift() as Pending;
      slot.busy = true;
      slot.worker.ref();
      inflight.set(pending.seq, { pending, slot });
      slot.worker.postMessage({ seq: pending.seq, task: pending.task });
    }
    for (const slot of slots) if (!slot.busy) slot.worker.unref();
  };

  const fit = (task: FitTask) =>
    new Promise<FitResult>((resolve, reject) => {
      if (closed) {
        reject(new Error("forecast pool is closed"));
        return;
      }
      queue.push({ seq: seq++, task, resolve, reject });
      pump();
    });

  return {
    size,
    fit,
    fitAll: (tasks) => Promise.all(tasks.map(fit)),
    close: async () => {
      closed = true;
      for (const p of queue.splice(0)) p.reject(new Error("forecast pool closed"));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
