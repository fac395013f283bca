import * as ff from "@google-cloud/functions-framework";
import { messageJson } from "../../shared/adapters/pubsub-envelope.ts";
import { dispatchTick } from "../../shared/ops/dispatch.ts";
import { pubsubFunction } from "../../shared/ops/handlers.ts";
import { prewarmDeployed } from "../../shared/ops/prewarm.ts";
import "../../shared/runtime/deployed.ts";

// Deployed: the token and the operations context are under way before the first request.
prewarmDeployed();

/** Schedule tick (from Cloud Scheduler via Pub/Sub) -> one Workflows execution of the pipeline. */
export const dispatch = pubsubFunction("dispatch", (ctx, message) =>
  dispatchTick(ctx, messageJson(message), message.id),
);

ff.cloudEvent("dispatch", dispatch);
