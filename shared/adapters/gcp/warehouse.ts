import { BigQuery, type BigQueryOptions, type Job, type TableField } from "@google-cloud/bigquery";
import { NonRetriableError, RetryableError } from "../../core/errors.ts";
import {
  assertSameSchema,
  checkRows,
  checkSchema,
  checkTableRef,
  describeRef,
} from "../local/warehouse-sql.ts";
import type { Column, ColumnType, Row, TableRef, TableSchema, Warehouse } from "../ports.ts";

/**
 * BigQuery through `@google-cloud/bigquery`.
 *
 * - `query` runs standard SQL with named parameters (`jobs.query`); null parameters are sent as typed STRING
 *   nulls. Results are normalised to the same plain JS as the DuckDB adapter returns: INT64 as numbers within
 *   2^53 and decimal strings beyond, NUMERIC as numbers, DATE as `YYYY-MM-DD`, TIMESTAMP as ISO strings.
 * - `insertRows` and `replacePartition` use load jobs (NDJSON uploaded with the job, or Parquet `gs://` URIs),
 *   not streaming inserts: rows in the streaming buffer could not be replaced by a later partition load.
 *   A partition is replaced by loading into the decorator `table$YYYYMMDD` with WRITE_TRUNCATE, which BigQuery
 *   applies atomically.
 * - Extra BigQueryOptions pass through (`apiEndpoint` for a stand-in, `credentials`, `keyFilename`, ...).
 */

export interface GcpWarehouseOptions extends BigQueryOptions {
  projectId?: string;
  /** Dataset and job location (e.g. `EU`, `europe-west1`). */
  location?: string;
}

const TYPE_NAMES: Record<string, ColumnType> = {
  STRING: "STRING",
  INTEGER: "INT64",
  INT64: "INT64",
  FLOAT: "FLOAT64",
  FLOAT64: "FLOAT64",
  NUMERIC: "NUMERIC",
  BIGNUMERIC: "NUMERIC",
  BOOLEAN: "BOOL",
  BOOL: "BOOL",
  DATE: "DATE",
  TIMESTAMP: "TIMESTAMP",
  DATETIME: "DATETIME",
  JSON: "JSON",
  BYTES: "BYTES",
  RECORD: "RECORD",
  STRUCT: "RECORD",
};

export function createGcpWarehouse(options: GcpWarehouseOptions = {}): Warehouse {
  const { location, ...clientOptions } = options;
  const bq = new BigQuery({ ...clientOptions, location });

  const tableOf = (ref: TableRef, id = ref.table) =>
    bq.dataset(ref.dataset, { projectId: ref.project, location }).table(id);

  async function readSchema(ref: TableRef): Promise<TableSchema | undefined> {
    try {
      const [meta] = await tableOf(ref).getMetadata();
      return schemaFromMetadata(meta);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw mapError(err, describeRef(ref));
    }
  }

  async function requireSchema(ref: TableRef): Promise<TableSchema> {
    const schema = await readSchema(ref);
    if (!schema) {
      throw new NonRetriableError(`table ${describeRef(ref)} does not exist`, {
        field: "table",
        fix: "create it with ensureTable (the pipeline's table schema) first",
      });
    }
    return schema;
  }

  /** Run a load job and wait for it; returns the rows it wrote. */
  async function finish(job: Job, what: string): Promise<number> {
    await job.promise().catch((err: unknown) => {
      throw mapError(err, what);
    });
    const [meta] = await job.getMetadata();
    const error = meta.status?.errorResult;
    if (error)
      throw mapError(Object.assign(new Error(error.message ?? "load failed"), { errors: [error] }), what);
    return Number(meta.statistics?.load?.outputRows ?? 0);
  }

  async function loadRows(
    ref: TableRef,
    tableId: string,
    rows: Row[],
    schema: TableSchema,
    truncate: boolean,
  ) {
    const text = rows.map((r) => JSON.stringify(toJsonRow(r, schema.columns))).join("\n");
    // The job's location comes from the table (which inherits the dataset's); it is not a load setting.
    const stream = tableOf(ref, tableId).createWriteStream({
      sourceFormat: "NEWLINE_DELIMITED_JSON",
      writeDisposition: truncate ? "WRITE_TRUNCATE" : "WRITE_APPEND",
      createDisposition: "CREATE_NEVER",
    });
    const job = await new Promise<Job>((resolve, reject) => {
      stream.on("job", (j: Job) => resolve(j));
      stream.on("error", reject);
      stream.end(text.length > 0 ? `${text}\n` : "");
    }).catch((err: unknown) => {
      throw mapError(err, describeRef(ref));
    });
    return finish(job, describeRef(ref));
  }

  return {
    async query<T extends Row = Row>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
      if (typeof sql !== "string" || sql.trim() === "")
        throw new NonRetriableError("query needs SQL text", { field: "sql" });
      const used = [...new Set([...sql.matchAll(/(?<![\w@$])@([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))];
      for (const name of used) {
        if (!(name in params))
          throw new NonRetriableError(`SQL uses @${name} but no parameter "${name}" was given`, {
            field: `params.${name}`,
          });
      }
      const types: Record<string, string> = {};
      const values: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(params)) {
        if (v === null || v === undefined) types[k] = "STRING";
        values[k] = typeof v === "bigint" ? (BigQuery.int(v.toString()) as unknown) : v;
      }
      try {
        const [rows] = await bq.query({
          query: sql,
          params: values,
          ...(Object.keys(types).length ? { types } : {}),
          location,
          useLegacySql: false,
          wrapIntegers: true,
        });
        return rows.map((r: Record<string, unknown>) => plain(r) as T);
      } catch (err) {
        throw mapError(err, "query");
      }
    },

    async ensureTable(ref, schema) {
      checkTableRef(ref);
      checkSchema(schema, ref);
      const existing = await readSchema(ref);
      if (!existing) {
        const dataset = bq.dataset(ref.dataset, { projectId: ref.project, location });
        try {
          const [exists] = await dataset.exists();
          if (!exists) await dataset.create({ location });
        } catch (err) {
          if (statusOf(err) !== 409) throw mapError(err, `dataset ${ref.dataset}`);
        }
        try {
          await dataset.table(ref.table).create({
            schema: { fields: schema.columns.map(toField) },
            ...(schema.partitionBy ? { timePartitioning: { type: "DAY", field: schema.partitionBy } } : {}),
            ...(schema.clusterBy?.length ? { clustering: { fields: schema.clusterBy } } : {}),
            ...(schema.description ? { description: schema.description } : {}),
          });
          return;
        } catch (err) {
          if (statusOf(err) !== 409) throw mapError(err, describeRef(ref));
        }
      }
      const have = existing ?? (await requireSchema(ref));
      assertSameSchema(ref, schema, have, "migrate the table before changing its schema");
    },

    async getSchema(ref) {
      checkTableRef(ref);
      return readSchema(ref);
    },

    async insertRows(ref, rows) {
      checkTableRef(ref);
      const schema = await requireSchema(ref);
      checkRows(ref, schema, rows);
      if (rows.length === 0) return;
      await loadRows(ref, ref.table, rows, schema, false);
    },

    async replacePartition(ref, partition, source) {
      checkTableRef(ref);
      const schema = await requireSchema(ref);
      if (schema.partitionBy !== partition.column) {
        throw new NonRetriableError(
          `${describeRef(ref)} is ${schema.partitionBy ? `partitioned by ${schema.partitionBy}` : "not partitioned"}; cannot replace partitions of column "${partition.column}"`,
          {
            field: "partition.column",
            fix: "replace partitions of the table's partitionBy column (day partitions)",
          },
        );
      }
      const day = partition.value;
      if (
        !/^\d{4}-\d{2}-\d{2}$/.test(day ?? "") ||
        new Date(`${day}T00:00:00Z`).toISOString().slice(0, 10) !== day
      ) {
        throw new NonRetriableError(
          `partition value "${day}" for ${describeRef(ref)} must be a day as YYYY-MM-DD`,
          {
            field: "partition.value",
          },
        );
      }
      const decorated = `${ref.table}$${day.replace(/-/g, "")}`;
      if ("rows" in source) {
        checkRows(ref, schema, source.rows);
        source.rows.forEach((row, i) => {
          const v = row?.[partition.column];
          const d =
            v instanceof Date
              ? v.toISOString().slice(0, 10)
              : typeof v === "string"
                ? v.slice(0, 10)
                : undefined;
          if (d !== day) {
            throw new NonRetriableError(
              `${describeRef(ref)} row ${i} has ${partition.column} = ${JSON.stringify(v)}, outside partition ${day}`,
              {
                field: `rows[${i}].${partition.column}`,
              },
            );
          }
        });
        return { rows: await loadRows(ref, decorated, source.rows, schema, true) };
      }
      const uris = source.parquetUris;
      if (!Array.isArray(uris) || uris.length === 0)
        throw new NonRetriableError("parquetUris must name at least one file", { field: "parquetUris" });
      uris.forEach((uri, i) => {
        if (typeof uri !== "string" || !/^gs:\/\/[^/]+\/.+/.test(uri)) {
          throw new NonRetriableError(
            `parquetUris[${i}] "${uri}" is not a gs:// URI; BigQuery loads from Cloud Storage`,
            {
              field: `parquetUris[${i}]`,
              fix: "pass the Cloud Storage objects store's uri() of the file",
            },
          );
        }
      });
      try {
        const [job] = await bq.createJob({
          configuration: {
            load: {
              sourceUris: uris,
              sourceFormat: "PARQUET",
              destinationTable: {
                projectId: ref.project ?? (await bq.getProjectId()),
                datasetId: ref.dataset,
                tableId: decorated,
              },
              writeDisposition: "WRITE_TRUNCATE",
              createDisposition: "CREATE_NEVER",
            },
          },
          ...(location ? { location } : {}),
        });
        return { rows: await finish(job, describeRef(ref)) };
      } catch (err) {
        throw mapError(err, describeRef(ref));
      }
    },

    async close() {},
  };
}

function toField(c: Column): TableField {
  const f: TableField = { name: c.name, type: c.type, mode: c.mode ?? "NULLABLE" };
  if (c.description) f.description = c.description;
  if (c.type === "RECORD") f.fields = (c.fields ?? []).map(toField);
  return f;
}

function fromField(f: TableField): Column {
  const type = TYPE_NAMES[String(f.type).toUpperCase()];
  if (!type)
    throw new NonRetriableError(`BigQuery column ${f.name} has type ${f.type}, which Tessera does not map`, {
      field: String(f.name),
    });
  const c: Column = { name: String(f.name), type };
  if (f.mode && f.mode !== "NULLABLE") c.mode = f.mode as Column["mode"];
  if (f.description) c.description = f.description;
  if (type === "RECORD") c.fields = (f.fields ?? []).map(fromField);
  return c;
}

function schemaFromMetadata(meta: {
  schema?: { fields?: TableField[] };
  timePartitioning?: { field?: string };
  clustering?: { fields?: string[] };
  description?: string;
}): TableSchema {
  const schema: TableSchema = { columns: (meta.schema?.fields ?? []).map(fromField) };
  if (meta.timePartitioning?.field) schema.partitionBy = meta.timePartitioning.field;
  if (meta.clustering?.fields?.length) schema.clusterBy = meta.clustering.fields;
  if (meta.description) schema.description = meta.description;
  return schema;
}

/** A row as the NDJSON a load job takes: dates as text, bytes as base64, JSON columns as text. */
function toJsonRow(row: Row, columns: Column[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of columns) {
    const v = row[c.name];
    if (v === undefined) continue;
    out[c.name] = c.mode === "REPEATED" && Array.isArray(v) ? v.map((x) => jsonCell(x, c)) : jsonCell(v, c);
  }
  return out;
}

function jsonCell(v: unknown, c: Column): unknown {
  if (v === null) return null;
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Date) return c.type === "DATE" ? v.toISOString().slice(0, 10) : v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (c.type === "JSON") return typeof v === "string" ? v : JSON.stringify(v);
  if (c.type === "RECORD" && typeof v === "object") return toJsonRow(v as Row, c.fields ?? []);
  return v;
}

/** The client's wrapper objects -> plain JS, matching the DuckDB adapter's results. */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(plain);
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === "object") {
    const ctor = (value as object).constructor?.name;
    if (ctor === "BigQueryInt") {
      const text = String((value as { value: string }).value);
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    }
    if (ctor === "BigQueryDate" || ctor === "BigQueryDatetime" || ctor === "BigQueryTime")
      return String((value as { value: string }).value);
    if (ctor === "BigQueryTimestamp")
      return new Date(String((value as { value: string }).value)).toISOString();
    if (ctor === "Big") return Number(String(value));
    if (ctor === "Geography") return String((value as { value: string }).value);
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, plain(v)]),
    );
  }
  return value;
}

function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; response?: { statusCode?: unknown } } | undefined;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.response?.statusCode === "number") return e.response.statusCode;
  return undefined;
}

/** BigQuery's `invalid`/`invalidQuery`/`notFound` are bad input; quota and backend errors are retryable. */
function mapError(err: unknown, what: string): unknown {
  if (err instanceof NonRetriableError || err instanceof RetryableError) return err;
  const e = err as { message?: string; errors?: { reason?: string; message?: string }[] };
  const reasons = (e?.errors ?? []).map((x) => x.reason ?? "");
  const message = `${what}: ${e?.errors?.[0]?.message ?? e?.message ?? String(err)}`;
  const status = statusOf(err);
  if (
    reasons.some((r) =>
      ["rateLimitExceeded", "backendError", "internalError", "jobBackendError"].includes(r),
    ) ||
    status === 429 ||
    (status ?? 0) >= 500
  ) {
    return new RetryableError(message, { cause: err });
  }
  if (
    reasons.some((r) => ["invalid", "invalidQuery", "notFound", "duplicate"].includes(r)) ||
    status === 400 ||
    status === 404
  ) {
    return new NonRetriableError(message, { field: "sql", cause: err });
  }
  return err;
}
