import { DuckDBInstance } from "@duckdb/node-api";
import { DIMENSIONS } from "../../containers/mozaggregator/rows.ts";
import { parseTableName } from "../../containers/mozaggregator/tables.ts";

/** An output row with every value as text (INT64s as decimal strings), for exact comparisons. */
export type TextRow = Record<string, string | string[] | null>;

/** What the converter must produce for one source row, derived independently from PostgreSQL's text output. */
export function expectedRow(
  table: string,
  ingestDate: string,
  dimensions: string,
  histogram: string,
): TextRow {
  const name = parseTableName(table);
  const dims = JSON.parse(dimensions) as Record<string, unknown>;
  const inner = histogram.slice(1, -1);
  const elements = inner.split(",");
  const row: TextRow = {
    ingest_date: ingestDate,
    aggregate_type: name.type,
    ds_nodash: name.dsNodash,
    channel: name.channel,
    version: name.version,
  };
  for (const k of DIMENSIONS) {
    const v = dims[k];
    row[k] = v === undefined || v === null ? null : typeof v === "string" ? v : JSON.stringify(v);
  }
  row.aggregate = `[${inner}]`;
  row.histogram = elements.slice(0, -2);
  row.sum = elements[elements.length - 2];
  row.count = elements[elements.length - 1];
  return row;
}

/** Every row of the Parquet files, values as text. */
export async function readParquetRows(files: string[]): Promise<TextRow[]> {
  const db = await DuckDBInstance.create();
  const c = await db.connect();
  try {
    const list = files.map((f) => `'${f.replaceAll("'", "''")}'`).join(", ");
    const r = await c.runAndReadAll(
      `SELECT ingest_date::VARCHAR AS ingest_date, aggregate_type, ds_nodash, channel, version, os, child, label,
         metric, osVersion, application, architecture, aggregate, histogram::VARCHAR[] AS histogram,
         sum::VARCHAR AS sum, count::VARCHAR AS count
       FROM read_parquet([${list}])`,
    );
    return r.getRowObjectsJson() as TextRow[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

export const sortRows = (rows: TextRow[]) => rows.map((r) => JSON.stringify(r)).sort();
