import * as ff from "@google-cloud/functions-framework";
import { jsonFunction } from "../../shared/ops/handlers.ts";
import { claimRun, finishRun } from "../../shared/ops/runs.ts";
import "../../shared/runtime/deployed.ts";

/** The run ledger for workflows: `POST /claim` first, `POST /finish` last (called with OIDC from Workflows). */
export const runs = jsonFunction({ claim: claimRun, finish: finishRun });

ff.http("runs", runs);
