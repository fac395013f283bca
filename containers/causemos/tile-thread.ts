import {
  MessageChannel,
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  Worker,
} from "node:worker_threads";
import type { Temporal } from "./aggregate.ts";
import { csvDocument, pyFloat } from "./format.ts";
import { computeTiles, GRID_STATS_COLUMNS, type SeriesCells, seriesCells } from "./tiling.ts";

/**
 * Tiles and grid stats on a second thread (tile-worker.ts) while the main thread computes the other outputs.
 * The thread reads the temporal table, series features and coordinates through SharedArrayBuffer views (the
 * one-pass read makes them there; other arrays are copied into shared memory once), so nothing large is
 * copied per job, and it hands back the files, each tile's own buffer transferred (tiles average ~60 KB on
 * scenario B; packing them into one buffer cost more than the tiling's smaller steps). The files are exactly
 * those the main thread would make (`tileFiles`, the same code on either side).
 */

/** Writes one file of a period: `${head}${period start}${tail}` under the feature's folder. */
export type PeriodPut = (period: number, head: string, tail: string, body: string | Uint8Array) => void;

/** The tiles and grid stats of one feature's temporal rows through `put`; returns the counts made. */
export function tileFiles(
  t: Temporal,
  rows: Int32Array,
  cells: SeriesCells,
  put: PeriodPut,
): { tiles: number; bins: number } {
  return computeTiles(t, rows, cells, {
    tile: (period, z, x, y, bytes) => put(period, "tiles/", `-${z}-${x}-${y}.tile`, bytes),
    gridStats: (period, statRows) =>
      put(
        period,
        "stats/grid/",
        ".csv",
        csvDocument(
          GRID_STATS_COLUMNS,
          statRows.map((r) => [String(r.zoom), ...r.values.map(pyFloat)]),
        ),
      ),
  });
}

/** One table's tiling: every array a view on a SharedArrayBuffer. */
export interface TileJob {
  table: Pick<Temporal, "res" | "rows" | "periods" | "series" | "period" | "tSum" | "tMean" | "count">;
  /** The table's rows by feature: feature f's are rows[start[f] .. start[f + 1]) (the main thread's own). */
  byFeature: { start: Int32Array; rows: Int32Array };
  /** Features to tile, in this order, each made by whichever thread claims it first (`claimFeature`). */
  features: number[];
  /** One Int32: how many of `features` are claimed. */
  claims: SharedArrayBuffer;
  /** Coordinates by frame row, each series' row, and each frame row's series (for rows without tiles). */
  lat: Float64Array;
  lng: Float64Array;
  seriesRow: Int32Array;
  ofRow: Int32Array;
  /** The coordinates are those of the previous job: its cells are reused. */
  sameCells: boolean;
}

export interface TileFile {
  period: number;
  head: string;
  tail: string;
  body: string | Uint8Array;
}

/** One feature's tiles and grid stats, as the thread answers them (one message per feature). */
export interface TileFeature {
  res: Temporal["res"];
  f: number;
  tiles: number;
  bins: number;
  files: TileFile[];
  /** Series without a valid cell, and the frame rows they hold (the job's cells). */
  invalid: number;
  rowsWithoutTile: number;
}

/** What the worker posts: a feature, or why a job failed. */
export type TileReply = { feature: TileFeature } | { error: { name: string; message: string } };

/** Indices into the shared signal array: answers posted, thread told to stop. */
export const TILE_SIGNAL = { posted: 0, abort: 1 } as const;

/** What the thread is started with. */
export interface TileSetup {
  port: MessagePort;
  signal: SharedArrayBuffer;
}

/** The cells of a job's series and the rows without a tile (the frame rows whose series has none). */
export function jobCells(job: TileJob): { cells: SeriesCells; rowsWithoutTile: number } {
  const cells = seriesCells(job.lat, job.lng, job.seriesRow);
  let rowsWithoutTile = 0;
  if (cells.invalid > 0)
    for (let i = 0; i < job.ofRow.length; i++) if (cells.x[job.ofRow[i]] < 0) rowsWithoutTile++;
  return { cells, rowsWithoutTile };
}

/**
 * The next feature of the job that no thread has claimed, or undefined. The tiling thread claims the job's
 * features in order; the main thread, once it has nothing else to do, claims what is left and makes those
 * itself rather than wait.
 */
export function claimFeature(job: TileJob): number | undefined {
  const k = Atomics.add(new Int32Array(job.claims), 0, 1);
  return k < job.features.length ? job.features[k] : undefined;
}

/** The tiles and grid stats of feature `f` of the job, made where it is called. */
export function featureTiles(
  job: TileJob,
  cells: SeriesCells,
  rowsWithoutTile: number,
  f: number,
): TileFeature {
  const t = job.table as Temporal;
  const { start, rows } = job.byFeature;
  const files: TileFile[] = [];
  const made = tileFiles(t, rows.subarray(start[f], start[f + 1]), cells, (period, head, tail, body) => {
    files.push({ period, head, tail, body });
  });
  return { res: t.res, f, ...made, files, invalid: cells.invalid, rowsWithoutTile };
}

/** Runs a job where it is called (the worker's side), handing each feature it claims to `answer` when done. */
export function runTileJob(
  job: TileJob,
  cells: SeriesCells,
  rowsWithoutTile: number,
  answer: (feature: TileFeature) => void,
): void {
  for (let f = claimFeature(job); f !== undefined; f = claimFeature(job))
    answer(featureTiles(job, cells, rowsWithoutTile, f));
}

/**
 * The buffers an answer can hand over: those each tile owns whole. (A small tile is a view on Node's shared
 * allocation pool, which is copied with the message instead.)
 */
export function transferable(feature: TileFeature): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const { body } of feature.files)
    if (typeof body !== "string" && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength)
      out.add(body.buffer as ArrayBuffer);
  return [...out];
}

/** `a` itself when it views shared memory, else a copy in shared memory. */
export function shared<A extends Int32Array | Float64Array>(a: A): A {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => A;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

export interface TileThread {
  /** Queues a job (jobs run in order, each answering feature by feature in the job's order). */
  post(job: TileJob): void;
  /** The next answer if the thread has posted one, without waiting. */
  poll(): TileFeature | undefined;
  /** The next answer, waiting for it (synchronously: this thread has nothing else to do then). */
  take(): TileFeature;
  close(): void;
}

/** No answer from the tiling thread for this long: it is taken as dead. */
const STALL_MS = 120_000;

/**
 * The tiling thread: `spare`, an idle thread that serves a setup message (`{ tiles: setup }`, as the decoding
 * thread does once it has read every group), else a new one (tile-worker.ts).
 */
export function tileThread(spare?: Worker): TileThread {
  const signalBuffer = new SharedArrayBuffer(8);
  const signal = new Int32Array(signalBuffer);
  const { port1, port2 } = new MessageChannel();
  const setup: TileSetup = { port: port2, signal: signalBuffer };
  let worker: Worker;
  if (spare) {
    worker = spare;
    worker.postMessage({ tiles: setup }, [port2]);
  } else {
    worker = new Worker(new URL("./tile-worker.ts", import.meta.url), {
      workerData: setup,
      transferList: [port2],
    });
  }
  worker.unref();
  // A thread that dies is noticed by take()'s deadline.
  worker.on("error", () => {});
  let taken = 0;
  const poll = (): TileFeature | undefined => {
    const m = receiveMessageOnPort(port1);
    if (m === undefined) return undefined;
    taken++;
    const reply = m.message as TileReply;
    if ("error" in reply) throw Object.assign(new Error(reply.error.message), { name: reply.error.name });
    return reply.feature;
  };
  return {
    post(job) {
      worker.postMessage(job);
    },
    poll,
    take() {
      const since = performance.now();
      for (;;) {
        const got = poll();
        if (got) return got;
        const posted = Atomics.load(signal, TILE_SIGNAL.posted);
        // Posted but not yet readable: the message lags the count briefly.
        if (posted > taken) continue;
        if (
          Atomics.wait(signal, TILE_SIGNAL.posted, posted, 1000) === "timed-out" &&
          performance.now() - since > STALL_MS
        )
          throw new Error(`the tiling thread gave no answer for ${STALL_MS / 1000} s`);
      }
    },
    close() {
      Atomics.store(signal, TILE_SIGNAL.abort, 1);
      port1.close();
      void worker.terminate();
    },
  };
}

/**
 * The thread's side: runs each job posted to this thread in order and answers each feature on the setup's
 * port as soon as it is done (the tiles' buffers transferred), then raises the posted count. A job with
 * `sameCells` reuses the previous job's cells. A failure is answered by name and message.
 */
export function serveTiles(setup: TileSetup): void {
  if (!parentPort) throw new Error("serveTiles runs in a worker thread");
  const port = setup.port;
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
}
