/**
 * The weekly profile load (taar_profile_bigtable): fill the temp table from clients_last_seen, export it as
 * Avro files (schema derived from the table, one file per Cloud Run task), load them into Bigtable, wipe the
 * temp table and files, and delete the profiles of clients who asked for deletion.
 *
 * Bigtable contract (what the TAAR service's profile fetcher reads): row key = lowercase hex sha256 of the
 * client_id; family `profile` with GC union(max age 90 days, max versions 1); qualifier `payload` =
 * zlib(JSON of the row with client_id replaced by its hash and the numeric fields coerced to integers).
 */
import avro from "avsc";
import type {
  Column,
  Mutation,
  ObjectStore,
  Row,
  TableSchema,
  Warehouse,
  WideRowStore,
} from "../../shared/adapters/ports.ts";
import { addDays, formatDay, parseDay } from "../../shared/core/dates.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { createZlibEncoder } from "./deflate.ts";
import { sha256Hex } from "./rng.ts";
import {
  BIGTABLE_TABLE,
  INT_FIELDS,
  PROFILE_FAMILY,
  PROFILE_TMP_SCHEMA,
  TELEMETRY,
  TMP_DATASET,
  TMP_TABLE,
} from "./tables.ts";

export const TMP_PREFIX = "taar-tmp/";
const tmpRef = { dataset: TMP_DATASET, table: TMP_TABLE };

export interface FillOptions {
  day: string;
  sampleRate: number;
  seed: number;
  dialect: "duckdb" | "bigquery";
}

/** The seeded per-client sample test: the same clients for the same (day, seed), unlike the original RAND(). */
function sampleClause(o: FillOptions): string {
  if (o.sampleRate >= 1) return "TRUE";
  return o.dialect === "bigquery"
    ? "MOD(ABS(FARM_FINGERPRINT(CONCAT(@seed, client_id))), 1000000) < @threshold"
    : "hash(@seed || client_id) % 1000000 < @threshold";
}

export async function fillTemp(warehouse: Warehouse, o: FillOptions): Promise<number> {
  await warehouse.query(`DROP TABLE IF EXISTS ${TMP_DATASET}.${TMP_TABLE}`);
  await warehouse.ensureTable(tmpRef, PROFILE_TMP_SCHEMA);
  const cols = PROFILE_TMP_SCHEMA.columns.map((c) => c.name).join(", ");
  await warehouse.query(
    `INSERT INTO ${TMP_DATASET}.${TMP_TABLE} (${cols})
     SELECT client_id, city, SAFE_CAST(subsession_hours_sum * 3600 AS INT64), locale, os, active_addons,
       SAFE_CAST(places_bookmarks_count_mean AS INT64),
       SAFE_CAST(scalar_parent_browser_engagement_tab_open_event_count_sum AS INT64),
       SAFE_CAST(scalar_parent_browser_engagement_total_uri_count_sum AS INT64),
       SAFE_CAST(scalar_parent_browser_engagement_unique_domains_count_mean AS INT64)
     FROM ${TELEMETRY}.clients_last_seen
     WHERE ARRAY_LENGTH(active_addons) > 0 AND submission_date = CAST(@day AS DATE) AND ${sampleClause(o)}`,
    { day: o.day, seed: String(o.seed), threshold: Math.round(o.sampleRate * 1_000_000) },
  );
  const [{ n }] = await warehouse.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM ${TMP_DATASET}.${TMP_TABLE}`,
  );
  return Number(n);
}

// ---------------------------------------------------------------- Avro

function avroType(c: Column, path: string): unknown {
  let t: unknown;
  switch (c.type) {
    case "INT64":
      t = "long";
      break;
    case "FLOAT64":
    case "NUMERIC":
      t = "double";
      break;
    case "BOOL":
      t = "boolean";
      break;
    case "BYTES":
      t = "bytes";
      break;
    case "RECORD":
      t = {
        type: "record",
        name: `${path}_${c.name}`.replace(/^_/, ""),
        fields: (c.fields ?? []).map((f) => ({
          name: f.name,
          type: avroType(f, `${path}_${c.name}`),
          default: null,
        })),
      };
      break;
    default:
      t = "string";
  }
  if (c.mode === "REPEATED") return { type: "array", items: t };
  return ["null", t];
}

/** The Avro schema of a table, as BigQuery's extract derives it: nullable fields, repeated ones as arrays. */
export function avroSchemaOf(schema: TableSchema, name = "taar_profile"): avro.Type {
  return avro.Type.forSchema({
    type: "record",
    name,
    fields: schema.columns.map((c) => ({
      name: c.name,
      type: avroType(c, ""),
      ...(c.mode === "REPEATED" ? {} : { default: null }),
    })),
  } as avro.Schema);
}

export function encodeAvroFile(type: avro.Type, rows: Row[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const enc = new avro.streams.BlockEncoder(type, { codec: "deflate" });
    enc.on("data", (b: Buffer) => chunks.push(b));
    enc.on("end", () => resolve(Buffer.concat(chunks)));
    enc.on("error", reject);
    for (const r of rows) enc.write(r);
    enc.end();
  });
}

export function decodeAvroFile(data: Buffer, what: string): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const rows: Row[] = [];
    const dec = new avro.streams.BlockDecoder({ noDecode: false });
    dec.on("data", (r: Row) => rows.push(r));
    dec.on("end", () => resolve(rows));
    dec.on("error", (err: Error) =>
      reject(
        new NonRetriableError(`${what} is not a readable Avro file: ${err.message}`, {
          field: what,
          fix: "rerun the export step",
        }),
      ),
    );
    dec.end(data);
  });
}

export function avroName(day: string, task: number): string {
  return `${TMP_PREFIX}taar-profile.${day.replaceAll("-", "")}.avro.${String(task).padStart(6, "0")}`;
}

/** Export this task's share of the temp table (every taskCount-th row in client_id order) to one Avro file. */
export async function exportAvro(
  warehouse: Warehouse,
  data: ObjectStore,
  o: { day: string; taskIndex: number; taskCount: number },
): Promise<{ name: string; rows: number }> {
  const schema = await warehouse.getSchema(tmpRef);
  if (!schema)
    throw new NonRetriableError(`${TMP_DATASET}.${TMP_TABLE} does not exist`, {
      field: TMP_TABLE,
      fix: "run the profile-fill step first",
    });
  const type = avroSchemaOf(schema);
  const all = await warehouse.query(`SELECT * FROM ${TMP_DATASET}.${TMP_TABLE} ORDER BY client_id`);
  const mine = all
    .filter((_, i) => i % o.taskCount === o.taskIndex)
    .map((r) => {
      const out: Row = {};
      for (const c of schema.columns) out[c.name] = r[c.name] ?? (c.mode === "REPEATED" ? [] : null);
      return out;
    });
  const name = avroName(o.day, o.taskIndex);
  await data.put(name, await encodeAvroFile(type, mine), { contentType: "application/avro" });
  return { name, rows: mine.length };
}

// ---------------------------------------------------------------- Bigtable

export function profilePayload(row: Row): { key: string; record: Row } {
  const id = row.client_id;
  if (typeof id !== "string" || id === "")
    throw new NonRetriableError("a profile row has no client_id", {
      field: "client_id",
      fix: "the temp table must only hold rows with a client_id",
    });
  const record: Row = { ...row, client_id: sha256Hex(id) };
  for (const f of INT_FIELDS) {
    const v = record[f];
    record[f] = v === null || v === undefined || !Number.isFinite(Number(v)) ? 0 : Math.trunc(Number(v));
  }
  return { key: record.client_id as string, record };
}

const zlib = createZlibEncoder();

/**
 * zlib (RFC 1950, what the service's `zlib.decompress` reads) of a payload's JSON, with the reusable encoder of
 * deflate.ts: about 9 us per 1.5 KB payload against ~23 us for `deflateSync`, for ~20% larger cells.
 */
export function compressPayload(json: string): Buffer {
  return Buffer.from(zlib.encode(json));
}

export function profileMutation(row: Row, timestamp?: number): Mutation {
  const { key, record } = profilePayload(row);
  return {
    key,
    data: { [PROFILE_FAMILY.name]: { payload: compressPayload(JSON.stringify(record)) } },
    ...(timestamp ? { timestamp } : {}),
  };
}

export async function ensureProfileTable(wideRows: WideRowStore, table = BIGTABLE_TABLE): Promise<void> {
  await wideRows.ensureTable(table, [PROFILE_FAMILY]);
}

export async function loadRows(
  wideRows: WideRowStore,
  rows: Row[],
  o: { table?: string; batch?: number; concurrency?: number } = {},
): Promise<number> {
  const table = o.table ?? BIGTABLE_TABLE;
  const batch = o.batch ?? 1000;
  const timestamp = Date.now() * 1000;
  const batches: Mutation[][] = [];
  for (let i = 0; i < rows.length; i += batch)
    batches.push(rows.slice(i, i + batch).map((r) => profileMutation(r, timestamp)));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) await wideRows.mutate(table, batches[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 4, batches.length) }, worker));
  return rows.length;
}

/** Load this task's share of the day's Avro files (file i goes to task i mod taskCount). */
export async function loadAvro(
  wideRows: WideRowStore,
  data: ObjectStore,
  o: { day: string; taskIndex: number; taskCount: number; table?: string },
): Promise<{ files: number; rows: number }> {
  await ensureProfileTable(wideRows, o.table);
  const prefix = `${TMP_PREFIX}taar-profile.${o.day.replaceAll("-", "")}.avro.`;
  const files = (await data.list(prefix)).filter((_, i) => i % o.taskCount === o.taskIndex);
  let rows = 0;
  for (const f of files)
    rows += await loadRows(wideRows, await decodeAvroFile(await data.get(f.name), f.name), {
      table: o.table,
    });
  return { files: files.length, rows };
}

/** Delete the temp table and every temp object. Safe to run when either is already gone. */
export async function wipeTemp(warehouse: Warehouse, data: ObjectStore): Promise<{ objects: number }> {
  await warehouse.query(`DROP TABLE IF EXISTS ${TMP_DATASET}.${TMP_TABLE}`);
  const objects = await data.list(TMP_PREFIX);
  for (const o of objects) await data.delete(o.name, { ignoreMissing: true });
  return { objects: objects.length };
}

/** Delete the profiles of clients with a deletion request in [day - days, day]. */
export async function deleteOptOut(
  warehouse: Warehouse,
  wideRows: WideRowStore,
  o: { day: string; days: number; table?: string },
): Promise<number> {
  const from = formatDay(addDays(parseDay(o.day), -o.days));
  const ids = await warehouse.query<{ client_id: string }>(
    `SELECT DISTINCT client_id FROM ${TELEMETRY}.deletion_request WHERE client_id IS NOT NULL AND CAST(submission_timestamp AS DATE) BETWEEN CAST(@from AS DATE) AND CAST(@to AS DATE)`,
    { from, to: o.day },
  );
  const table = o.table ?? BIGTABLE_TABLE;
  await ensureProfileTable(wideRows, table);
  const keys = ids.map((r) => sha256Hex(r.client_id));
  for (let i = 0; i < keys.length; i += 1000) await wideRows.deleteRows(table, keys.slice(i, i + 1000));
  return keys.length;
}
