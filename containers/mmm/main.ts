/**
 * The mmm job entrypoint (one image, the step from MMM_STEP set per job in the registry):
 *   prepare | trials | merge | report | fail
 * Env: MMM_RUN_ID (the run id, the pipeline's key partition), MMM_PARAMS (the run's job config, JSON),
 * CLOUD_RUN_TASK_INDEX (trials: the task's trial), MMM_FAILED_STEP / MMM_ERROR (fail), TESSERA_MODE and the
 * bucket settings. Exit 0 on success; 2 for bad input (never worth retrying), 1 otherwise.
 */
import type { Secrets } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { createLogger } from "../../shared/core/log.ts";
import { openJobAdapters } from "../mozaic-daily/adapters.ts";
import { failStep, mergeStep, prepareStep, reportStep, trialStep } from "./run.ts";

const env = process.env;
if (process.argv.includes("--help")) {
  process.stdout.write(
    "Usage: node index.js   (the mmm Cloud Run job; configured by its environment)\n" +
      "  MMM_STEP       prepare | trials | merge | report | fail (set per job by the registry)\n" +
      "  MMM_RUN_ID     the run id (the pipeline's partition)\n" +
      "  MMM_PARAMS     the run's job config, JSON\n" +
      "  CLOUD_RUN_TASK_INDEX  trials: the task's trial; MMM_FAILED_STEP, MMM_ERROR: fail\n" +
      "  TESSERA_MODE (local | gcp) and the bucket settings\n" +
      "Exit 0 on success, 2 for bad input (not retried), 1 otherwise.\n",
  );
  process.exit(0);
}
const step = env.MMM_STEP ?? "?";
const log = createLogger({ labels: { component: "mmm", step } });
const runId = env.MMM_RUN_ID ?? "";
let code = 0;
const adapters = await openJobAdapters(env, log);
try {
  if (!runId) throw new NonRetriableError("MMM_RUN_ID is not set", { field: "MMM_RUN_ID" });
  const params = JSON.parse(env.MMM_PARAMS || "{}") as unknown;
  const store = adapters.objects.bucket(adapters.dataBucket);
  const c = { store, runId, log };
  switch (step) {
    case "prepare": {
      const secrets =
        (params as { source?: { kind?: string } }).source?.kind === "snowflake"
          ? await openSecrets()
          : undefined;
      await prepareStep({ ...c, params, warehouse: adapters.warehouse, secrets, env });
      break;
    }
    case "trials":
      await trialStep({ ...c, taskIndex: Number(env.CLOUD_RUN_TASK_INDEX ?? 0) });
      break;
    case "merge":
      await mergeStep(c);
      break;
    case "report":
      await reportStep(c);
      break;
    case "fail":
      await failStep({ ...c, step: env.MMM_FAILED_STEP ?? "unknown", message: env.MMM_ERROR ?? "", params });
      break;
    default:
      throw new NonRetriableError(`MMM_STEP "${step}" is not prepare, trials, merge, report or fail`, {
        field: "MMM_STEP",
      });
  }
} catch (err) {
  const e = err as NonRetriableError;
  log.error(`mmm ${step} failed: ${e.message}`, { field: e.field, fix: e.fix });
  const tag = err instanceof NonRetriableError ? "NonRetriableError " : "";
  console.error(`${tag}${e.name}: ${e.message}${e.fix ? ` (fix: ${e.fix})` : ""}`);
  code = err instanceof NonRetriableError ? 2 : 1;
} finally {
  await adapters.close();
}
process.exit(code);

async function openSecrets(): Promise<Secrets> {
  if (env.TESSERA_MODE === "gcp") {
    const { createGcpAdapters } = await import("../../shared/adapters/gcp/index.ts");
    const { loadRuntimeConfig } = await import("../../shared/runtime/config.ts");
    const config = loadRuntimeConfig(env);
    return (await createGcpAdapters({ projectId: config.project as string, region: config.region, log }))
      .secrets;
  }
  const { createLocalSecrets } = await import("../../shared/adapters/local/secrets.ts");
  return createLocalSecrets({ env });
}
