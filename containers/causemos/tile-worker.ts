import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import {
  jobCells,
  runTileJob,
  TILE_SIGNAL,
  type TileJob,
  type TileReply,
  type TileSetup,
  transferable,
} from "./tile-thread.ts";
import type { SeriesCells } from "./tiling.ts";

/**
 * The tiling thread (`tileThread` in tile-thread.ts): runs each posted job in order and answers each feature
 * on the reply port as soon as it is done (the tiles' buffers transferred), then raises the posted count. A
 * job with `sameCells` reuses the previous job's cells. A failure is answered by name and message.
 */

if (!parentPort) throw new Error("tile-worker.ts runs as a worker thread");
const setup = workerData as TileSetup;
const port = setup.port as MessagePort;
const signal = new Int32Array(setup.signal);
const answer = (reply: TileReply, transfer: ArrayBuffer[] = []) => {
  port.postMessage(reply, transfer);
  Atomics.add(signal, TILE_SIGNAL.posted, 1);
  Atomics.notify(signal, TILE_SIGNAL.posted);
};
let last: { cells: SeriesCells; rowsWithoutTile: number } | undefined;
parentPort.on("message", (job: TileJob) => {
  if (Atomics.load(signal, TILE_SIGNAL.abort) !== 0) return;
  try {
    if (!job.sameCells || !last) last = jobCells(job);
    runTileJob(job, last.cells, last.rowsWithoutTile, (feature) =>
      answer({ feature }, transferable(feature)),
    );
  } catch (err) {
    const e = err as Error;
    answer({ error: { name: e.name, message: e.message } });
  }
});
