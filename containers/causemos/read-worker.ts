import { parentPort, workerData } from "node:worker_threads";
import type { ColumnRequest, ColumnResult } from "./columns.ts";
import { readNumbers, readParquetMetadata, readText } from "./parquet.ts";

/**
 * A reader thread of `scanColumns`: decodes the requested columns of the files and sends them back with their
 * buffers transferred (no copy). A failure is sent back by name and message (UnsupportedParquet makes the
 * job read with DuckDB instead).
 */

const { paths, requests } = workerData as { paths: string[]; requests: ColumnRequest[] };
const port = parentPort;
if (!port) throw new Error("read-worker.ts runs as a worker thread");
try {
  const metas = paths.map((p) => readParquetMetadata(p));
  let total = 0;
  for (const m of metas) total += m.rows;
  const results: ColumnResult[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const r of requests) {
    if (r.kind === "numbers") {
      const values = readNumbers(metas, r.name, total);
      results.push({ name: r.name, numbers: values });
      transfer.push(values.buffer as ArrayBuffer);
    } else {
      const text = readText(metas, r.name, total, r.missing ?? null);
      results.push({ name: r.name, text });
      transfer.push(text.codes.buffer as ArrayBuffer);
    }
  }
  port.postMessage({ results }, transfer);
} catch (err) {
  const e = err as Error;
  port.postMessage({ error: { name: e.constructor?.name ?? e.name, message: e.message } });
}
