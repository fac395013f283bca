import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, dirname, join } from "node:path";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { Logger } from "../../shared/core/log.ts";
import type { WriterOptions } from "./parquet-writer.ts";
import { runPool } from "./pool.ts";
import type { TableFileResult, TableFileTask } from "./table-file.ts";
import { type AggregateType, nodash, parseTableName } from "./tables.ts";
import { readToc, tableData } from "./toc.ts";

/**
 * A day's dumps (`<input>/<type>/<ds_nodash>/toc.dat` + `<dumpId>.dat.gz`) -> Parquet under
 * `<output>/<type>/<ds_nodash>/<table>.parquet`. The tables of all requested types are sharded over the job's
 * tasks by size (largest first, each to the least-loaded task: the same plan in every task) and converted by
 * worker threads, one table per thread at a time, each straight to its own Parquet file.
 *
 * Publication: parts are written into a staging directory and renamed into place only when every table of
 * the task succeeded; then the task writes `_task-<i>-of-<n>.json`; the task that finds all n task markers
 * writes `_SUCCESS` (a manifest of the parts), which is what a loader waits for. A task removes `_SUCCESS` and
 * its own marker before it starts, so a failed rerun leaves the day unpublished rather than half-replaced.
 * A type whose dump recorded `no-data` (see {@link NO_DATA_FILE}) is reported as such, never skipped silently.
 */

export const NO_DATA_FILE = "_NO_DATA.json";
export const SUCCESS_FILE = "_SUCCESS";

export interface ConvertOptions {
  input: string;
  output: string;
  /** YYYY-MM-DD. */
  ds: string;
  types: readonly AggregateType[];
  taskIndex?: number;
  taskCount?: number;
  /** Worker threads; default the machine's parallelism. */
  threads?: number;
  /** The ingest_date column (the original used current_date()); default today, UTC. */
  ingestDate?: string;
  /** Parquet writer tuning (row group rows/bytes, page bytes). */
  writer?: WriterOptions;
  log?: Logger;
}

export interface TypeOutput {
  type: AggregateType;
  status: "converted" | "no-data" | "no-tables-in-shard";
  reason?: string;
  /** The Parquet files this task published, one per table. */
  files: string[];
  tables: string[];
  rows: number;
}

export interface ConvertResult {
  ds: string;
  taskIndex: number;
  taskCount: number;
  outputs: TypeOutput[];
  rows: number;
  /** Uncompressed COPY bytes converted by this task. */
  copyBytes: number;
  /** Compressed bytes read. */
  fileBytes: number;
  unknownKeys: Record<string, number>;
  /** Whether this task completed the day (wrote `_SUCCESS`). */
  completedDay: boolean;
  seconds: number;
}

interface PlannedTable {
  type: AggregateType;
  table: string;
  channel: string;
  version: string;
  input: string;
  size: number;
}

/** All tables of the day, with the task each one belongs to. Deterministic for the same dumps. */
export async function planShards(
  input: string,
  ds: string,
  types: readonly AggregateType[],
  taskCount: number,
): Promise<{ shards: PlannedTable[][]; noData: Map<AggregateType, string> }> {
  const tables: PlannedTable[] = [];
  const noData = new Map<AggregateType, string>();
  for (const type of types) {
    const dir = join(input, type, nodash(ds));
    const tocPath = join(dir, "toc.dat");
    if (!existsSync(tocPath)) {
      const marker = join(dir, NO_DATA_FILE);
      if (existsSync(marker)) {
        const { reason } = JSON.parse(await readFile(marker, "utf8")) as { reason: string };
        noData.set(type, reason);
        continue;
      }
      throw new NonRetriableError(
        `${tocPath}: no dump for ${type} ${ds} (neither toc.dat nor ${NO_DATA_FILE})`,
        {
          field: "input",
          fix: "run the dump step for this day first",
        },
      );
    }
    const toc = await readToc(tocPath);
    for (const t of tableData(toc)) {
      const name = parseTableName(t.table, `${tocPath} entry ${t.dumpId}`);
      if (name.type !== type || name.dsNodash !== nodash(ds)) {
        throw new NonRetriableError(`${tocPath}: table ${t.table} does not belong to ${type} ${ds}`, {
          field: "input",
          fix: "dump with --table '<type>_*_<ds_nodash>*' into <input>/<type>/<ds_nodash>",
        });
      }
      const entry = toc.entries.find((e) => e.dumpId === t.dumpId);
      if (entry?.copyStmt && !/\(dimensions, histogram\) FROM stdin;/.test(entry.copyStmt)) {
        throw new NonRetriableError(
          `${tocPath}: table ${t.table} has columns other than (dimensions, histogram)`,
          {
            field: "input",
            fix: "dump mozaggregator tables (dimensions jsonb, histogram bigint[])",
          },
        );
      }
      const gz = join(dir, `${t.filename}.gz`);
      const path = existsSync(gz) ? gz : join(dir, t.filename);
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw new NonRetriableError(
          `${path}: data file of table ${t.table} (dump id ${t.dumpId}) is missing`,
          {
            field: "input",
            fix: "re-run the dump for this day",
          },
        );
      }
      tables.push({ type, table: t.table, channel: name.channel, version: name.version, input: path, size });
    }
  }
  tables.sort((a, b) => b.size - a.size || (a.input < b.input ? -1 : 1));
  const shards: PlannedTable[][] = Array.from({ length: taskCount }, () => []);
  const load = new Array<number>(taskCount).fill(0);
  for (const t of tables) {
    let best = 0;
    for (let i = 1; i < taskCount; i++) if (load[i] < load[best]) best = i;
    shards[best].push(t);
    load[best] += t.size + 1;
  }
  return { shards, noData };
}

const pad = (n: number) => String(n).padStart(5, "0");
const taskMarker = (i: number, n: number) => `_task-${pad(i)}-of-${pad(n)}.json`;

export async function convert(options: ConvertOptions): Promise<ConvertResult> {
  const t0 = performance.now();
  const taskIndex = options.taskIndex ?? 0;
  const taskCount = options.taskCount ?? 1;
  if (!Number.isInteger(taskCount) || taskCount < 1 || taskIndex < 0 || taskIndex >= taskCount) {
    throw new NonRetriableError(`task ${taskIndex} of ${taskCount} is not a valid shard`, {
      field: "CLOUD_RUN_TASK_INDEX",
      fix: "CLOUD_RUN_TASK_INDEX must be in [0, CLOUD_RUN_TASK_COUNT)",
    });
  }
  const dsNodash = nodash(options.ds);
  const ingestDate = options.ingestDate ?? new Date().toISOString().slice(0, 10);
  const threads = options.threads ?? availableParallelism();
  const outDirs = new Map(options.types.map((t) => [t, join(options.output, t, dsNodash)] as const));
  const staging = new Map<AggregateType, string>();
  for (const [type, dir] of outDirs) {
    await mkdir(dir, { recursive: true });
    await rm(join(dir, SUCCESS_FILE), { force: true });
    await rm(join(dir, taskMarker(taskIndex, taskCount)), { force: true });
    const stage = join(dir, `.staging-${pad(taskIndex)}-of-${pad(taskCount)}-${process.pid}`);
    await rm(stage, { recursive: true, force: true });
    await mkdir(stage);
    staging.set(type, stage);
  }
  try {
    const { shards, noData } = await planShards(options.input, options.ds, options.types, taskCount);
    const mine = shards[taskIndex];
    const tasks: TableFileTask[] = mine.map((t) => ({
      input: t.input,
      output: join(staging.get(t.type) as string, `${t.table}.parquet`),
      constants: { ingestDate, aggregateType: t.type, dsNodash, channel: t.channel, version: t.version },
      writer: options.writer,
    }));
    let converted = 0;
    const results: TableFileResult[] = await runPool(tasks, threads, (r) => {
      converted++;
      options.log?.debug("table converted", {
        file: r.input,
        rows: r.rows,
        done: converted,
        of: tasks.length,
      });
    });

    const outputs: TypeOutput[] = [];
    for (const type of options.types) {
      if (noData.has(type)) {
        outputs.push({ type, status: "no-data", reason: noData.get(type), files: [], tables: [], rows: 0 });
        continue;
      }
      const out: TypeOutput = { type, status: "no-tables-in-shard", files: [], tables: [], rows: 0 };
      mine.forEach((t, i) => {
        if (t.type !== type) return;
        out.status = "converted";
        out.tables.push(t.table);
        out.files.push(join(outDirs.get(type) as string, `${t.table}.parquet`));
        out.rows += results[i].rows;
      });
      outputs.push(out);
    }
    // Publish: every part of this task, then its markers, then (maybe) the day.
    for (const t of tasks) {
      const dir = dirname(dirname(t.output));
      await rename(t.output, join(dir, basename(t.output)));
    }
    let completedDay = true;
    for (const out of outputs) {
      const dir = outDirs.get(out.type) as string;
      const marker = {
        ds: options.ds,
        type: out.type,
        taskIndex,
        taskCount,
        status: out.status,
        reason: out.reason,
        rows: out.rows,
        parts: out.tables.map((table, i) => ({ file: basename(out.files[i]), table })),
      };
      await writeFile(join(dir, taskMarker(taskIndex, taskCount)), `${JSON.stringify(marker, null, 2)}\n`);
      completedDay = (await completeDay(dir, options.ds, out.type, taskCount)) && completedDay;
    }
    const unknownKeys: Record<string, number> = {};
    for (const r of results) {
      for (const [k, n] of Object.entries(r.unknownKeys)) unknownKeys[k] = (unknownKeys[k] ?? 0) + n;
    }
    if (Object.keys(unknownKeys).length > 0) {
      options.log?.notice("dimension keys outside the seven columns were dropped", { unknownKeys });
    }
    return {
      ds: options.ds,
      taskIndex,
      taskCount,
      outputs,
      rows: results.reduce((a, r) => a + r.rows, 0),
      copyBytes: results.reduce((a, r) => a + r.copyBytes, 0),
      fileBytes: results.reduce((a, r) => a + r.fileBytes, 0),
      unknownKeys,
      completedDay,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const stage of staging.values()) await rm(stage, { recursive: true, force: true });
  }
}

/**
 * Write `_SUCCESS` when every task of this run has left its marker; returns whether the day is complete.
 * Markers of other task counts and Parquet files no marker names (an earlier run's) are removed first.
 */
export async function completeDay(
  dir: string,
  ds: string,
  type: AggregateType,
  taskCount: number,
): Promise<boolean> {
  const names = await readdir(dir);
  const suffix = `-of-${pad(taskCount)}.json`;
  const markers = names.filter((n) => n.startsWith("_task-") && n.endsWith(suffix));
  if (markers.length < taskCount) return false;
  const parts: { file: string; table: string; rows?: number }[] = [];
  let noDataReason: string | undefined;
  let rows = 0;
  for (const m of markers.sort()) {
    const marker = JSON.parse(await readFile(join(dir, m), "utf8")) as {
      parts: { file: string; table: string }[];
      rows: number;
      status: string;
      reason?: string;
    };
    if (marker.status === "no-data") noDataReason = marker.reason;
    parts.push(...marker.parts);
    rows += marker.rows;
  }
  const keep = new Set(parts.map((p) => p.file));
  for (const n of names) {
    const stale = (n.startsWith("_task-") && !n.endsWith(suffix)) || (n.endsWith(".parquet") && !keep.has(n));
    if (stale) await rm(join(dir, n), { force: true });
  }
  const manifest = {
    ds,
    type,
    status: noDataReason === undefined ? "complete" : "no-data",
    reason: noDataReason,
    rows,
    parts: parts.sort((a, b) => (a.file < b.file ? -1 : 1)),
  };
  await writeFile(join(dir, `${SUCCESS_FILE}.tmp`), `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(join(dir, `${SUCCESS_FILE}.tmp`), join(dir, SUCCESS_FILE));
  return true;
}
