import type { ExecutionsClient } from "@google-cloud/workflows";
import { type ExecutionState, NotFoundError, type WorkflowExecution, type Workflows } from "../ports.ts";
import { type RestClient, restFromEnv } from "./rest.ts";

/**
 * The workflows port on the Workflows Executions API. Arguments and results cross the API as JSON strings
 * (`Execution.argument`, `Execution.result`); this adapter parses them so callers see values.
 *
 * By default it calls the REST API (`v1`, through `rest.ts`: no client library at cold start); with
 * `client` (an `ExecutionsClient` from `@google-cloud/workflows`) it goes through that instead.
 */
export interface GcpWorkflowsOptions {
  projectId: string;
  region: string;
  /** Poll interval of `wait`, milliseconds. */
  pollMs?: number;
  /** The REST client and `https://workflowexecutions.googleapis.com` (or a stand-in); default from the env. */
  rest?: RestClient;
  endpoint?: string;
  client?: Pick<
    ExecutionsClient,
    "createExecution" | "getExecution" | "cancelExecution" | "listExecutionsAsync"
  >;
}

type ApiExecution = {
  name?: string | null;
  state?: unknown;
  argument?: string | null;
  result?: string | null;
  error?: { payload?: string | null; context?: string | null } | null;
  labels?: Record<string, string> | null;
  /** `{seconds, nanos}` from the client library, an RFC 3339 string from the REST API. */
  startTime?: { seconds?: unknown; nanos?: number | null } | string | null;
  endTime?: { seconds?: unknown; nanos?: number | null } | string | null;
};

const STATES: Record<string, ExecutionState> = {
  ACTIVE: "ACTIVE",
  QUEUED: "ACTIVE",
  SUCCEEDED: "SUCCEEDED",
  FAILED: "FAILED",
  CANCELLED: "CANCELLED",
  UNAVAILABLE: "FAILED",
};

function time(t: ApiExecution["startTime"]): string | undefined {
  if (typeof t === "string") return t ? new Date(t).toISOString() : undefined;
  if (!t || t.seconds === undefined || t.seconds === null) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6)).toISOString();
}

function parse(text: string | null | undefined): unknown {
  if (text === null || text === undefined || text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function fromApi(e: ApiExecution): WorkflowExecution {
  const name = e.name ?? "";
  const workflow = /\/workflows\/([^/]+)\//.exec(name)?.[1] ?? "";
  return {
    name,
    workflow,
    state: STATES[String(e.state)] ?? "ACTIVE",
    argument: parse(e.argument),
    result: parse(e.result),
    error: e.error ? (parse(e.error.payload) ?? e.error.payload) : undefined,
    labels: { ...(e.labels ?? {}) },
    startTime: time(e.startTime) ?? "",
    endTime: time(e.endTime),
  };
}

/** The Executions API list filter (AIP-160) for a label/state filter. */
export function listFilter(filter: { labels?: Record<string, string>; state?: ExecutionState }): string {
  const parts = Object.entries(filter.labels ?? {}).map(
    ([k, v]) => `labels.${k}="${v.replace(/"/g, '\\"')}"`,
  );
  if (filter.state) parts.push(`state="${filter.state}"`);
  return parts.join(" AND ");
}

export function createGcpWorkflows(options: GcpWorkflowsOptions): Workflows {
  if (!options.client) return createRestWorkflows(options);
  const client = options.client;
  const parentOf = (workflow: string) =>
    `projects/${options.projectId}/locations/${options.region}/workflows/${workflow}`;
  const get = async (execution: string) =>
    fromApi((await client.getExecution({ name: execution }))[0] as ApiExecution);
  return {
    async execute(workflow, argument, opts = {}) {
      const [created] = await client.createExecution({
        parent: parentOf(workflow),
        execution: { argument: JSON.stringify(argument ?? null), labels: opts.labels ?? {} },
      });
      return fromApi(created as ApiExecution);
    },
    get,
    wait: (execution) => waitUntilDone(get, execution, options.pollMs),
    async cancel(execution) {
      await client.cancelExecution({ name: execution });
    },
    async list(filter = {}) {
      const out: WorkflowExecution[] = [];
      const request = {
        parent: parentOf(filter.workflow ?? "-"),
        filter: listFilter(filter) || undefined,
        view: "FULL" as const,
      };
      for await (const e of client.listExecutionsAsync(request)) out.push(fromApi(e as ApiExecution));
      return out;
    },
  };
}

/** Polls an execution until it leaves ACTIVE: from `pollMs` (default 2 s), 1.5x longer each time, at most 30 s. */
async function waitUntilDone(
  get: (execution: string) => Promise<WorkflowExecution>,
  execution: string,
  pollMs = 2000,
): Promise<WorkflowExecution> {
  for (let delay = pollMs; ; delay = Math.min(delay * 1.5, 30_000)) {
    const e = await get(execution);
    if (e.state !== "ACTIVE") return e;
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** The same port on the REST API: `executions` create, get, cancel and list (paged, `view=FULL`). */
function createRestWorkflows(options: GcpWorkflowsOptions): Workflows {
  const fromEnv = options.rest && options.endpoint ? undefined : restFromEnv();
  const rest = options.rest ?? (fromEnv as { rest: RestClient }).rest;
  const base = `${options.endpoint ?? fromEnv?.endpoints.workflows}/v1`;
  const parentOf = (workflow: string) =>
    `projects/${options.projectId}/locations/${options.region}/workflows/${workflow}`;
  const get = async (execution: string) => {
    const res = await rest.json<ApiExecution>({
      method: "GET",
      url: `${base}/${execution}`,
      what: `read workflow execution ${execution}`,
      idempotent: true,
      passStatuses: [404],
    });
    if (res.status === 404) throw new NotFoundError(`workflow execution ${execution}`);
    return fromApi(res.body);
  };
  return {
    async execute(workflow, argument, opts = {}) {
      const res = await rest.json<ApiExecution>({
        method: "POST",
        url: `${base}/${parentOf(workflow)}/executions`,
        what: `start an execution of workflow ${workflow}`,
        json: { argument: JSON.stringify(argument ?? null), labels: opts.labels ?? {} },
        // A repeat could start a second execution: a failure is the caller's to retry (Pub/Sub redelivery).
        idempotent: false,
      });
      return fromApi(res.body);
    },
    get,
    wait: (execution) => waitUntilDone(get, execution, options.pollMs),
    async cancel(execution) {
      await rest.call({
        method: "POST",
        url: `${base}/${execution}:cancel`,
        what: `cancel workflow execution ${execution}`,
        json: {},
        idempotent: true,
      });
    },
    async list(filter = {}) {
      const out: WorkflowExecution[] = [];
      let pageToken: string | undefined;
      do {
        const query = new URLSearchParams({ view: "FULL", pageSize: "100" });
        const f = listFilter(filter);
        if (f) query.set("filter", f);
        if (pageToken) query.set("pageToken", pageToken);
        const res = await rest.json<{ executions?: ApiExecution[]; nextPageToken?: string }>({
          method: "GET",
          url: `${base}/${parentOf(filter.workflow ?? "-")}/executions?${query}`,
          what: `list executions of workflow ${filter.workflow ?? "-"}`,
          idempotent: true,
        });
        for (const e of res.body.executions ?? []) out.push(fromApi(e));
        pageToken = res.body.nextPageToken;
      } while (pageToken);
      return out;
    },
  };
}
