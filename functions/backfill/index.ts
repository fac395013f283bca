import * as ff from "@google-cloud/functions-framework";
import { messageJson } from "../../shared/adapters/pubsub-envelope.ts";
import { acceptBackfill } from "../../shared/ops/backfill.ts";
import { pubsubFunction } from "../../shared/ops/handlers.ts";
import { prewarmDeployed } from "../../shared/ops/prewarm.ts";
import "../../shared/runtime/deployed.ts";

// Deployed: the token and the operations context are under way before the first request.
prewarmDeployed();

/** Backfill request v1 (Pub/Sub) -> a recorded plan and one backfill driver execution. */
export const backfill = pubsubFunction("backfill", (ctx, message) =>
  acceptBackfill(ctx, messageJson(message)),
);

ff.cloudEvent("backfill", backfill);
