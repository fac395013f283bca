import { parentPort, workerData } from "node:worker_threads";
import type { LocalObjectStore } from "../../shared/adapters/local/objects.ts";
import type { ObjectStore } from "../../shared/adapters/ports.ts";
import type { StoreSpec, WriteBatch, WriteReply } from "./threaded-writer.ts";

/**
 * The writer thread of `threadedWriter`: builds the objects port's adapter named by `workerData` and puts every
 * file of each batch it is sent, answering each batch when all its puts are done. A store with a batched put
 * (the local adapter's `putMany`) takes the batch in one call; otherwise a bounded number of puts run at once.
 */

const spec = workerData as StoreSpec;
const CONCURRENCY = 64;

async function openStore(): Promise<ObjectStore | LocalObjectStore> {
  if (spec.kind === "local") {
    const { createLocalObjects } = await import("../../shared/adapters/local/objects.ts");
    return createLocalObjects({ root: spec.root }).bucket(spec.bucket);
  }
  const { createGcpObjects } = await import("../../shared/adapters/gcp/objects.ts");
  return createGcpObjects({ projectId: spec.projectId }).bucket(spec.bucket);
}

const store = openStore();
const port = parentPort;
if (!port) throw new Error("write-worker.ts runs as a worker thread");

port.on("message", async (batch: WriteBatch) => {
  let reply: WriteReply;
  try {
    const s = await store;
    const data = Buffer.from(batch.data);
    const body = (k: number) => data.subarray(batch.spans[2 * k], batch.spans[2 * k + 1]);
    if ("putMany" in s) {
      // A body written twice in a row (the same span) is passed as the same view, which putMany stores once
      // under both names.
      const views = batch.names.map((_, k) => body(k));
      for (let k = 1; k < views.length; k++)
        if (
          batch.spans[2 * k] === batch.spans[2 * k - 2] &&
          batch.spans[2 * k + 1] === batch.spans[2 * k - 1]
        )
          views[k] = views[k - 1];
      await s.putMany(batch.names.map((name, k) => ({ name, data: views[k] })));
    } else {
      let next = 0;
      const lane = async () => {
        while (next < batch.names.length) {
          const k = next++;
          await s.put(batch.names[k], body(k));
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, batch.names.length) }, lane));
    }
    let bytes = 0;
    for (let k = 0; k < batch.names.length; k++) bytes += batch.spans[2 * k + 1] - batch.spans[2 * k];
    reply = { id: batch.id, files: batch.names.length, bytes };
  } catch (err) {
    const e = err as Error;
    reply = { id: batch.id, error: { name: e.name, message: e.message } };
  }
  port.postMessage(reply);
});
