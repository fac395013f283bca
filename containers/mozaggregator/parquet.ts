import { DuckDBInstance } from "@duckdb/node-api";
import type { Column } from "../../shared/adapters/ports.ts";

/**
 * The intermediate files of one aggregate type -> one Parquet file, with DuckDB: it reads the tab-separated
 * lines the row converter wrote (already validated), adds the per-table constants, casts the `aggregate`
 * string to the typed histogram, sum and count, and writes zstd Parquet. DuckDB streams (insertion order is
 * not preserved, so it never buffers a whole table) under a memory limit.
 */

/** The original 13 columns (README of mozaggregator2bq), then Tessera's typed ones. */
export const OUTPUT_COLUMNS: Column[] = [
  { name: "ingest_date", type: "DATE", mode: "REQUIRED" },
  { name: "aggregate_type", type: "STRING" },
  { name: "ds_nodash", type: "STRING" },
  { name: "channel", type: "STRING" },
  { name: "version", type: "STRING" },
  { name: "os", type: "STRING" },
  { name: "child", type: "STRING" },
  { name: "label", type: "STRING" },
  { name: "metric", type: "STRING" },
  { name: "osVersion", type: "STRING" },
  { name: "application", type: "STRING" },
  { name: "architecture", type: "STRING" },
  { name: "aggregate", type: "STRING", description: 'The histogram as the original wrote it: "[c0,...,cN,sum,count]"' },
  { name: "histogram", type: "INT64", mode: "REPEATED", description: "Bucket counts (the array without sum and count)" },
  { name: "sum", type: "INT64" },
  { name: "count", type: "INT64" },
];

export interface IntermediateFile {
  path: string;
  aggregateType: string;
  dsNodash: string;
  channel: string;
  version: string;
}

export interface ParquetOptions {
  ingestDate: string;
  threads?: number;
  /** DuckDB's memory limit, e.g. "160MB". */
  memoryLimit?: string;
  rowGroupSize?: number;
  /** Spill directory for DuckDB. */
  tempDir?: string;
}

const sql = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function writeParquet(
  files: IntermediateFile[],
  output: string,
  options: ParquetOptions,
): Promise<{ rows: number }> {
  const config: Record<string, string> = {
    threads: String(options.threads ?? 2),
    memory_limit: options.memoryLimit ?? "160MB",
    preserve_insertion_order: "false",
  };
  if (options.tempDir) config.temp_directory = options.tempDir;
  const instance = await DuckDBInstance.create(":memory:", config);
  const connection = await instance.connect();
  try {
    const constants = files
      .map((f) => `(${sql(f.path)}, ${sql(f.aggregateType)}, ${sql(f.dsNodash)}, ${sql(f.channel)}, ${sql(f.version)})`)
      .join(",\n");
    await connection.run(
      `CREATE TEMP TABLE tables AS SELECT * FROM (VALUES ${constants}) t(path, aggregate_type, ds_nodash, channel, version)`,
    );
    const list = `[${files.map((f) => sql(f.path)).join(", ")}]`;
    const columns =
      "{'os': 'VARCHAR', 'child': 'VARCHAR', 'label': 'VARCHAR', 'metric': 'VARCHAR', 'osVersion': 'VARCHAR', " +
      "'application': 'VARCHAR', 'architecture': 'VARCHAR', 'aggregate': 'VARCHAR'}";
    const reader = `read_csv(${list}, columns = ${columns}, delim = '\t', quote = '"', escape = '"', header = false,
      nullstr = '\\N', allow_quoted_nulls = false, auto_detect = false, filename = true, strict_mode = true)`;
    const copy = `COPY (
      SELECT DATE ${sql(options.ingestDate)} AS ingest_date, t.aggregate_type, t.ds_nodash, t.channel, t.version,
        r.os, r.child, r.label, r.metric, r.osVersion, r.application, r.architecture, r.aggregate,
        h[1:len(h) - 2] AS histogram, h[len(h) - 1] AS sum, h[len(h)] AS count
      FROM (SELECT *, CAST(aggregate AS BIGINT[]) AS h FROM ${reader}) r JOIN tables t ON r.filename = t.path
    ) TO ${sql(output)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${options.rowGroupSize ?? 131072})`;
    const result = await connection.runAndReadAll(copy);
    const rows = Number(result.getRows()[0]?.[0] ?? 0);
    return { rows };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
