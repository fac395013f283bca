import { closeSync, openSync } from "node:fs";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { ColumnCursor, type ParquetFile, UnsupportedParquet } from "./parquet.ts";

/**
 * Where the one-pass read (stream.ts) gets its row groups from: decoded in the calling thread (`inlineGroups`)
 * or on a second thread (`threadedGroups`) that decodes group k + 1 while the caller reduces group k.
 *
 * Buffers: a set holds one array per column slot (text codes as Int32Array: feature first, then the other
 * text columns; then timestamp, value, lat, lng, weight as Float64Array), `maxRows` long. The threaded source
 * has several sets in SharedArrayBuffers, group k in set k % sets; the caller releases a set when it is done
 * with it and the decoding thread fills it again, so nothing is copied or allocated per group. The text cursors'
 * dictionaries (code -> string, in order of first appearance) are rebuilt in the caller from the entries
 * the decoding thread posts with each group, so codes mean the same strings on both sides. The caller stays
 * synchronous: it waits on the shared ready count (Atomics.wait) and takes the group's message with
 * receiveMessageOnPort.
 */

export interface ColumnSpec {
  name: string;
  kind: "numbers" | "text";
  missing: string | null;
  /** Index of the column's array in a buffer set. */
  slot: number;
}

/** No row group from the decoding thread for this long: it is taken as dead (the read falls back to DuckDB). */
const STALL_MS = 60_000;

/** Indices into the shared signal array. */
export const SIGNAL = { ready: 0, released: 1, failed: 2, abort: 3 } as const;

export interface DecodeJob {
  paths: string[];
  /** The main thread decodes the first row group itself (the thread was started with the job). */
  mainFirst: boolean;
  columns: ColumnSpec[];
  textCount: number;
  sets: ArrayBufferLike[][];
  signal: SharedArrayBuffer;
  port: MessagePort;
}

export interface GroupSet {
  views: (Int32Array | Float64Array)[];
  fcodes: Int32Array;
  codes: Int32Array[];
  ts: Float64Array;
  val: Float64Array;
  lat: Float64Array;
  lng: Float64Array;
  wgt: Float64Array;
  latBits: Int32Array;
  lngBits: Int32Array;
}

/** Views on one set's buffers: `textCount` text slots (feature first), then ts, value, lat, lng, weight. */
export function groupBuffers(buffers: ArrayBufferLike[], textCount: number): GroupSet {
  const views = buffers.map((b, k) => (k < textCount ? new Int32Array(b) : new Float64Array(b)));
  const num = (k: number) => views[textCount + k] as Float64Array;
  return {
    views,
    fcodes: views[0] as Int32Array,
    codes: views.slice(1, textCount) as Int32Array[],
    ts: num(0),
    val: num(1),
    lat: num(2),
    lng: num(3),
    wgt: num(4),
    latBits: new Int32Array(buffers[textCount + 2]),
    lngBits: new Int32Array(buffers[textCount + 3]),
  };
}

function allocateSet(layout: GroupLayout, shared: boolean): ArrayBufferLike[] {
  const { textCount, maxRows, noLat, noWeight } = layout;
  const out: ArrayBufferLike[] = [];
  for (let k = 0; k < textCount + 5; k++) {
    const bytes = k === textCount + 4 && noWeight ? 0 : maxRows * (k < textCount ? 4 : 8);
    out.push(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  }
  if (noLat) {
    new Float64Array(out[textCount + 2]).fill(Number.NaN);
    new Float64Array(out[textCount + 3]).fill(Number.NaN);
  }
  return out;
}

export interface GroupSource {
  /** The text cursors' dictionaries (feature first), as the decoded codes index them. */
  readonly cursors: ColumnCursor[];
  /** The next non-empty row group: its row count and buffers; undefined after the last. */
  next(): { n: number; set: GroupSet } | undefined;
  /** The caller is done with the buffers `next` returned last. */
  release(): void;
  /** Every group was read: a decoding thread becomes the spare thread (`takeSpareThread`). */
  finish(): void;
  /** Stops the decoding thread unless `finish` handed it on. */
  close(): void;
}

export interface GroupLayout {
  metas: ParquetFile[];
  columns: ColumnSpec[];
  textCount: number;
  maxRows: number;
  /** No lat/lng columns: those arrays hold NaN throughout. */
  noLat: boolean;
  /** No weight column: the weight array is empty. */
  noWeight: boolean;
}

/** Row groups decoded in the calling thread, into one reused buffer set. */
export function inlineGroups(layout: GroupLayout): GroupSource {
  const { metas, columns, textCount } = layout;
  const set = groupBuffers(allocateSet(layout, false), textCount);
  const cursors = columns.map((c) => new ColumnCursor(c.name, c.kind, c.missing));
  let f = 0;
  let g = 0;
  let fd = -1;
  return {
    cursors: cursors.slice(0, textCount),
    next() {
      for (; f < metas.length; f++, g = 0) {
        const file = metas[f];
        for (; g < file.rowGroups.length; g++) {
          const n = file.rowGroups[g].rows;
          if (n === 0) continue;
          if (fd < 0) fd = openSync(file.path, "r");
          for (let c = 0; c < columns.length; c++) cursors[c].read(file, fd, g, set.views[columns[c].slot]);
          g++;
          return { n, set };
        }
        if (fd >= 0) closeSync(fd);
        fd = -1;
      }
      return undefined;
    },
    release() {},
    finish() {},
    close() {
      if (fd >= 0) closeSync(fd);
      fd = -1;
    },
  };
}

let spare: Worker | undefined;
/** A decoding thread started before the read (`startDecodeThread`), waiting for its job. */
let early: Worker | undefined;

/** What an early decoding thread is started with instead of a job. */
export const EARLY = "tessera:causemos-decode-early";

/**
 * Starts a decoding thread now, before any read: the job's entry calls this first thing, so the thread loads
 * its modules on the other core while the main thread loads the job's (a thread takes ~100 ms to start here).
 * The next threaded read gives it its job and decodes every group there, the first included; a run whose read
 * has no use for it hands it to the tiles as the spare thread (`takeSpareThread`), or ends it.
 */
export function startDecodeThread(): void {
  if (early) return;
  early = new Worker(new URL("./decode-worker.ts", import.meta.url), { workerData: EARLY });
  early.unref();
  early.on("error", () => {});
}

/**
 * The decoding thread of the last threaded read that went through every group, idle since; taken once.
 * Having finished its groups, it waits for a tiling setup (tile-thread.ts), so the run's tiles need not wait
 * for a new thread to start (~100 ms here). Whoever takes it terminates it when done with it.
 */
export function takeSpareThread(): Worker | undefined {
  const w = spare ?? early;
  if (w === spare) spare = undefined;
  else early = undefined;
  return w;
}

/** The buffer sets of the threaded source take at most about this many bytes (at least two sets). */
const SETS_BYTES = 64 << 20;
/**
 * ... and there are at most this many. On B the thread waits for free sets while the first time step makes a
 * million new series (~250-700 ms) and, while its text columns decoded at ~8 ns a value, the caller waited
 * ~3 ms for each later group: then 8 sets (51 MB) ran the job in 1.83 / 1.95 s against 1.96 / 2.07 s with 4
 * (medians of 6 alternating runs, twice). With the text columns decoded twice as fast (`hybridMapped`), 4 sets
 * (26 MB) run it as fast as 8 (2.12 against 2.12 s, medians of 8 alternating runs, 25 MB less peak RSS), and
 * fresh memory is what a cold run pays most for.
 */
const MAX_SETS = 4;

/**
 * Row groups decoded on a second thread, up to `count - 1` groups ahead of the caller, into `count` shared
 * buffer sets (group k in set k % count). With a thread started early (`startDecodeThread`, the job's entry),
 * the thread decodes every group. Otherwise the caller decodes the first group itself while the thread starts
 * (a worker takes ~100 ms to start here, longer than a group takes to decode); the thread decodes that group
 * too, into the last set, only for its dictionaries, so that the codes mean the same strings on both sides.
 * Several sets let the thread run ahead while the caller is slow (a run's first time step, where every row
 * makes a new series) and the caller catch up when it is fast.
 */
export function threadedGroups(layout: GroupLayout): GroupSource {
  const { metas, columns, textCount } = layout;
  const sizes: number[] = [];
  let first: { file: ParquetFile; g: number } | undefined;
  for (const m of metas)
    m.rowGroups.forEach((rg, g) => {
      if (rg.rows === 0) return;
      sizes.push(rg.rows);
      first ??= { file: m, g };
    });
  const total = sizes.length;
  const setBytes = layout.maxRows * (textCount * 4 + (layout.noWeight ? 4 : 5) * 8);
  const count = Math.max(2, Math.min(total, MAX_SETS, Math.floor(SETS_BYTES / Math.max(1, setBytes))));
  const buffers = Array.from({ length: count }, () => allocateSet(layout, true));
  const sets = buffers.map((b) => groupBuffers(b, textCount));
  const signalBuffer = new SharedArrayBuffer(4 * 4);
  const signal = new Int32Array(signalBuffer);
  const { port1, port2 } = new MessageChannel();
  // A thread started early decodes the first group too; a new one would start after it is needed.
  const started = early;
  early = undefined;
  const mainFirst = started === undefined;
  const job: DecodeJob = {
    mainFirst,
    paths: metas.map((m) => m.path),
    columns,
    textCount,
    sets: buffers,
    signal: signalBuffer,
    port: port2,
  };
  let worker: Worker;
  if (started) {
    worker = started;
    worker.postMessage(job, [port2]);
  } else {
    worker = new Worker(new URL("./decode-worker.ts", import.meta.url), {
      workerData: job,
      transferList: [port2],
    });
    worker.unref();
  }
  // A thread that dies before its loop (it cannot post then) is noticed by the wait's deadline below.
  worker.on("error", () => {});
  // Mirrors of the decoding thread's text cursors: the same entries in the same order.
  const cursors = columns.slice(0, textCount).map((c) => new ColumnCursor(c.name, c.kind, c.missing));
  let k = 0;
  /** Messages taken from the thread (one per group; the first group's only for its dictionary entries). */
  let taken = 0;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    Atomics.store(signal, SIGNAL.abort, 1);
    Atomics.store(signal, SIGNAL.released, total + 2);
    Atomics.notify(signal, SIGNAL.released);
    port1.close();
    void worker.terminate();
  };
  /** Waits for the thread's group `taken` and applies its dictionary entries. */
  const take = () => {
    const since = performance.now();
    for (;;) {
      const ready = Atomics.load(signal, SIGNAL.ready);
      if (ready > taken) break;
      if (
        Atomics.wait(signal, SIGNAL.ready, ready, 1000) === "timed-out" &&
        performance.now() - since > STALL_MS
      ) {
        close();
        throw new Error(`the decoding thread gave no row group for ${STALL_MS / 1000} s`);
      }
    }
    // The message is posted before the ready count is raised; wait briefly should it lag behind.
    let message = receiveMessageOnPort(port1);
    while (message === undefined) {
      Atomics.wait(signal, SIGNAL.abort, 0, 1);
      message = receiveMessageOnPort(port1);
    }
    const body = message.message as {
      added?: string[][];
      error?: { name: string; message: string };
    };
    if (body.error) {
      close();
      const { name, message: text } = body.error;
      throw name === "UnsupportedParquet"
        ? new UnsupportedParquet(text)
        : Object.assign(new Error(text), { name });
    }
    // Entries the caller already has (the first group's, decoded here too) keep their codes.
    const added = body.added ?? [];
    for (let c = 0; c < textCount; c++) for (const s of added[c] ?? []) cursors[c].codeOf(s);
    taken++;
  };
  return {
    cursors,
    next() {
      if (k >= total || !first) return undefined;
      if (k === 0 && mainFirst) {
        const own = columns.map((c, i) =>
          i < textCount ? cursors[i] : new ColumnCursor(c.name, c.kind, c.missing),
        );
        const fd = openSync(first.file.path, "r");
        try {
          for (let c = 0; c < columns.length; c++)
            own[c].read(first.file, fd, first.g, sets[0].views[columns[c].slot]);
        } catch (err) {
          close();
          throw err;
        } finally {
          closeSync(fd);
        }
      } else {
        while (taken <= k) take();
      }
      const n = sizes[k];
      const set = sets[k % count];
      k++;
      return { n, set };
    },
    release() {
      Atomics.store(signal, SIGNAL.released, k);
      Atomics.notify(signal, SIGNAL.released);
    },
    finish() {
      if (closed) return;
      closed = true;
      port1.close();
      spare?.terminate();
      spare = worker;
    },
    close,
  };
}
