import { closeSync, openSync } from "node:fs";
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { ColumnCursor, readParquetMetadata } from "./parquet.ts";
import { type DecodeJob, EARLY, groupBuffers, SIGNAL } from "./stream-decode.ts";
import { serveTiles, type TileSetup } from "./tile-thread.ts";

/**
 * The decoding thread of the one-pass read (`threadedGroups` in stream-decode.ts): decodes the row groups of
 * the files in order, each into its shared buffer set (group k into set k % sets) once the main thread has
 * released that set (when the main thread decodes the first group itself, because this thread was started
 * with the job and not before it, the thread decodes that group into the last set), and for each
 * group posts the dictionary entries its cursors added (so the main thread's codes mean the same strings)
 * before raising the ready count. A failure is posted by name and message (UnsupportedParquet makes the job
 * read with DuckDB instead). Once every group is read, the thread is the run's spare thread: it waits for a
 * tiling setup (`takeSpareThread`, tile-thread.ts) and then serves tiling jobs.
 */

if (!parentPort) throw new Error("decode-worker.ts runs as a worker thread");
const parent = parentPort;
const start = workerData as DecodeJob | typeof EARLY;
// Started early (`startDecodeThread`): the first message is the read's job, or a tiling setup when the read
// had no use for the thread.
if (start === EARLY)
  parent.once("message", (m: DecodeJob | { tiles: TileSetup }) => {
    if ("tiles" in m) serveTiles(m.tiles);
    else decode(m);
  });
else decode(start);

function decode(job: DecodeJob): void {
  const port = job.port as MessagePort;
  const signal = new Int32Array(job.signal);
  const sets = job.sets.map((s) => groupBuffers(s, job.textCount));
  const cursors = job.columns.map((c) => new ColumnCursor(c.name, c.kind, c.missing));
  const sent = cursors.map(() => 0);
  let k = 0;
  try {
    for (const path of job.paths) {
      const file = readParquetMetadata(path);
      const fd = openSync(path, "r");
      try {
        for (let g = 0; g < file.rowGroups.length; g++) {
          if (file.rowGroups[g].rows === 0) continue;
          // Wait until the main thread has released the set this group goes to (group k - sets' length's).
          for (;;) {
            if (Atomics.load(signal, SIGNAL.abort) !== 0) process.exit(0);
            const released = Atomics.load(signal, SIGNAL.released);
            if (released >= k - sets.length + 1) break;
            Atomics.wait(signal, SIGNAL.released, released);
          }
          // When the main thread decodes the first group itself into set 0, this thread decodes it into the last
          // set (not read before group sets.length - 1 fills it) for the dictionary entries.
          const set = sets[k === 0 && job.mainFirst ? sets.length - 1 : k % sets.length];
          for (let c = 0; c < cursors.length; c++)
            cursors[c].read(file, fd, g, set.views[job.columns[c].slot]);
          const added = cursors.map((cur, c) => (cur.kind === "text" ? cur.values.slice(sent[c]) : []));
          for (let c = 0; c < cursors.length; c++) sent[c] = cursors[c].values.length;
          port.postMessage({ added });
          k++;
          Atomics.store(signal, SIGNAL.ready, k);
          Atomics.notify(signal, SIGNAL.ready);
        }
      } finally {
        closeSync(fd);
      }
    }
    parent.once("message", (m: { tiles?: TileSetup }) => {
      if (m.tiles) serveTiles(m.tiles);
    });
  } catch (err) {
    const e = err as Error;
    port.postMessage({ error: { name: e.constructor?.name ?? e.name, message: e.message } });
    Atomics.store(signal, SIGNAL.failed, 1);
    Atomics.store(signal, SIGNAL.ready, k + 1);
    Atomics.notify(signal, SIGNAL.ready);
  }
}
