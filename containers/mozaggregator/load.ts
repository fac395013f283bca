import {
  NotFoundError,
  type ObjectStore,
  type TableRef,
  type Warehouse,
} from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { Logger } from "../../shared/core/log.ts";
import { SUCCESS_FILE } from "./convert.ts";
import { CLUSTERING, WAREHOUSE_COLUMNS, WAREHOUSE_TABLES } from "./schema.ts";
import { type AggregateType, nodash } from "./tables.ts";

/**
 * The load step: for each aggregate type, read the day's `_SUCCESS` manifest (the only signal the converter
 * publishes) and replace the day's partition of `<dataset>.<type>_aggregates` with exactly the manifest's
 * Parquet parts, atomically (Warehouse.replacePartition: `file://` URIs locally, `gs://` on Google Cloud).
 * A type whose manifest says `no-data` gets an empty partition (the warehouse mirrors the source). Then the
 * day's status object is written: `loaded` or `no-data` with the reason; the workflow reads it.
 *
 * The partition column is `ingest_date`, which Tessera sets to the dumped day (the original used
 * current_date() with ingestion-time partitions, so a rerun landed in another partition).
 */

export const DATASET = "telemetry";
export const PARTITION_COLUMN = "ingest_date";

export interface DayStatus {
  ds: string;
  status: "loaded" | "no-data" | "skipped";
  reason?: string;
  tables?: { table: string; type: AggregateType; status: string; rows: number; parts: number }[];
  at: string;
}

export function tableSchema(type: AggregateType) {
  return {
    columns: WAREHOUSE_COLUMNS,
    partitionBy: PARTITION_COLUMN,
    clusterBy: CLUSTERING[type],
    description: `mozaggregator ${type} aggregates, one partition per dumped day (ingest_date).`,
  };
}

interface Manifest {
  ds: string;
  type: AggregateType;
  status: "complete" | "no-data";
  reason?: string;
  rows: number;
  parts: { file: string; table: string }[];
}

export interface LoadOptions {
  warehouse: Warehouse;
  store: ObjectStore;
  /** The Parquet root's object prefix (`mozaggregator/parquet`). */
  prefix: string;
  /** The day status object's name (`mozaggregator/status/<ds>.json`). */
  statusObject: string;
  ds: string;
  types: readonly AggregateType[];
  dataset?: string;
  project?: string;
  log?: Logger;
}

export async function readManifest(store: ObjectStore, name: string, type: AggregateType, ds: string) {
  let text: string;
  try {
    text = (await store.get(name)).toString("utf8");
  } catch (err) {
    if (err instanceof NotFoundError || (err as Error).name === "NotFoundError") {
      throw new NonRetriableError(
        `the ${type} conversion of ${ds} is not complete: no ${SUCCESS_FILE} manifest at ${store.uri(name)}; nothing is loaded`,
        { field: name, fix: "rerun the convert step for this day (every task must succeed)" },
      );
    }
    throw err;
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch (err) {
    throw new NonRetriableError(`${store.uri(name)}: not valid JSON: ${(err as Error).message}`, {
      field: name,
    });
  }
  if (manifest.ds !== ds || manifest.type !== type || !Array.isArray(manifest.parts)) {
    throw new NonRetriableError(
      `${store.uri(name)}: manifest is for ${manifest.type} ${manifest.ds}, expected ${type} ${ds}`,
      {
        field: name,
      },
    );
  }
  return manifest;
}

export async function load(options: LoadOptions): Promise<DayStatus> {
  const { warehouse, store, ds } = options;
  const dir = (type: AggregateType) => `${options.prefix.replace(/\/+$/, "")}/${type}/${nodash(ds)}`;
  await store.delete(options.statusObject, { ignoreMissing: true });
  // Every manifest is read before any table is touched: a day with an incomplete type publishes nothing.
  const manifests = [];
  for (const type of options.types)
    manifests.push(await readManifest(store, `${dir(type)}/${SUCCESS_FILE}`, type, ds));
  const tables: NonNullable<DayStatus["tables"]> = [];
  const reasons: string[] = [];
  for (const m of manifests) {
    const ref: TableRef = {
      dataset: options.dataset ?? DATASET,
      table: WAREHOUSE_TABLES[m.type],
      project: options.project,
    };
    await warehouse.ensureTable(ref, tableSchema(m.type));
    const partition = { column: PARTITION_COLUMN, value: ds };
    let rows: number;
    if (m.status === "no-data" || m.parts.length === 0) {
      ({ rows } = await warehouse.replacePartition(ref, partition, { rows: [] }));
      reasons.push(m.reason ?? `no ${m.type} tables for ${ds}`);
    } else {
      const uris = m.parts.map((p) => store.uri(`${dir(m.type)}/${p.file}`));
      ({ rows } = await warehouse.replacePartition(ref, partition, { parquetUris: uris }));
      if (rows !== m.rows) {
        throw new NonRetriableError(
          `${ref.dataset}.${ref.table} partition ${ds}: loaded ${rows} rows but the manifest lists ${m.rows}`,
          { field: `${dir(m.type)}/${SUCCESS_FILE}`, fix: "rerun the convert step for this day" },
        );
      }
    }
    options.log?.info("partition replaced", { table: ref.table, ds, rows, status: m.status });
    tables.push({
      table: `${ref.dataset}.${ref.table}`,
      type: m.type,
      status: m.status,
      rows,
      parts: m.parts.length,
    });
  }
  const noData = manifests.every((m) => m.status === "no-data");
  const status: DayStatus = {
    ds,
    status: noData ? "no-data" : "loaded",
    reason: noData ? `no-data: ${reasons.join("; ")}` : undefined,
    tables,
    at: new Date().toISOString(),
  };
  await store.put(options.statusObject, `${JSON.stringify(status, null, 2)}\n`, {
    contentType: "application/json",
  });
  return status;
}
