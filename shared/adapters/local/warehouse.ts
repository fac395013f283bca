import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type DuckDBConnection,
  type DuckDBDateValue,
  DuckDBInstance,
  type DuckDBTimestampTZValue,
  type DuckDBTimestampValue,
  type DuckDBType,
  type DuckDBValue,
} from "@duckdb/node-api";
import { NonRetriableError } from "../../core/errors.ts";
import type { Row, TableRef, TableSchema, Warehouse } from "../ports.ts";
import {
  assertSameSchema,
  checkSchema,
  checkTableRef,
  columnFromDuckType,
  describeRef,
  duckTypeSql,
  qualified,
  quote,
  translateSql,
} from "./warehouse-sql.ts";
import { duckTypeOf, fromDuckJs, paramValue, toDuckValue } from "./warehouse-values.ts";

/**
 * BigQuery as one DuckDB file: a dataset is a schema, a table a table. SQL is BigQuery's dialect as far as
 * `translateSql` goes (named `@params`, backtick names). Rows go in through DuckDB's appender; a partition is
 * replaced inside one transaction (DELETE + append or `read_parquet`), so readers see the old rows or the new
 * ones. A table's partitioning, clustering and description live in its DuckDB comment, column descriptions in
 * column comments, so `getSchema` returns what `ensureTable` was given.
 *
 * DuckDB lets one process at a time open a file. By default this adapter holds the file open until `close()`;
 * with `releaseAfterMs` it closes the file when idle, and any instance retries while another process holds the
 * lock (up to `lockTimeoutMs`), so a runtime and its job processes can take turns. Writes are serialised inside
 * the process; reads run on their own connections.
 */

export interface LocalWarehouseOptions {
  /**
   * The DuckDB file (e.g. `.tessera/warehouse.duckdb`); `:memory:` for a throwaway one. DuckDB names the
   * catalog after the file's stem, so no dataset may share that name (`dataset.table` would be ambiguous).
   */
  path: string;
  /**
   * Close the file this many milliseconds after the last operation ends, so that other processes (local jobs)
   * can open it in between. Unset: hold it open until `close()`.
   */
  releaseAfterMs?: number;
  /** How long to keep retrying while another process holds the file's lock (default 60 s). */
  lockTimeoutMs?: number;
}

interface TableMeta {
  partitionBy?: string;
  clusterBy?: string[];
  description?: string;
}

const META_TAG = "tessera:";

export function createLocalWarehouse(options: LocalWarehouseOptions): Warehouse {
  const path = options.path === ":memory:" ? ":memory:" : resolve(options.path);
  let instance: Promise<DuckDBInstance> | undefined;
  let closed = false;
  let writes: Promise<unknown> = Promise.resolve();

  const lockTimeoutMs = options.lockTimeoutMs ?? 60_000;
  let active = 0;
  let idle: NodeJS.Timeout | undefined;

  const create = async (): Promise<DuckDBInstance> => {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const deadline = Date.now() + lockTimeoutMs;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        return await DuckDBInstance.create(path);
      } catch (err) {
        // Another process holds the file: wait for it to let go.
        if (!/lock/i.test((err as Error).message) || Date.now() + delay > deadline) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };

  const open = (): Promise<DuckDBInstance> => {
    if (closed) return Promise.reject(new Error("the local warehouse is closed"));
    if (!instance) {
      instance = create();
      instance.catch(() => {
        instance = undefined;
      });
    }
    return instance;
  };

  const releaseIfIdle = async () => {
    if (active > 0 || !instance) return;
    const held = instance;
    instance = undefined;
    (await held).closeSync();
  };

  async function withConnection<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    active++;
    if (idle) clearTimeout(idle);
    try {
      const c = await (await open()).connect();
      try {
        return await fn(c);
      } finally {
        c.closeSync();
      }
    } finally {
      active--;
      if (active === 0 && options.releaseAfterMs !== undefined && path !== ":memory:") {
        idle = setTimeout(() => void releaseIfIdle(), options.releaseAfterMs);
        idle.unref();
      }
    }
  }

  /** One write at a time: DuckDB would abort concurrent writers of a table with a conflict. */
  function serialized<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = writes.then(() => withConnection(fn));
    writes = run.catch(() => undefined);
    return run;
  }

  async function readSchema(c: DuckDBConnection, ref: TableRef): Promise<TableSchema | undefined> {
    const tables = await c.runAndReadAll(
      "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = $s AND table_name = $t",
      { s: ref.dataset, t: ref.table },
    );
    const rows = tables.getRowObjectsJS();
    if (rows.length === 0) return undefined;
    const cols = await c.runAndReadAll(
      "SELECT column_name, data_type, is_nullable, comment FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = $s AND table_name = $t ORDER BY column_index",
      { s: ref.dataset, t: ref.table },
    );
    const schema: TableSchema = {
      columns: cols.getRowObjectsJS().map((r) => {
        const col = columnFromDuckType(String(r.column_name), String(r.data_type), r.is_nullable === true);
        if (typeof r.comment === "string" && r.comment !== "") col.description = r.comment;
        return col;
      }),
    };
    const comment = rows[0].comment;
    if (typeof comment === "string" && comment.startsWith(META_TAG)) {
      const meta = JSON.parse(comment.slice(META_TAG.length)) as TableMeta;
      if (meta.partitionBy) schema.partitionBy = meta.partitionBy;
      if (meta.clusterBy?.length) schema.clusterBy = meta.clusterBy;
      if (meta.description) schema.description = meta.description;
    }
    return schema;
  }

  async function requireSchema(c: DuckDBConnection, ref: TableRef): Promise<TableSchema> {
    const schema = await readSchema(c, checkTableRef(ref));
    if (!schema) {
      throw new NonRetriableError(`table ${describeRef(ref)} does not exist`, {
        field: "table",
        fix: "create it with ensureTable (the pipeline's table schema) first",
      });
    }
    return schema;
  }

  async function append(c: DuckDBConnection, ref: TableRef, schema: TableSchema, rows: Row[]): Promise<void> {
    if (!Array.isArray(rows))
      throw new NonRetriableError(`rows for ${describeRef(ref)} must be an array`, { field: "rows" });
    const known = new Set(schema.columns.map((col) => col.name));
    const types = schema.columns.map((col) => duckTypeOf(col));
    const appender = await c.createAppender(ref.table, ref.dataset);
    try {
      rows.forEach((row, i) => {
        if (row === null || typeof row !== "object" || Array.isArray(row)) {
          throw new NonRetriableError(`${describeRef(ref)} row ${i} is not an object`, {
            field: `rows[${i}]`,
          });
        }
        for (const k of Object.keys(row)) {
          if (!known.has(k)) {
            throw new NonRetriableError(
              `${describeRef(ref)} row ${i} has column "${k}", which the table does not have`,
              {
                field: `rows[${i}].${k}`,
                fix: `use the table's columns: ${[...known].join(", ")}`,
              },
            );
          }
        }
        schema.columns.forEach((col, j) => {
          const v = toDuckValue(row[col.name], col, () => `${describeRef(ref)} row ${i} column ${col.name}`);
          // Scalars go through the typed append calls; appendValue's generic path is several times slower.
          if (v === null) appender.appendNull();
          else if (col.mode === "REPEATED") appender.appendValue(v, types[j]);
          else if (col.type === "STRING" || col.type === "JSON") appender.appendVarchar(v as string);
          else if (col.type === "INT64") appender.appendBigInt(v as bigint);
          else if (col.type === "FLOAT64") appender.appendDouble(v as number);
          else if (col.type === "BOOL") appender.appendBoolean(v as boolean);
          else if (col.type === "DATE") appender.appendDate(v as DuckDBDateValue);
          else if (col.type === "TIMESTAMP") appender.appendTimestampTZ(v as DuckDBTimestampTZValue);
          else if (col.type === "DATETIME") appender.appendTimestamp(v as DuckDBTimestampValue);
          else appender.appendValue(v, types[j]);
        });
        appender.endRow();
      });
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  return {
    async query<T extends Row = Row>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
      if (typeof sql !== "string" || sql.trim() === "")
        throw new NonRetriableError("query needs SQL text", { field: "sql" });
      const translated = translateSql(sql);
      const values: Record<string, DuckDBValue> = {};
      const types: Record<string, DuckDBType | undefined> = {};
      for (const name of translated.params) {
        if (!(name in params)) {
          throw new NonRetriableError(`SQL uses @${name} but no parameter "${name}" was given`, {
            field: `params.${name}`,
          });
        }
        const p = paramValue(params[name], name);
        values[name] = p.value;
        types[name] = p.type;
      }
      const isRead = /^\s*(\(|select\b|with\b|from\b|describe\b|show\b|summarize\b|pragma\b|values\b)/i.test(
        translated.sql,
      );
      const run = async (c: DuckDBConnection) => {
        const reader = await c.runAndReadAll(translated.sql, values, types);
        const names = reader.columnNames();
        const colTypes = reader.columnTypes();
        return reader.getRowsJS().map((r) => {
          const obj: Record<string, unknown> = {};
          names.forEach((n, i) => {
            obj[n] = fromDuckJs(r[i], colTypes[i]);
          });
          return obj as T;
        });
      };
      try {
        return await (isRead ? withConnection(run) : serialized(run));
      } catch (err) {
        throw sqlError(err, sql);
      }
    },

    async ensureTable(ref, schema) {
      checkTableRef(ref);
      checkSchema(schema, ref);
      return serialized(async (c) => {
        const existing = await readSchema(c, ref);
        if (existing) {
          assertSameSchema(
            ref,
            schema,
            existing,
            "migrate the table (or drop it locally) before changing its schema",
          );
          return;
        }
        const meta: TableMeta = {};
        if (schema.partitionBy) meta.partitionBy = schema.partitionBy;
        if (schema.clusterBy?.length) meta.clusterBy = schema.clusterBy;
        if (schema.description) meta.description = schema.description;
        const columns = schema.columns.map(
          (col) =>
            `${quote(col.name, "column")} ${duckTypeSql(col)}${col.mode === "REQUIRED" ? " NOT NULL" : ""}`,
        );
        await c.run("BEGIN TRANSACTION");
        try {
          await c.run(`CREATE SCHEMA IF NOT EXISTS ${quote(ref.dataset, "dataset")}`);
          await c.run(`CREATE TABLE ${qualified(ref)} (${columns.join(", ")})`);
          await c.run(`COMMENT ON TABLE ${qualified(ref)} IS ${literal(META_TAG + JSON.stringify(meta))}`);
          for (const col of schema.columns) {
            if (col.description)
              await c.run(
                `COMMENT ON COLUMN ${qualified(ref)}.${quote(col.name)} IS ${literal(col.description)}`,
              );
          }
          await c.run("COMMIT");
        } catch (err) {
          await c.run("ROLLBACK");
          throw err;
        }
      });
    },

    async getSchema(ref) {
      checkTableRef(ref);
      return withConnection((c) => readSchema(c, ref));
    },

    async insertRows(ref, rows) {
      checkTableRef(ref);
      return serialized(async (c) => {
        const schema = await requireSchema(c, ref);
        await append(c, ref, schema, rows);
      });
    },

    async replacePartition(ref, partition, source) {
      checkTableRef(ref);
      return serialized(async (c) => {
        const schema = await requireSchema(c, ref);
        const column = checkPartitionColumn(ref, schema, partition.column);
        const day = checkPartitionValue(ref, partition.value);
        const match =
          column.type === "DATE"
            ? `${quote(column.name)} = $day`
            : `CAST(${quote(column.name)} AS DATE) = $day`;
        const dayParam = { day: toDuckValue(day, { name: "day", type: "DATE" }, "partition.value") };
        const dayType = { day: duckTypeOf({ name: "day", type: "DATE" }) };
        await c.run("BEGIN TRANSACTION");
        try {
          await c.run(`DELETE FROM ${qualified(ref)} WHERE ${match}`, dayParam, dayType);
          let written: number;
          if ("rows" in source) {
            source.rows.forEach((row, i) => {
              const v = row?.[column.name];
              const d =
                v instanceof Date
                  ? v.toISOString().slice(0, 10)
                  : typeof v === "string"
                    ? v.slice(0, 10)
                    : undefined;
              if (d !== day) {
                throw new NonRetriableError(
                  `${describeRef(ref)} row ${i} has ${column.name} = ${JSON.stringify(v)}, outside partition ${day}`,
                  { field: `rows[${i}].${column.name}` },
                );
              }
            });
            await append(c, ref, schema, source.rows);
            written = source.rows.length;
          } else {
            const files = parquetPaths(source.parquetUris);
            const cols = schema.columns.map((col) => quote(col.name)).join(", ");
            const list = `[${files.map(literal).join(", ")}]`;
            const from = `read_parquet(${list}, union_by_name = true)`;
            const outside = await c.runAndReadAll(
              `SELECT count(*) FROM ${from} WHERE ${quote(column.name)} IS NULL OR NOT (${match})`,
              dayParam,
              dayType,
            );
            const stray = Number(outside.getRowsJS()[0][0]);
            if (stray > 0) {
              throw new NonRetriableError(
                `Parquet files for ${describeRef(ref)} partition ${day} hold ${stray} row(s) whose ${column.name} is not ${day}`,
                {
                  field: "parquetUris",
                  fix: `write only rows with ${column.name} = ${day} into the partition's files`,
                },
              );
            }
            const inserted = await c.runAndReadAll(
              `INSERT INTO ${qualified(ref)} (${cols}) SELECT ${cols} FROM ${from}`,
            );
            written = Number(inserted.getRowsJS()[0]?.[0] ?? 0);
          }
          await c.run("COMMIT");
          return { rows: written };
        } catch (err) {
          await c.run("ROLLBACK");
          throw sqlError(err);
        }
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      await writes;
      if (idle) clearTimeout(idle);
      const held = instance;
      instance = undefined;
      if (held) (await held).closeSync();
    },
  };
}

function checkPartitionColumn(ref: TableRef, schema: TableSchema, name: string) {
  if (schema.partitionBy !== name) {
    throw new NonRetriableError(
      `${describeRef(ref)} is ${schema.partitionBy ? `partitioned by ${schema.partitionBy}` : "not partitioned"}; cannot replace partitions of column "${name}"`,
      {
        field: "partition.column",
        fix: "replace partitions of the table's partitionBy column (day partitions, as BigQuery does)",
      },
    );
  }
  return schema.columns.find((c) => c.name === name) as TableSchema["columns"][number];
}

function checkPartitionValue(ref: TableRef, value: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value ?? "");
  if (!m || new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    throw new NonRetriableError(
      `partition value "${value}" for ${describeRef(ref)} must be a day as YYYY-MM-DD`,
      {
        field: "partition.value",
      },
    );
  }
  return value;
}

function parquetPaths(uris: string[]): string[] {
  if (!Array.isArray(uris) || uris.length === 0) {
    throw new NonRetriableError("parquetUris must name at least one file", { field: "parquetUris" });
  }
  return uris.map((uri, i) => {
    if (typeof uri !== "string" || !uri.startsWith("file://")) {
      throw new NonRetriableError(
        `parquetUris[${i}] "${uri}" is not a file:// URI; the local warehouse reads local files`,
        {
          field: `parquetUris[${i}]`,
          fix: "pass the local objects store's uri() of the file",
        },
      );
    }
    return fileURLToPath(uri);
  });
}

/** A SQL string literal; used only for comments and file paths, never for query values. */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function sqlError(err: unknown, sql?: string): unknown {
  if (!(err instanceof Error) || err instanceof NonRetriableError) return err;
  // DuckDB's parser, binder and catalog errors are bad SQL or a missing table: retrying cannot help.
  if (
    /\b(Parser|Binder|Catalog|Conversion|Constraint|Invalid Input|Not implemented) Error\b/.test(err.message)
  ) {
    return new NonRetriableError(`${err.message}${sql ? `\nin SQL: ${sql.trim().slice(0, 500)}` : ""}`, {
      field: "sql",
      cause: err,
    });
  }
  return err;
}
