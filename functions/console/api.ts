import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { ObjectStore } from "../../shared/adapters/ports.ts";
import { clearLedgerCache, consoleView } from "../../shared/console/cache.ts";
import {
  causemosRun,
  causemosTileSvg,
  causemosTimeseries,
  mozaggregatorDay,
  mozaicCharts,
  OUTPUT_PIPELINES,
  outputFile,
  succeededPartitions,
  taarRun,
} from "../../shared/console/outputs.ts";
import type { ExecutionRecords } from "../../shared/console/records.ts";
import {
  backfillDetail,
  backfillRows,
  overview,
  partitionPage,
  runTimeline,
} from "../../shared/console/runs.ts";
import { BackfillRequest, parseContract } from "../../shared/contracts/v1/index.ts";
import { parsePartition } from "../../shared/core/dates.ts";
import { httpStatus, NonRetriableError, RetryableError, reasonOf } from "../../shared/core/errors.ts";
import { runIdFor } from "../../shared/core/runid.ts";
import { acceptBackfill, planRequest } from "../../shared/ops/backfill.ts";
import { cancelBackfill, cancelRun } from "../../shared/ops/cancel.ts";
import { type OpsContext, workflowIdOf } from "../../shared/ops/context.ts";
import { TOPICS } from "../../shared/pipelines/platform.ts";

/**
 * The console's JSON API, as a pure function of a request: the same code answers the functions framework,
 * the tests and the bench. Every route reads the ledger through `shared/console` (one listing per pipeline)
 * or acts through `shared/ops`, exactly as `tessera status|backfill|cancel|run` do.
 */

export interface ApiRequest {
  method: string;
  /** Path after `/api`, e.g. `/status`. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  user: string;
}

export interface ApiResponse {
  status: number;
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface ConsoleDeps {
  ctx: OpsContext;
  /** The data bucket, where the pipelines publish their outputs. */
  data: ObjectStore;
  mode: "local" | "gcp";
  /** Step history, logs and job executions of workflow executions (the local twin). */
  records?: ExecutionRecords;
}

type Handler = (deps: ConsoleDeps, req: ApiRequest) => Promise<ApiResponse | unknown>;

const ok = (json: unknown): ApiResponse => ({ status: 200, json });

function need(query: Record<string, string>, name: string): string {
  const v = query[name];
  if (!v)
    throw new NonRetriableError(`query parameter ${name} is required`, {
      field: name,
      fix: `add ?${name}=...`,
    });
  return v;
}

function int(query: Record<string, string>, name: string): number | undefined {
  const v = query[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n))
    throw new NonRetriableError(`${name} must be an integer, got "${v}"`, { field: name });
  return n;
}

const RunBody = z.strictObject({
  pipeline: z.string(),
  partition: z.string().optional(),
  params: z.record(z.string(), z.unknown()).default({}),
  force: z.boolean().default(false),
});

const CancelBody = z.strictObject({
  backfillId: z.string().optional(),
  runId: z.string().optional(),
  reason: z.string().max(500).optional(),
});

const RerunBody = z.strictObject({ backfillId: z.string() });

/** A request id for a console-made backfill request; the plan shown and the one confirmed share it. */
export function consoleRequestId(now: Date): string {
  return `console-${now.toISOString().replace(/[-:.TZ]/g, "")}-${randomBytes(3).toString("hex")}`;
}

function backfillBody(body: unknown, now: Date): Record<string, unknown> {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw new NonRetriableError("the body must be a backfill request (JSON object)", {
      field: "body",
      fix: "send {pipeline, from, to, ...} as application/json",
    });
  const b = body as Record<string, unknown>;
  return { ...b, requestId: b.requestId ?? consoleRequestId(now) };
}

/** Start a backfill as the CLI does: in this process on the twin, by publishing the request deployed. */
async function startBackfill(deps: ConsoleDeps, data: Record<string, unknown>) {
  const request = parseContract(BackfillRequest, { ...data, dryRun: false }, "backfill request");
  if (deps.mode === "gcp") {
    const plan = await planRequest(deps.ctx, request);
    const message = await deps.ctx.messages.publish(TOPICS.backfillRequests, request);
    return { action: "published", backfillId: plan.backfillId, message, plan };
  }
  const outcome = await acceptBackfill(deps.ctx, request);
  return {
    action: outcome.action,
    backfillId: outcome.plan.backfillId,
    execution: outcome.action === "started" ? outcome.execution : undefined,
    plan: outcome.plan,
  };
}

const routes: Record<string, Handler> = {
  "GET /pipelines": async ({ ctx }) =>
    ctx.registry.list().map((def) => ({
      id: def.id,
      title: def.title,
      description: def.description,
      partitionKind: def.partition.kind,
      maxBackfill: def.partition.maxBackfill,
      latest: def.partition.latest?.(ctx.now()),
      defaultPartition: def.partition.fromTick?.(ctx.now()),
      schedules: def.schedules.map((s) => ({ name: s.name, cron: s.cron })),
      params: safeJsonSchema(def.params),
    })),

  "GET /overview": async ({ ctx }) => overview(ctx),

  "GET /partitions": async ({ ctx }, { query }) =>
    partitionPage(ctx, need(query, "pipeline"), {
      state: query.state || undefined,
      from: query.from || undefined,
      to: query.to || undefined,
      text: query.q || undefined,
      limit: int(query, "limit"),
      offset: int(query, "offset"),
    }),

  "GET /run": async (deps, { query }) => {
    const t = await runTimeline(deps.ctx, deps.records, need(query, "pipeline"), need(query, "partition"));
    return t ? ok(t) : { status: 404, json: { error: `${query.pipeline} ${query.partition} never ran` } };
  },

  "GET /task-log": async (deps, { query }) => {
    if (!deps.records) return { status: 404, json: { error: "task logs are read on the local twin only" } };
    const text = await deps.records.taskLog(
      need(query, "execution"),
      int(query, "task") ?? 0,
      int(query, "attempt") ?? 0,
    );
    return { status: 200, body: text, contentType: "text/plain; charset=utf-8" };
  },

  "GET /backfills": async ({ ctx }, { query }) =>
    backfillRows(ctx, {
      pipeline: query.pipeline,
      state: query.state,
      limit: int(query, "limit"),
    }),

  "GET /backfill": async ({ ctx }, { query }) => {
    const d = await backfillDetail(ctx, need(query, "id"));
    return d ? ok(d) : { status: 404, json: { error: `no backfill ${query.id}` } };
  },

  "POST /backfill/plan": async ({ ctx }, { body }) => {
    const data = backfillBody(body, ctx.now());
    return { requestId: data.requestId, plan: await planRequest(ctx, { ...data, dryRun: true }) };
  },

  "POST /backfill": async (deps, { body }) => startBackfill(deps, backfillBody(body, deps.ctx.now())),

  "POST /backfill/rerun-failed": async (deps, { body }) => {
    const { backfillId } = parseContract(RerunBody, body, "rerun request");
    const d = await backfillDetail(deps.ctx, backfillId);
    if (!d)
      throw new NonRetriableError(`no backfill ${backfillId}`, {
        field: "backfillId",
        fix: "pick one from the list",
      });
    const failed = d.partitions.filter((p) => p.state === "failed" || p.state === "cancelled");
    if (failed.length === 0)
      throw new NonRetriableError(`backfill ${backfillId} has no failed or cancelled partition`, {
        field: "backfillId",
      });
    const original = (d.request ?? {}) as Record<string, unknown>;
    return startBackfill(deps, {
      pipeline: d.pipeline,
      dates: failed.map((p) => p.partition),
      reprocess: "failed",
      maxConcurrent: original.maxConcurrent ?? 4,
      params: original.params ?? {},
      requestId: consoleRequestId(deps.ctx.now()),
    });
  },

  "POST /run": async ({ ctx }, { body }) => {
    const b = parseContract(RunBody, body, "run request");
    const def = ctx.registry.get(b.pipeline);
    const partition = b.partition
      ? parsePartition(def.partition.kind, b.partition, "partition")
      : def.partition.fromTick?.(ctx.now());
    if (!partition)
      throw new NonRetriableError(`${def.id} has no default partition`, {
        field: "partition",
        fix: "give one",
      });
    const params = parseContract(def.params, b.params, `params of ${def.id}`) as Record<string, unknown>;
    const runId = runIdFor(def.id, partition);
    const started = await ctx.workflows.execute(
      workflowIdOf(def),
      { partition, params, runId, force: b.force },
      { labels: { pipeline: def.id, run_id: runId, trigger: "console" } },
    );
    return { pipeline: def.id, partition, runId, execution: started.name, state: started.state };
  },

  "POST /cancel": async ({ ctx }, { body, user }) => {
    const b = parseContract(CancelBody, body, "cancel request");
    if (!b.backfillId === !b.runId)
      throw new NonRetriableError("give exactly one of backfillId or runId", { field: "backfillId" });
    const reason = b.reason || `cancelled from the console by ${user}`;
    return b.backfillId
      ? cancelBackfill(ctx, b.backfillId, reason)
      : cancelRun(ctx, b.runId as string, reason);
  },

  "GET /outputs": async ({ ctx }, { query }) => {
    if (query.kind && !OUTPUT_PIPELINES.includes(query.kind))
      throw new NonRetriableError(`kind "${query.kind}" has no outputs page`, {
        field: "kind",
        fix: `use one of ${OUTPUT_PIPELINES.join(", ")}`,
      });
    const kinds = query.kind ? [query.kind] : OUTPUT_PIPELINES;
    const lists = await Promise.all(kinds.map((p) => succeededPartitions(ctx.ledger, p)));
    return Object.fromEntries(kinds.map((p, i) => [p, lists[i]]));
  },
  "GET /outputs/mozaic-daily": async ({ data }, { query }) => mozaicCharts(data, need(query, "date")),
  "GET /outputs/causemos": async ({ data }, { query }) => causemosRun(data, need(query, "partition")),
  "GET /outputs/causemos/timeseries": async ({ data }, { query }) =>
    causemosTimeseries(data, need(query, "path")),
  "GET /outputs/causemos/tile": async ({ data }, { query }) => ({
    status: 200,
    body: await causemosTileSvg(data, need(query, "path"), query.stat || undefined),
    contentType: "image/svg+xml",
  }),
  "GET /outputs/taar": async ({ data }, { query }) => taarRun(data, need(query, "date")),
  "GET /outputs/mozaggregator": async ({ data }, { query }) => mozaggregatorDay(data, need(query, "date")),
  "GET /outputs/file": async ({ data }, { query }) => {
    const f = await outputFile(data, need(query, "path"));
    return { status: 200, body: f.body, contentType: f.contentType };
  },
};

function safeJsonSchema(schema: unknown): unknown {
  try {
    return z.toJSONSchema(schema as z.ZodType, { unrepresentable: "any" });
  } catch {
    return undefined;
  }
}

export const API_ROUTES = Object.keys(routes);

function isResponse(v: unknown): v is ApiResponse {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as ApiResponse).status === "number" &&
    ("json" in v || "body" in v)
  );
}

/** Answer one API request; errors become `{error, field, fix}` with the status their type implies. */
export async function handleApi(deps: ConsoleDeps, req: ApiRequest): Promise<ApiResponse> {
  const key = `${req.method} ${req.path.replace(/\/+$/, "") || "/"}`;
  const handle = routes[key];
  if (!handle) {
    const known = API_ROUTES.some((r) => r.endsWith(` ${req.path.replace(/\/+$/, "")}`));
    return {
      status: known ? 405 : 404,
      json: { error: known ? `${req.method} is not allowed on ${req.path}` : `no API route ${req.path}` },
    };
  }
  try {
    // An action changes the ledger: the next read must not reuse a listing from before it.
    if (req.method !== "GET") clearLedgerCache();
    const out = await handle({ ...deps, ctx: consoleView(deps.ctx) }, req);
    return isResponse(out) ? out : ok(out);
  } catch (err) {
    const e = err as { field?: string; fix?: string; retryAfterSeconds?: number; name?: string };
    let status = httpStatus(err);
    if (e.name === "NotFoundError") status = 404;
    const headers: Record<string, string> = {};
    if (err instanceof RetryableError && e.retryAfterSeconds !== undefined)
      headers["retry-after"] = String(e.retryAfterSeconds);
    if (status >= 500) deps.ctx.log.error(`console ${key} failed: ${reasonOf(err)}`);
    return { status, json: { error: reasonOf(err), field: e.field, fix: e.fix }, headers };
  }
}
