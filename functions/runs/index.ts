import * as ff from "@google-cloud/functions-framework";
import { finishBackfill } from "../../shared/ops/backfill.ts";
import { jsonFunction } from "../../shared/ops/handlers.ts";
import { prewarmDeployed } from "../../shared/ops/prewarm.ts";
import { claimRun, finishRun } from "../../shared/ops/runs.ts";
import "../../shared/runtime/deployed.ts";

// Deployed: the token and the operations context are under way before the first request.
prewarmDeployed();

/**
 * The run ledger for workflows (called with OIDC from Workflows): `POST /claim` first, `POST /finish` last;
 * the backfill driver posts its summary to `POST /backfill-end` when it ends.
 */
export const runs = jsonFunction({ claim: claimRun, finish: finishRun, "backfill-end": finishBackfill });

ff.http("runs", runs);
