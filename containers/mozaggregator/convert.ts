import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { Logger } from "../../shared/core/log.ts";
import { type IntermediateFile, writeParquet } from "./parquet.ts";
import { runPool } from "./pool.ts";
import type { TableFileResult } from "./table-file.ts";
import { type AggregateType, nodash, parseTableName } from "./tables.ts";
import { readToc, tableData } from "./toc.ts";

/**
 * A day's dumps (`<input>/<type>/<ds_nodash>/toc.dat` + `<dumpId>.dat.gz`) -> Parquet under
 * `<output>/<type>/<ds_nodash>/`. The tables of all requested types are sharded over the job's tasks by size
 * (largest first, each to the least-loaded task: the same plan in every task), converted by worker threads,
 * and written as one `part-<i>-of-<n>.parquet` per type and task.
 *
 * Publication: a part is written under a staging name and renamed into place only when the whole task
 * succeeded; then the task writes `_task-<i>-of-<n>.json`; the task that finds all n task markers writes
 * `_SUCCESS` (a manifest of the parts), which is what a loader waits for. A task removes `_SUCCESS` and its
 * own marker before it starts, so a failed rerun leaves the day unpublished rather than half-replaced.
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
  /** Where intermediate files go; default the OS temp dir. */
  workDir?: string;
  rowGroupSize?: number;
  memoryLimit?: string;
  log?: Logger;
}

export interface TypeOutput {
  type: AggregateType;
  status: "converted" | "no-data" | "no-tables-in-shard";
  reason?: string;
  file?: string;
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
  seconds: { convert: number; parquet: number; total: number };
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
      throw new NonRetriableError(`${tocPath}: no dump for ${type} ${ds} (neither toc.dat nor ${NO_DATA_FILE})`, {
        field: "input",
        fix: "run the dump step for this day first",
      });
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
        throw new NonRetriableError(`${tocPath}: table ${t.table} has columns other than (dimensions, histogram)`, {
          field: "input",
          fix: "dump mozaggregator tables (dimensions jsonb, histogram bigint[])",
        });
      }
      const gz = join(dir, `${t.filename}.gz`);
      const path = existsSync(gz) ? gz : join(dir, t.filename);
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw new NonRetriableError(`${path}: data file of table ${t.table} (dump id ${t.dumpId}) is missing`, {
          field: "input",
          fix: "re-run the dump for this day",
        });
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
export const partName = (i: number, n: number) => `part-${pad(i)}-of-${pad(n)}.parquet`;
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
  for (const dir of outDirs.values()) {
    await mkdir(dir, { recursive: true });
    await rm(join(dir, SUCCESS_FILE), { force: true });
    await rm(join(dir, taskMarker(taskIndex, taskCount)), { force: true });
  }

  const { shards, noData } = await planShards(options.input, options.ds, options.types, taskCount);
  const mine = shards[taskIndex];
  const work = await mkdtemp(join(options.workDir ?? tmpdir(), `mozaggregator-${dsNodash}-${taskIndex}-`));
  const staged: { type: AggregateType; staging: string; final: string }[] = [];
  try {
    const tasks = mine.map((t, i) => ({ input: t.input, output: join(work, `${i}.tsv`) }));
    let converted = 0;
    const results: TableFileResult[] = await runPool(tasks, threads, (r) => {
      converted++;
      options.log?.debug("table converted", { file: r.input, rows: r.rows, done: converted, of: tasks.length });
    });
    const t1 = performance.now();
    const outputs: TypeOutput[] = [];
    let rows = 0;
    for (const type of options.types) {
      const dir = outDirs.get(type) as string;
      if (noData.has(type)) {
        outputs.push({ type, status: "no-data", reason: noData.get(type), tables: [], rows: 0 });
        continue;
      }
      const files: IntermediateFile[] = [];
      let expected = 0;
      const names: string[] = [];
      mine.forEach((t, i) => {
        if (t.type !== type) return;
        files.push({
          path: tasks[i].output,
          aggregateType: type,
          dsNodash,
          channel: t.channel,
          version: t.version,
        });
        expected += results[i].rows;
        names.push(t.table);
      });
      if (files.length === 0) {
        outputs.push({ type, status: "no-tables-in-shard", tables: [], rows: 0 });
        continue;
      }
      const staging = join(dir, `.staging-${partName(taskIndex, taskCount)}-${process.pid}`);
      staged.push({ type, staging, final: join(dir, partName(taskIndex, taskCount)) });
      const written = await writeParquet(files, staging, {
        ingestDate,
        threads,
        tempDir: join(work, "duckdb"),
        rowGroupSize: options.rowGroupSize,
        memoryLimit: options.memoryLimit,
      });
      if (written.rows !== expected) {
        throw new NonRetriableError(
          `${type} ${options.ds}: Parquet has ${written.rows} rows but the dump files had ${expected}`,
          { field: "output", fix: "report this as a converter bug" },
        );
      }
      rows += written.rows;
      outputs.push({ type, status: "converted", file: staged.at(-1)?.final, tables: names, rows: written.rows });
    }
    const t2 = performance.now();

    for (const s of staged) await rename(s.staging, s.final);
    staged.length = 0;
    const unknownKeys: Record<string, number> = {};
    for (const r of results) {
      for (const [k, n] of Object.entries(r.unknownKeys)) unknownKeys[k] = (unknownKeys[k] ?? 0) + n;
    }
    let completedDay = true;
    for (const type of options.types) {
      const dir = outDirs.get(type) as string;
      const out = outputs.find((o) => o.type === type) as TypeOutput;
      const marker = {
        ds: options.ds,
        type,
        taskIndex,
        taskCount,
        status: out.status,
        reason: out.reason,
        part: out.status === "converted" ? partName(taskIndex, taskCount) : null,
        rows: out.rows,
        tables: out.tables,
      };
      await writeFile(join(dir, taskMarker(taskIndex, taskCount)), `${JSON.stringify(marker, null, 2)}\n`);
      completedDay = (await completeDay(dir, options.ds, type, taskCount)) && completedDay;
    }
    const copyBytes = results.reduce((a, r) => a + r.copyBytes, 0);
    const fileBytes = results.reduce((a, r) => a + r.fileBytes, 0);
    if (Object.keys(unknownKeys).length > 0) {
      options.log?.notice("dimension keys outside the seven columns were dropped", { unknownKeys });
    }
    return {
      ds: options.ds,
      taskIndex,
      taskCount,
      outputs,
      rows,
      copyBytes,
      fileBytes,
      unknownKeys,
      completedDay,
      seconds: { convert: (t1 - t0) / 1000, parquet: (t2 - t1) / 1000, total: (performance.now() - t0) / 1000 },
    };
  } finally {
    for (const s of staged) await rm(s.staging, { force: true });
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Write `_SUCCESS` when every task of this run has left its marker; returns whether the day is complete.
 * Parts of other task counts (an earlier run with a different shard count) are removed first.
 */
export async function completeDay(dir: string, ds: string, type: AggregateType, taskCount: number): Promise<boolean> {
  const names = await readdir(dir);
  const suffix = `-of-${pad(taskCount)}`;
  const markers = names.filter((n) => n.startsWith("_task-") && n.endsWith(`${suffix}.json`));
  if (markers.length < taskCount) return false;
  const parts: { file: string; rows: number; tables: string[] }[] = [];
  let noDataReason: string | undefined;
  for (const m of markers.sort()) {
    const marker = JSON.parse(await readFile(join(dir, m), "utf8")) as {
      part: string | null;
      rows: number;
      tables: string[];
      status: string;
      reason?: string;
    };
    if (marker.status === "no-data") noDataReason = marker.reason;
    if (marker.part) parts.push({ file: marker.part, rows: marker.rows, tables: marker.tables });
  }
  for (const n of names) {
    if ((n.startsWith("part-") || n.startsWith("_task-")) && !n.includes(suffix)) await rm(join(dir, n), { force: true });
  }
  const manifest = {
    ds,
    type,
    status: noDataReason === undefined ? "complete" : "no-data",
    reason: noDataReason,
    rows: parts.reduce((a, p) => a + p.rows, 0),
    parts,
  };
  await writeFile(join(dir, `${SUCCESS_FILE}.tmp`), `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(join(dir, `${SUCCESS_FILE}.tmp`), join(dir, SUCCESS_FILE));
  return true;
}
