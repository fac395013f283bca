import { ExecutionsClient } from "@google-cloud/workflows";
import type { ExecutionState, WorkflowExecution, Workflows } from "../ports.ts";

/**
 * The workflows port on the Workflows Executions API. Arguments and results cross the API as JSON strings
 * (`Execution.argument`, `Execution.result`); this adapter parses them so callers see values.
 */
export interface GcpWorkflowsOptions {
  projectId: string;
  region: string;
  /** Poll interval of `wait`, milliseconds. */
  pollMs?: number;
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
  startTime?: { seconds?: unknown; nanos?: number | null } | null;
  endTime?: { seconds?: unknown; nanos?: number | null } | null;
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
  const client = options.client ?? new ExecutionsClient();
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
    async wait(execution) {
      for (let delay = options.pollMs ?? 2000; ; delay = Math.min(delay * 1.5, 30_000)) {
        const e = await get(execution);
        if (e.state !== "ACTIVE") return e;
        await new Promise((r) => setTimeout(r, delay));
      }
    },
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
