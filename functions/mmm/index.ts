import type { Request, Response } from "@google-cloud/functions-framework";
import * as ff from "@google-cloud/functions-framework";
import {
  type ApiDeps,
  advanceOnRunEnd,
  envelope,
  localStateDirOf,
  metadata,
  NotFound,
  status,
  train,
} from "../../containers/mmm/api.ts";
import { messageJson } from "../../shared/adapters/pubsub-envelope.ts";
import { currentContext, pubsubFunction } from "../../shared/ops/handlers.ts";
import { prewarmDeployed } from "../../shared/ops/prewarm.ts";
import { TOPICS } from "../../shared/pipelines/platform.ts";
import { loadRuntimeConfig } from "../../shared/runtime/config.ts";
import "../../shared/runtime/deployed.ts";

// Deployed: the token and the operations context are under way before the first request.
prewarmDeployed();

/**
 * `mmm-api` (HTTP; IAM-authenticated on GCP, loopback locally), the original app's API:
 *   ?api=train     (GET query or POST JSON body: the job config) -> {job_id, state, queue, config}
 *   ?api=status&job_id=ID                                       -> status.json state, step, progress, execution
 *   ?api=metadata&country=CC[&version=latest]                   -> mapping and latest model_summary
 * Every answer is `{status: "success"|"error", timestamp, data, message}`; 400 for bad input (the message names
 * the field), 404 for an unknown run or country. Runs start as schedule ticks `{pipeline: "mmm", partition: id}`.
 */

let override: ApiDeps | undefined;
const made = new WeakMap<object, Promise<ApiDeps>>();

/** The twin and tests give the data bucket and the starter; deployed, they come from the environment. */
export function setMmmApiDeps(deps: ApiDeps | undefined): void {
  override = deps;
}

/** The API's dependencies (also the workbench's, which queues through the same queue). */
export async function mmmApiDeps(): Promise<ApiDeps> {
  if (override) return override;
  // One set per context: a process hosts one deployed function, or (tests) one twin after another.
  const ctx = await currentContext();
  let ready = made.get(ctx);
  if (ready) return ready;
  ready = (async () => {
    const config = loadRuntimeConfig(process.env);
    const objects =
      config.mode === "gcp"
        ? (
            await (
              await import("../../shared/adapters/gcp/index.ts")
            ).createGcpAdapters({ projectId: config.project as string, region: config.region })
          ).objects
        : (await import("../../shared/adapters/local/objects.ts")).createLocalObjects({
            // Hosted by a twin: its state directory, not necessarily TESSERA_STATE_DIR's.
            root: `${localStateDirOf(ctx.state) ?? config.stateDir}/objects`,
          });
    return {
      store: objects.bucket(config.dataBucket),
      start: async (runId, cfg) => {
        await ctx.messages.publish(TOPICS.scheduleTicks, { pipeline: "mmm", partition: runId, params: cfg });
      },
      executionState: async (runId) => (await ctx.ledger.partitionState("mmm", runId))?.state,
    };
  })();
  made.set(ctx, ready);
  return ready;
}

function numbers(q: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(q)) out[k] = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  return out;
}

export async function mmmApi(req: Request, res: Response): Promise<void> {
  const now = new Date();
  const query = (req.query ?? {}) as Record<string, string>;
  const body = (req.body && typeof req.body === "object" ? req.body : {}) as Record<string, unknown>;
  const api = String(query.api ?? body.api ?? (req.path ?? "").replace(/^\/+|\/+$/g, ""));
  try {
    const d = await mmmApiDeps();
    if (api === "train") {
      const { api: _a, ...fromQuery } = numbers(query);
      const { api: _b, ...fromBody } = body;
      // The original's defaults for an API job: iterations 2000, trials 5, revision "api-test".
      const data = await train(d, { ...fromQuery, ...fromBody });
      res.status(202).json(envelope(data, `run ${data.job_id} ${data.state.toLowerCase()}`, now));
    } else if (api === "status") {
      const data = await status(d, String(query.job_id ?? body.job_id ?? ""));
      res.status(200).json(envelope(data, data.message ?? data.state, now));
    } else if (api === "metadata") {
      const data = await metadata(
        d,
        String(query.country ?? body.country ?? ""),
        String(query.version ?? body.version ?? "latest"),
      );
      res.status(200).json(envelope(data, `latest model for ${data.country}`, now));
    } else {
      res.status(404).json(envelope(null, "api must be train, status or metadata", now, false));
    }
  } catch (err) {
    const e = err as Error & { field?: string; fix?: string };
    const code = err instanceof NotFound ? 404 : e.field ? 400 : 500;
    res.status(code).json({ ...envelope(null, e.message, now, false), field: e.field, fix: e.fix });
  }
}

ff.http("mmmApi", mmmApi);

/**
 * `mmm-queue` (run events topic): when an mmm run ends (succeeded, failed, cancelled), the queue it came from
 * starts its next run, as the original's scheduler tick did but without waiting for the tick or an API call.
 */
export const mmmQueue = pubsubFunction("mmm-queue", async (_ctx, message) => {
  const started = await advanceOnRunEnd(
    await mmmApiDeps(),
    messageJson(message) as { type?: string; pipeline?: string; partition?: string },
  );
  return started;
});

ff.cloudEvent("mmmQueue", mmmQueue);
