import type { Column } from "../../shared/adapters/ports.ts";
import type { AggregateType } from "./tables.ts";

/**
 * The warehouse side of the output: the original BigQuery schema (README of mozaggregator2bq: ingest_date
 * DATE REQUIRED, then twelve nullable STRINGs) followed by Tessera's typed columns, one table per aggregate
 * type, partitioned by day and clustered as the original `bin/load_bq` did.
 */
export const WAREHOUSE_COLUMNS: Column[] = [
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
  {
    name: "aggregate",
    type: "STRING",
    description: 'The histogram as the original kept it: "[c0,...,cN,sum,count]"',
  },
  {
    name: "histogram",
    type: "INT64",
    mode: "REPEATED",
    description: "Bucket counts: the array without sum and count",
  },
  { name: "sum", type: "INT64" },
  { name: "count", type: "INT64" },
];

export const WAREHOUSE_TABLES: Record<AggregateType, string> = {
  submission_date: "submission_date_aggregates",
  build_id: "build_id_aggregates",
};

export const CLUSTERING: Record<AggregateType, string[]> = {
  build_id: ["metric", "channel", "os", "version"],
  submission_date: ["ds_nodash", "version", "metric", "channel"],
};
