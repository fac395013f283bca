import type { JobExecution, JobRunner, MessageBus, Objects, Secrets, Warehouse } from "../adapters/ports.ts";
import {
  Double,
  fromPlain,
  isMap,
  parseJsonValue,
  toJson,
  type Value,
  type WfMap,
  WorkflowError,
  wfError,
} from "./values.ts";

/**
 * Connectors (`googleapis.*`) and `http.*`, served by an injected {@link ConnectorHost}: the engine never imports a
 * concrete adapter. Every ported connector blocks until its long-running operation is done and returns the final
 * resource, as the real connectors do; a failed operation raises `OperationError` carrying `operation`.
 */

/** What a finished operation looks like in a `--connector-stub` file. */
export type StubOutcome = { done: true; response: unknown } | { done: true; error: unknown };

export interface ConnectorContext {
  host: ConnectorHost;
  workflow: string;
  executionId: string;
  project: string;
  location: string;
  signal: AbortSignal;
  /** Sleep on the execution clock (records the delay). */
  sleep(seconds: number): undefined | Promise<void>;
  /** Register cleanup run when the execution is cancelled (stop a job, cancel a child). */
  onCancel(fn: () => unknown): () => void;
  /** Start a child execution of workflow `id` through the same engine. */
  startChild(workflowId: string, argument: Value, labels?: Record<string, string>): Promise<ChildExecution>;
  getExecution(name: string): Promise<WfMap | undefined>;
}

export interface ChildExecution {
  /** `projects/P/locations/L/workflows/W/executions/ID`. */
  name: string;
  /** The resource as `create` returns it: ACTIVE. */
  initial: WfMap;
  done: Promise<WfMap>;
}

export type ConnectorFn = (args: WfMap, ctx: ConnectorContext) => Promise<Value>;

export interface ConnectorHost {
  jobs?: JobRunner;
  warehouse?: Warehouse;
  objects?: Objects;
  messages?: MessageBus;
  secrets?: Secrets;
  /** The workflow source (YAML text) for a workflow id, for child executions; undefined when unknown. */
  resolveWorkflow?(
    workflowId: string,
  ): Promise<{ file: string; text: string } | undefined> | { file: string; text: string } | undefined;
  /** `fetch` for `http.*` (tests inject one). Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Deployed function URL prefix -> local base URL (`https://REGION-PROJECT.cloudfunctions.net/dispatch` -> `http://127.0.0.1:8081`). */
  functionUrls?: Record<string, string>;
  /** Extra or replacement connector methods by full name. */
  connectors?: Record<string, ConnectorFn>;
}

function str(args: WfMap, key: string, call: string): string {
  const v = args[key];
  if (typeof v !== "string" || v === "")
    throw wfError("ValueError", `${call}: argument "${key}" is required (a string)`);
  return v;
}

function last(name: string): string {
  return name.split("/").pop() ?? name;
}

function need<T>(port: T | undefined, what: string, call: string): T {
  if (port === undefined)
    throw wfError("SystemError", `${call}: no ${what} is wired into this engine (ConnectorHost.${what})`);
  return port;
}

export function operationError(call: string, message: string, operation: WfMap): WorkflowError {
  return wfError("OperationError", `${call}: ${message}`, { operation });
}

function seconds(v: Value | undefined, fallback: number): number {
  if (typeof v === "number") return v;
  if (v instanceof Double) return v.v;
  return fallback;
}

function isoOrUndefined(s: string | undefined): Value {
  return s === undefined ? null : s;
}

/** Cloud Run v2 Execution resource from the jobs port's view. */
export function executionResource(e: JobExecution, project: string, location: string): WfMap {
  const name = e.name.startsWith("projects/")
    ? e.name
    : `projects/${project}/locations/${location}/jobs/${e.job}/executions/${e.name}`;
  const conditions: Value[] = [
    {
      type: "Completed",
      state:
        e.state === "SUCCEEDED"
          ? "CONDITION_SUCCEEDED"
          : e.state === "FAILED" || e.state === "CANCELLED"
            ? "CONDITION_FAILED"
            : "CONDITION_PENDING",
      ...(e.failureReason ? { message: e.failureReason } : {}),
    },
  ];
  return {
    name,
    uid: last(name),
    job: e.job,
    createTime: e.startTime,
    startTime: e.startTime,
    completionTime: isoOrUndefined(e.completionTime),
    taskCount: e.taskCount,
    succeededCount: e.succeededCount,
    failedCount: e.failedCount,
    cancelledCount: e.cancelledCount,
    runningCount: 0,
    labels: (e.labels ?? {}) as WfMap,
    conditions,
    reconciling: false,
  };
}

async function runJob(
  args: WfMap,
  ctx: ConnectorContext,
  timeout: number,
  call: string,
  params: WfMap,
): Promise<Value> {
  const name = str(args, "name", call);
  const jobs = need(ctx.host.jobs, "jobs", call);
  const body = isMap(args.body) ? args.body : {};
  const overrides = isMap(body.overrides) ? body.overrides : {};
  const co =
    Array.isArray(overrides.containerOverrides) && isMap(overrides.containerOverrides[0])
      ? overrides.containerOverrides[0]
      : {};
  const env: Record<string, string> = {};
  if (Array.isArray(co.env))
    for (const e of co.env)
      if (isMap(e) && typeof e.name === "string")
        env[e.name] = e.value === null || e.value === undefined ? "" : String(toJson(e.value));
  const timeoutText = typeof overrides.timeout === "string" ? overrides.timeout : undefined;
  const execution = await jobs.run({
    job: last(name),
    args: Array.isArray(co.args) ? co.args.map((a) => String(toJson(a))) : undefined,
    env: Object.keys(env).length ? env : undefined,
    taskCount: typeof overrides.taskCount === "number" ? overrides.taskCount : undefined,
    timeoutSeconds: timeoutText ? Number.parseFloat(timeoutText) : undefined,
    labels: { "workflow-execution": ctx.executionId },
  });
  if (params.skip_polling === true) {
    // The initial long-running operation, as the connector returns it without polling.
    return {
      name: `${execution.name}/operations/run`,
      done: false,
      metadata: executionResource(execution, ctx.project, ctx.location),
    };
  }
  const unregister = ctx.onCancel(() => jobs.cancel(execution.name));
  try {
    let done: JobExecution;
    try {
      done = await jobs.wait(execution.name, { timeoutSeconds: timeout });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      await jobs.cancel(execution.name).catch(() => undefined);
      throw wfError(
        "TimeoutError",
        `${call}: job ${last(name)} did not finish within connector_params.timeout ${timeout} s`,
      );
    }
    const resource = executionResource(done, ctx.project, ctx.location);
    if (done.state !== "SUCCEEDED") {
      throw operationError(
        call,
        `job execution ${last(resource.name as string)} ${done.state}${done.failureReason ? `: ${done.failureReason}` : ""}`,
        {
          name: resource.name,
          done: true,
          error: {
            code: done.state === "CANCELLED" ? 1 : 2,
            message: done.failureReason ?? `execution ${done.state}`,
          },
          metadata: resource,
        },
      );
    }
    return resource;
  } finally {
    unregister();
  }
}

function rowsToBigQuery(rows: Record<string, unknown>[]): WfMap {
  const names = rows.length ? Object.keys(rows[0]) : [];
  const typeOf = (v: unknown) =>
    typeof v === "number"
      ? Number.isInteger(v)
        ? "INTEGER"
        : "FLOAT"
      : typeof v === "boolean"
        ? "BOOLEAN"
        : typeof v === "bigint"
          ? "INTEGER"
          : "STRING";
  const cell = (v: unknown): Value =>
    v === null || v === undefined
      ? null
      : v instanceof Date
        ? v.toISOString()
        : typeof v === "object"
          ? JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x))
          : String(v);
  return {
    kind: "bigquery#queryResponse",
    schema: { fields: names.map((n) => ({ name: n, type: typeOf(rows[0][n]), mode: "NULLABLE" })) },
    rows: rows.map((r) => ({ f: names.map((n) => ({ v: cell(r[n]) })) })),
    totalRows: String(rows.length),
    jobComplete: true,
    cacheHit: false,
  };
}

function bigQueryParams(list: Value): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  const out: Record<string, unknown> = {};
  for (const p of list) {
    if (!isMap(p) || typeof p.name !== "string" || !isMap(p.parameterValue)) continue;
    const type = isMap(p.parameterType) ? p.parameterType.type : "STRING";
    const raw = toJson(p.parameterValue.value ?? null);
    out[p.name] =
      type === "INT64" || type === "FLOAT64" || type === "NUMERIC"
        ? Number(raw)
        : type === "BOOL"
          ? raw === true || raw === "true"
          : raw;
  }
  return out;
}

async function bigQuery(args: WfMap, ctx: ConnectorContext, call: string, insert: boolean): Promise<Value> {
  const wh = need(ctx.host.warehouse, "warehouse", call);
  const body = isMap(args.body) ? args.body : {};
  const q = insert
    ? isMap(body.configuration) && isMap(body.configuration.query)
      ? body.configuration.query
      : undefined
    : body;
  if (!q || typeof q.query !== "string")
    throw wfError("ValueError", `${call}: body${insert ? ".configuration.query" : ""}.query is required`);
  const projectId = typeof args.projectId === "string" ? args.projectId : ctx.project;
  const jobId = `job_${ctx.executionId.replace(/-/g, "_")}_${Math.random().toString(36).slice(2, 10)}`;
  let rows: Record<string, unknown>[];
  try {
    rows = await wh.query(q.query, bigQueryParams(q.queryParameters ?? null));
  } catch (err) {
    throw operationError(call, `query failed: ${(err as Error).message}`, {
      name: jobId,
      done: true,
      error: { code: 3, message: (err as Error).message },
    });
  }
  const jobReference = { projectId, jobId, location: ctx.location };
  if (!insert) return { ...rowsToBigQuery(rows), jobReference };
  return {
    kind: "bigquery#job",
    id: `${projectId}:${ctx.location}.${jobId}`,
    jobReference,
    configuration: body.configuration ?? null,
    status: { state: "DONE" },
    statistics: { query: { totalBytesProcessed: "0", numDmlAffectedRows: String(rows.length) } },
  };
}

async function storage(method: string, args: WfMap, ctx: ConnectorContext, call: string): Promise<Value> {
  const objects = need(ctx.host.objects, "objects", call);
  const bucket = objects.bucket(str(args, "bucket", call));
  const meta = async (name: string): Promise<WfMap> => {
    const s = await bucket.stat(name);
    return {
      kind: "storage#object",
      bucket: bucket.bucket,
      name: s.name,
      size: String(s.size),
      updated: s.updated,
      generation: s.generation ?? null,
      contentType: s.contentType ?? null,
      metadata: (s.metadata ?? null) as Value,
    };
  };
  const notFound = (err: unknown, what: string) =>
    (err as Error).name === "NotFoundError"
      ? wfError("HttpError", `${call}: ${what} not found`, {
          code: 404,
          headers: {},
          body: { error: { code: 404, message: `${what} not found` } },
        })
      : err;
  switch (method) {
    case "get": {
      const name = str(args, "object", call);
      try {
        if (args.alt === "media") {
          const data = await bucket.get(name);
          const s = await bucket.stat(name).catch(() => undefined);
          const text = data.toString("utf8");
          if (s?.contentType?.includes("json") || name.endsWith(".json")) {
            try {
              return parseJsonValue(text);
            } catch {
              return text;
            }
          }
          return text;
        }
        return await meta(name);
      } catch (err) {
        throw notFound(err, `gs://${bucket.bucket}/${name}`);
      }
    }
    case "insert": {
      const name =
        typeof args.name === "string"
          ? args.name
          : isMap(args.body) && typeof args.body.name === "string"
            ? args.body.name
            : undefined;
      if (!name) throw wfError("ValueError", `${call}: argument "name" is required`);
      const b = args.body;
      const data =
        typeof b === "string"
          ? b
          : b instanceof Uint8Array
            ? Buffer.from(b)
            : JSON.stringify(toJson(b ?? null));
      await bucket.put(name, data, {
        contentType:
          typeof b === "string"
            ? "text/plain"
            : b instanceof Uint8Array
              ? "application/octet-stream"
              : "application/json",
      });
      return await meta(name);
    }
    case "list": {
      const prefix = typeof args.prefix === "string" ? args.prefix : "";
      const items = await bucket.list(prefix);
      return {
        kind: "storage#objects",
        items: items.map((s) => ({
          kind: "storage#object",
          bucket: bucket.bucket,
          name: s.name,
          size: String(s.size),
          updated: s.updated,
        })),
      };
    }
    case "delete": {
      const name = str(args, "object", call);
      try {
        await bucket.delete(name);
      } catch (err) {
        throw notFound(err, `gs://${bucket.bucket}/${name}`);
      }
      return null;
    }
  }
  throw wfError("SystemError", `${call}: unsupported storage method`);
}

async function publish(args: WfMap, ctx: ConnectorContext, call: string): Promise<Value> {
  const bus = need(ctx.host.messages, "messages", call);
  const topic = last(str(args, "topic", call));
  const body = isMap(args.body) ? args.body : {};
  const messages = Array.isArray(body.messages) ? body.messages : [];
  if (messages.length === 0)
    throw wfError("ValueError", `${call}: body.messages must list at least one message`);
  const ids: Value[] = [];
  for (const m of messages) {
    if (!isMap(m)) throw wfError("ValueError", `${call}: each message is a map {data, attributes}`);
    const data = typeof m.data === "string" ? Buffer.from(m.data, "base64") : Buffer.alloc(0);
    const attributes: Record<string, string> = {};
    if (isMap(m.attributes))
      for (const [k, v] of Object.entries(m.attributes)) attributes[k] = String(toJson(v));
    ids.push(await bus.publish(topic, data, attributes));
  }
  return { messageIds: ids };
}

async function childRun(args: WfMap, ctx: ConnectorContext, call: string, wait: boolean): Promise<Value> {
  let workflowId: string;
  let argument: Value = null;
  let labels: Record<string, string> | undefined;
  if (wait) {
    workflowId = str(args, "workflow_id", call);
    argument = args.argument ?? null;
  } else {
    workflowId = last(str(args, "parent", call));
    const body = isMap(args.body) ? args.body : {};
    if (typeof body.argument === "string") {
      try {
        argument = parseJsonValue(body.argument);
      } catch {
        throw wfError("ValueError", `${call}: body.argument must be a JSON string`);
      }
    } else argument = body.argument ?? null;
    if (isMap(body.labels))
      labels = Object.fromEntries(Object.entries(body.labels).map(([k, v]) => [k, String(toJson(v))]));
  }
  const child = await ctx.startChild(workflowId, argument, labels);
  if (!wait) return child.initial;
  const unregister = ctx.onCancel(() => undefined);
  try {
    const done = await child.done;
    if (done.state === "SUCCEEDED")
      return done.result === undefined
        ? null
        : typeof done.result === "string"
          ? parseJsonValue(done.result)
          : (done.result as Value);
    throw operationError(call, `child execution ${child.name} ${done.state}`, {
      name: child.name,
      done: true,
      error: (done.error ?? null) as Value,
      metadata: done,
    });
  } finally {
    unregister();
  }
}

const BUILTIN: Record<
  string,
  (args: WfMap, ctx: ConnectorContext, timeout: number, call: string, params: WfMap) => Promise<Value>
> = {
  "googleapis.run.v2.projects.locations.jobs.run": (a, c, t, n, p) => runJob(a, c, t, n, p),
  "googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run": (a, c, _t, n) =>
    childRun(a, c, n, true),
  "googleapis.workflowexecutions.v1.projects.locations.workflows.executions.create": (a, c, _t, n) =>
    childRun(a, c, n, false),
  "googleapis.workflowexecutions.v1.projects.locations.workflows.executions.get": async (a, c, _t, n) => {
    const r = await c.getExecution(str(a, "name", n));
    if (!r)
      throw wfError("HttpError", `${n}: execution ${a.name} not found`, {
        code: 404,
        headers: {},
        body: null,
      });
    return r;
  },
  "googleapis.bigquery.v2.jobs.query": (a, c, _t, n) => bigQuery(a, c, n, false),
  "googleapis.bigquery.v2.jobs.insert": (a, c, _t, n) => bigQuery(a, c, n, true),
  "googleapis.storage.v1.objects.get": (a, c, _t, n) => storage("get", a, c, n),
  "googleapis.storage.v1.objects.insert": (a, c, _t, n) => storage("insert", a, c, n),
  "googleapis.storage.v1.objects.list": (a, c, _t, n) => storage("list", a, c, n),
  "googleapis.storage.v1.objects.delete": (a, c, _t, n) => storage("delete", a, c, n),
  "googleapis.pubsub.v1.projects.topics.publish": (a, c, _t, n) => publish(a, c, n),
  "googleapis.secretmanager.v1.projects.secrets.versions.accessString": async (a, c, _t, n) => {
    const secrets = need(c.host.secrets, "secrets", n);
    const id = str(a, "secret_id", n);
    try {
      return await secrets.get(last(id));
    } catch (err) {
      throw wfError("HttpError", `${n}: secret ${id}: ${(err as Error).message}`, {
        code: 404,
        headers: {},
        body: null,
      });
    }
  },
};

/** Names this engine serves (besides `ConnectorHost.connectors`). */
export const CONNECTOR_NAMES: readonly string[] = Object.keys(BUILTIN);

export async function callConnector(
  name: string,
  rawArgs: WfMap,
  host: ConnectorHost,
  ctx: ConnectorContext,
): Promise<Value> {
  const { connector_params: cp, ...args } = rawArgs;
  const params = isMap(cp) ? cp : {};
  const timeout = seconds(params.timeout, 1800);
  const custom = host.connectors?.[name];
  if (custom) return fromPlain(await custom(args, ctx));
  const fn = BUILTIN[name];
  if (!fn)
    throw wfError(
      "SystemError",
      `connector ${name} is not available in the local twin (mapped: ${CONNECTOR_NAMES.map((n) => n.replace(/^googleapis\./, "")).join(", ")}); stub it with --connector-stub or ConnectorHost.connectors`,
    );
  return fn(args, ctx, timeout, name, params);
}

/** A stubbed call's finished operation: the response, or the error raised as OperationError (or as-is when tagged). */
export function stubResult(name: string, stub: StubOutcome): Value {
  if ("error" in stub) {
    const e = fromPlain(stub.error);
    if (isMap(e) && Array.isArray(e.tags)) throw new WorkflowError(e);
    throw operationError(name, isMap(e) && typeof e.message === "string" ? e.message : "operation failed", {
      name: `operations/stub-${name}`,
      done: true,
      error: e,
    });
  }
  return fromPlain(stub.response);
}

// ---------------------------------------------------------------- http.*

const HTTP_METHODS: Record<string, string> = {
  "http.get": "GET",
  "http.post": "POST",
  "http.put": "PUT",
  "http.patch": "PATCH",
  "http.delete": "DELETE",
};

export function rewriteUrl(url: string, map: Record<string, string> | undefined): string {
  if (!map) return url;
  let best = "";
  for (const prefix of Object.keys(map))
    if (url.startsWith(prefix) && prefix.length > best.length) best = prefix;
  if (!best) return url;
  const rest = url.slice(best.length);
  return (
    map[best].replace(/\/$/, "") +
    (rest === "" || rest.startsWith("/") || rest.startsWith("?") ? rest : `/${rest}`)
  );
}

export async function callHttp(
  name: string,
  args: WfMap,
  host: ConnectorHost,
  ctx: Pick<ConnectorContext, "signal">,
): Promise<Value> {
  const method =
    name === "http.request"
      ? typeof args.method === "string"
        ? args.method.toUpperCase()
        : ""
      : HTTP_METHODS[name];
  if (!method) throw wfError("ValueError", `${name}: method is required`);
  if (typeof args.url !== "string") throw wfError("ValueError", `${name}: url is required`);
  const url = new URL(rewriteUrl(args.url, host.functionUrls));
  if (isMap(args.query))
    for (const [k, v] of Object.entries(args.query)) {
      if (Array.isArray(v)) for (const x of v) url.searchParams.append(k, String(toJson(x)));
      else url.searchParams.set(k, String(toJson(v)));
    }
  const headers: Record<string, string> = {};
  if (isMap(args.headers)) for (const [k, v] of Object.entries(args.headers)) headers[k] = String(toJson(v));
  let body: string | Uint8Array | undefined;
  const b = args.body;
  if (b !== undefined && b !== null) {
    if (typeof b === "string") body = b;
    else if (b instanceof Uint8Array) body = b;
    else {
      const ct = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
      if (ct?.includes("x-www-form-urlencoded") && isMap(b))
        body = new URLSearchParams(
          Object.entries(b).map(([k, v]) => [k, String(toJson(v))] as [string, string]),
        ).toString();
      else {
        body = JSON.stringify(toJson(b));
        if (!ct) headers["Content-Type"] = "application/json";
      }
    }
  }
  const timeout = Math.min(seconds(args.timeout ?? undefined, 1800), 1800);
  const timer = AbortSignal.timeout(timeout * 1000);
  const signal = AbortSignal.any([timer, ctx.signal]);
  const doFetch = host.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, { method, headers, body: body as string | undefined, signal });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (timer.aborted) throw wfError("TimeoutError", `${name} ${url.href}: no response within ${timeout} s`);
    const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
    const code = cause?.code ?? cause?.errors?.find((e) => e.code)?.code;
    if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN")
      throw wfError("ConnectionFailedError", `${name} ${url.href}: could not connect (${code})`);
    throw wfError("ConnectionError", `${name} ${url.href}: ${(err as Error).message}`);
  }
  const buf = new Uint8Array(await res.arrayBuffer());
  if (buf.length > 2 * 1024 * 1024)
    throw wfError(
      "ResourceLimitError",
      `${name} ${url.href}: response of ${buf.length} bytes exceeds the 2 MB limit`,
    );
  const respHeaders: WfMap = {};
  res.headers.forEach((v, k) => {
    respHeaders[k] = v;
  });
  const ct = res.headers.get("content-type") ?? "";
  let parsed: Value;
  const text = Buffer.from(buf).toString("utf8");
  if (ct.includes("json")) {
    try {
      parsed = text === "" ? null : parseJsonValue(text);
    } catch {
      parsed = text;
    }
  } else if (ct.startsWith("text/") || ct.includes("xml") || ct === "") parsed = text;
  else parsed = buf;
  if (res.status < 200 || res.status > 299)
    throw wfError("HttpError", `HTTP server responded with error code ${res.status}`, {
      code: res.status,
      headers: respHeaders,
      body: parsed,
    });
  return { code: res.status, headers: respHeaders, body: parsed };
}
