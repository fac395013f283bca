import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import type { Column, TableSchema } from "../../shared/adapters/ports.ts";
import {
  type LoopbackServer,
  type RecordedRequest,
  sendJson,
  startLoopbackServer,
} from "../helpers/loopback-http.ts";
import { parseMultipart } from "./objects-fake-gcs.ts";

/**
 * Enough of the BigQuery REST API (v2) for the warehouse contract suite, on a loopback port, executing on an
 * in-memory DuckDB through the local adapter: datasets and tables (get, insert), `jobs.query` with named
 * parameters (answered in BigQuery's f/v row format, TIMESTAMPs as int64 microseconds), load jobs uploaded
 * multipart with NDJSON and Parquet load jobs from `gs://` URIs (mapped to files under `gcsRoot/<bucket>/`),
 * and job polling. It CHECKS the request shapes the client sends; anything unknown or malformed is answered
 * 400/501 and recorded in `unexpected`.
 */

export interface FakeBigQuery extends LoopbackServer {
  unexpected: { request: string; problem: string }[];
}

const LEGACY: Record<string, string> = { INT64: "INTEGER", FLOAT64: "FLOAT", BOOL: "BOOLEAN" };
const STANDARD: Record<string, Column["type"]> = { INTEGER: "INT64", FLOAT: "FLOAT64", BOOLEAN: "BOOL" };

export async function startFakeBigQuery(options: {
  project: string;
  gcsRoot: string;
}): Promise<FakeBigQuery> {
  const wh = createLocalWarehouse({ path: ":memory:" });
  const datasets = new Set<string>();
  const jobs = new Map<string, Record<string, unknown>>();
  const unexpected: FakeBigQuery["unexpected"] = [];
  let nextJob = 1;
  const base = `/bigquery/v2/projects/${options.project}`;

  const problem = (req: RecordedRequest, res: ServerResponse, status: number, message: string) => {
    unexpected.push({ request: `${req.method} ${req.rawPath}`, problem: message });
    sendJson(res, status, { error: { code: status, message, errors: [{ reason: "invalid", message }] } });
  };
  const fail = (res: ServerResponse, status: number, reason: string, message: string) =>
    sendJson(res, status, { error: { code: status, message, errors: [{ reason, message }] } });

  async function runLoad(
    config: Record<string, unknown>,
    rows: Record<string, unknown>[] | undefined,
    reference: { jobId?: string } | undefined,
  ): Promise<Record<string, unknown>> {
    const load = config.load as {
      destinationTable: { datasetId: string; tableId: string };
      writeDisposition?: string;
      sourceFormat?: string;
      sourceUris?: string[];
    };
    const id = reference?.jobId ?? `job_${nextJob++}`;
    const job: Record<string, unknown> = {
      kind: "bigquery#job",
      id: `${options.project}:US.${id}`,
      jobReference: { projectId: options.project, jobId: id, location: "US" },
      configuration: config,
    };
    try {
      const [table, decorator] = load.destinationTable.tableId.split("$");
      const ref = { dataset: load.destinationTable.datasetId, table };
      let written = 0;
      if (decorator) {
        if (load.writeDisposition !== "WRITE_TRUNCATE")
          throw new Error("partition loads must be WRITE_TRUNCATE");
        const schema = (await wh.getSchema(ref)) as TableSchema;
        const day = `${decorator.slice(0, 4)}-${decorator.slice(4, 6)}-${decorator.slice(6, 8)}`;
        const source = rows
          ? { rows }
          : {
              parquetUris: (load.sourceUris ?? []).map((u) => {
                const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(u);
                if (!m) throw new Error(`bad source URI ${u}`);
                return pathToFileURL(join(options.gcsRoot, m[1], m[2])).href;
              }),
            };
        written = (
          await wh.replacePartition(ref, { column: schema.partitionBy as string, value: day }, source)
        ).rows;
      } else {
        if (load.writeDisposition !== "WRITE_APPEND")
          throw new Error("table loads here must be WRITE_APPEND");
        await wh.insertRows(ref, rows ?? []);
        written = rows?.length ?? 0;
      }
      job.status = { state: "DONE" };
      job.statistics = { load: { outputRows: String(written) } };
    } catch (err) {
      const message = (err as Error).message;
      job.status = {
        state: "DONE",
        errorResult: { reason: "invalid", message },
        errors: [{ reason: "invalid", message }],
      };
      job.statistics = {};
    }
    jobs.set(id, job);
    return job;
  }

  const server = await startLoopbackServer(async (req, res) => {
    const body = () =>
      req.body.length ? (JSON.parse(req.body.toString("utf8")) as Record<string, unknown>) : {};
    if (req.rawPath === `/upload${base}/jobs` && req.method === "POST") {
      if (req.query.uploadType !== "multipart")
        return problem(req, res, 400, `upload with uploadType=${req.query.uploadType}`);
      const { metadata, media } = parseMultipart(req);
      const config = metadata.configuration as Record<string, unknown>;
      const load = config?.load as { sourceFormat?: string } | undefined;
      if (load?.sourceFormat !== "NEWLINE_DELIMITED_JSON")
        return problem(req, res, 400, "upload is not an NDJSON load job");
      const allowed = new Set([
        "destinationTable",
        "sourceFormat",
        "writeDisposition",
        "createDisposition",
        "schema",
      ]);
      const unknown = Object.keys(load).filter((k) => !allowed.has(k));
      if (unknown.length)
        return problem(req, res, 400, `load configuration has unexpected fields: ${unknown.join(", ")}`);
      const text = media.toString("utf8");
      const rows = text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return sendJson(res, 200, await runLoad(config, rows, metadata.jobReference as { jobId?: string }));
    }
    if (!req.rawPath.startsWith(base))
      return problem(req, res, 501, "not a BigQuery v2 path of the test project");
    const rest = req.rawPath.slice(base.length).split("/").map(decodeURIComponent);
    // rest: ["", "datasets", D, "tables", T] etc.
    if (rest[1] === "datasets" && rest.length === 2 && req.method === "POST") {
      const b = body() as { datasetReference?: { datasetId?: string } };
      const id = b.datasetReference?.datasetId;
      if (!id) return problem(req, res, 400, "dataset insert without datasetReference.datasetId");
      if (datasets.has(id))
        return fail(res, 409, "duplicate", `Already Exists: Dataset ${options.project}:${id}`);
      datasets.add(id);
      return sendJson(res, 200, {
        kind: "bigquery#dataset",
        datasetReference: { projectId: options.project, datasetId: id },
      });
    }
    if (rest[1] === "datasets" && rest.length === 3 && req.method === "GET") {
      if (!datasets.has(rest[2]))
        return fail(res, 404, "notFound", `Not found: Dataset ${options.project}:${rest[2]}`);
      return sendJson(res, 200, {
        kind: "bigquery#dataset",
        datasetReference: { projectId: options.project, datasetId: rest[2] },
      });
    }
    if (rest[1] === "datasets" && rest[3] === "tables") {
      const dataset = rest[2];
      if (rest.length === 4 && req.method === "POST") {
        const b = body() as {
          tableReference?: { tableId?: string };
          schema?: { fields?: Record<string, unknown>[] };
          timePartitioning?: { type?: string; field?: string };
          clustering?: { fields?: string[] };
          description?: string;
        };
        if (!datasets.has(dataset)) return fail(res, 404, "notFound", `Not found: Dataset ${dataset}`);
        const table = b.tableReference?.tableId;
        if (!table || !b.schema?.fields)
          return problem(req, res, 400, "table insert without tableReference.tableId or schema.fields");
        if (b.timePartitioning && b.timePartitioning.type !== "DAY")
          return problem(req, res, 400, "timePartitioning.type is not DAY");
        if (await wh.getSchema({ dataset, table }))
          return fail(res, 409, "duplicate", `Already Exists: Table ${dataset}.${table}`);
        const schema: TableSchema = { columns: b.schema.fields.map(columnOf) };
        if (b.timePartitioning?.field) schema.partitionBy = b.timePartitioning.field;
        if (b.clustering?.fields) schema.clusterBy = b.clustering.fields;
        if (b.description) schema.description = b.description;
        await wh.ensureTable({ dataset, table }, schema);
        return sendJson(res, 200, tableResource(dataset, table, schema));
      }
      if (rest.length === 5 && req.method === "GET") {
        const schema = datasets.has(dataset) ? await wh.getSchema({ dataset, table: rest[4] }) : undefined;
        if (!schema)
          return fail(res, 404, "notFound", `Not found: Table ${options.project}:${dataset}.${rest[4]}`);
        return sendJson(res, 200, tableResource(dataset, rest[4], schema));
      }
    }
    if (rest[1] === "queries" && rest.length === 2 && req.method === "POST") {
      const b = body() as {
        query?: string;
        useLegacySql?: boolean;
        parameterMode?: string;
        queryParameters?: QueryParameter[];
        formatOptions?: { useInt64Timestamp?: boolean };
      };
      if (b.useLegacySql !== false) return problem(req, res, 400, "query without useLegacySql=false");
      if (b.queryParameters?.length && b.parameterMode?.toUpperCase() !== "NAMED")
        return problem(req, res, 400, "parameters without parameterMode=NAMED");
      const params = Object.fromEntries(
        (b.queryParameters ?? []).map((p) => [p.name, decodeParam(p.parameterType, p.parameterValue)]),
      );
      let rows: Record<string, unknown>[];
      try {
        rows = await wh.query(String(b.query), params);
      } catch (err) {
        return fail(res, 400, "invalidQuery", (err as Error).message);
      }
      const id = `job_${nextJob++}`;
      return sendJson(res, 200, {
        kind: "bigquery#queryResponse",
        jobComplete: true,
        jobReference: { projectId: options.project, jobId: id, location: "US" },
        totalRows: String(rows.length),
        ...encodeRows(rows, b.formatOptions?.useInt64Timestamp === true),
      });
    }
    if (rest[1] === "jobs" && rest.length === 2 && req.method === "POST") {
      const b = body() as { configuration?: Record<string, unknown>; jobReference?: { jobId?: string } };
      const load = b.configuration?.load as { sourceFormat?: string; sourceUris?: string[] } | undefined;
      if (load?.sourceFormat !== "PARQUET" || !load.sourceUris?.length)
        return problem(req, res, 400, "job insert that is not a Parquet load from URIs");
      return sendJson(
        res,
        200,
        await runLoad(b.configuration as Record<string, unknown>, undefined, b.jobReference),
      );
    }
    if (rest[1] === "jobs" && rest.length === 3 && req.method === "GET") {
      const job = jobs.get(rest[2]);
      if (!job) return fail(res, 404, "notFound", `Not found: Job ${rest[2]}`);
      return sendJson(res, 200, job);
    }
    problem(req, res, 501, "fake BigQuery does not implement this call");
  });

  const close = server.close;
  return Object.assign(server, {
    unexpected,
    close: async () => {
      await close();
      await wh.close();
    },
  });
}

interface QueryParameter {
  name: string;
  parameterType: { type: string; arrayType?: { type: string } };
  parameterValue?: { value?: string | null; arrayValues?: { value?: string }[] };
}

function decodeParam(
  type: QueryParameter["parameterType"],
  value: QueryParameter["parameterValue"],
): unknown {
  if (type.type === "ARRAY")
    return (value?.arrayValues ?? []).map((v) => decodeParam(type.arrayType ?? { type: "STRING" }, v));
  const v = value?.value;
  if (v === undefined || v === null) return null;
  switch (type.type) {
    case "INT64": {
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : BigInt(v);
    }
    case "FLOAT64":
    case "NUMERIC":
      return Number(v);
    case "BOOL":
      return v === "true";
    default:
      return v;
  }
}

function columnOf(f: Record<string, unknown>): Column {
  const type = String(f.type);
  const c: Column = { name: String(f.name), type: (STANDARD[type] ?? type) as Column["type"] };
  if (f.mode && f.mode !== "NULLABLE") c.mode = f.mode as Column["mode"];
  if (f.description) c.description = String(f.description);
  if (Array.isArray(f.fields)) c.fields = (f.fields as Record<string, unknown>[]).map(columnOf);
  return c;
}

/** Table resource as BigQuery returns it: legacy type names, explicit NULLABLE. */
function tableResource(dataset: string, table: string, schema: TableSchema): Record<string, unknown> {
  const field = (c: Column): Record<string, unknown> => ({
    name: c.name,
    type: LEGACY[c.type] ?? c.type,
    mode: c.mode ?? "NULLABLE",
    ...(c.description ? { description: c.description } : {}),
    ...(c.fields ? { fields: c.fields.map(field) } : {}),
  });
  return {
    kind: "bigquery#table",
    tableReference: { datasetId: dataset, tableId: table },
    schema: { fields: schema.columns.map(field) },
    ...(schema.partitionBy ? { timePartitioning: { type: "DAY", field: schema.partitionBy } } : {}),
    ...(schema.clusterBy ? { clustering: { fields: schema.clusterBy } } : {}),
    ...(schema.description ? { description: schema.description } : {}),
  };
}

/** Rows in BigQuery's f/v format, with each column's type inferred from its values. */
function encodeRows(rows: Record<string, unknown>[], int64Timestamps: boolean): Record<string, unknown> {
  const names = rows.length ? Object.keys(rows[0]) : [];
  const fields = names.map((n) =>
    fieldFor(
      n,
      rows.map((r) => r[n]),
    ),
  );
  return {
    schema: { fields },
    rows: rows.map((r) => ({ f: names.map((n, i) => ({ v: encode(r[n], fields[i], int64Timestamps) })) })),
  };
}

interface Field {
  name: string;
  type: string;
  mode: string;
  fields?: Field[];
}

function fieldFor(name: string, values: unknown[]): Field {
  const sample = values.find((v) => v !== null && v !== undefined);
  if (Array.isArray(sample)) {
    const inner = fieldFor(
      name,
      values.flatMap((v) => (Array.isArray(v) ? v : [])),
    );
    return { ...inner, mode: "REPEATED" };
  }
  if (sample !== null && typeof sample === "object" && !Buffer.isBuffer(sample)) {
    const keys = Object.keys(sample);
    return {
      name,
      type: "RECORD",
      mode: "NULLABLE",
      fields: keys.map((k) =>
        fieldFor(
          k,
          values.map((v) => (v as Record<string, unknown> | null)?.[k]),
        ),
      ),
    };
  }
  const type = scalarType(sample);
  const anyFraction = values.some((v) => typeof v === "number" && !Number.isInteger(v));
  return { name, type: type === "INTEGER" && anyFraction ? "FLOAT" : type, mode: "NULLABLE" };
}

function scalarType(v: unknown): string {
  if (typeof v === "boolean") return "BOOLEAN";
  if (typeof v === "number") return Number.isInteger(v) ? "INTEGER" : "FLOAT";
  if (Buffer.isBuffer(v)) return "BYTES";
  if (typeof v === "string") {
    if (/^-?\d{16,20}$/.test(v)) return "INTEGER";
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return "DATE";
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v)) return "TIMESTAMP";
  }
  return "STRING";
}

function encode(v: unknown, f: Field, int64Timestamps: boolean): unknown {
  if (v === null || v === undefined) return null;
  if (f.mode === "REPEATED")
    return (v as unknown[]).map((x) => ({ v: encode(x, { ...f, mode: "NULLABLE" }, int64Timestamps) }));
  if (f.type === "RECORD") {
    return {
      f: (f.fields ?? []).map((sub) => ({
        v: encode((v as Record<string, unknown>)[sub.name], sub, int64Timestamps),
      })),
    };
  }
  if (f.type === "BYTES") return (v as Buffer).toString("base64");
  if (f.type === "TIMESTAMP") {
    const ms = Date.parse(String(v));
    return int64Timestamps ? String(ms * 1000) : String(ms / 1000);
  }
  return String(v);
}
