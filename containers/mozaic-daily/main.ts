/**
 * The mozaic-daily job entrypoint. Env:
 * - MOZAIC_STEP: extract | forecast | publish, set per job in the registry;
 * - MOZAIC_PARTITION: the forecast_start_date; MOZAIC_PARAMS: JSON (testingMode, forecastStartDate);
 * - CLOUD_RUN_TASK_INDEX/COUNT: the forecast job shards the data sources over its tasks;
 * - MOZAIC_POOL_SIZE: worker threads per task (default: the task's cores on GCP, cores / tasks locally, where
 *   the tasks share the machine); MOZAIC_SAMPLES: sample paths per tile (default 1000);
 * - MOZAIC_OPTIMIZER: auto | stan | exact | owlqn, the Prophet optimizer of every tile (default the engine's);
 * - TESSERA_MODE and the bucket settings (adapters.ts).
 * Exit 0 on success; on failure the error (with its field and fix) goes to stderr and the exit code is 2 for
 * bad input (never worth retrying) and 1 otherwise.
 */
import { NonRetriableError } from "../../shared/core/errors.ts";
import { createLogger } from "../../shared/core/log.ts";
import type { ProphetOptions } from "../forecast/index.ts";
import { openJobAdapters } from "./adapters.ts";
import { extractStep, forecastStep, publishStep, type RunParams } from "./run.ts";

const env = process.env;
if (process.argv.includes("--help")) {
  process.stdout.write(
    "Usage: node index.js   (the mozaic-daily Cloud Run job; configured by its environment)\n" +
      "  MOZAIC_STEP       extract | forecast | publish (set per job by the registry)\n" +
      "  MOZAIC_PARTITION  the forecast start date, YYYY-MM-DD\n" +
      "  MOZAIC_PARAMS     JSON: testingMode, forecastStartDate\n" +
      "  MOZAIC_POOL_SIZE, MOZAIC_SAMPLES, MOZAIC_OPTIMIZER (auto | stan | exact | owlqn)\n" +
      "  CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT, TESSERA_MODE (local | gcp) and the bucket settings\n" +
      "Exit 0 on success, 2 for bad input (not retried), 1 otherwise.\n",
  );
  process.exit(0);
}
const log = createLogger({ labels: { component: "mozaic-daily", step: env.MOZAIC_STEP ?? "?" } });
const partition = env.MOZAIC_PARTITION ?? "";
let code = 0;
const adapters = await openJobAdapters(env, log);
try {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(partition))
    throw new NonRetriableError(`MOZAIC_PARTITION "${partition}" is not a YYYY-MM-DD date`, {
      field: "MOZAIC_PARTITION",
    });
  const params = JSON.parse(env.MOZAIC_PARAMS || "{}") as RunParams;
  const store = adapters.objects.bucket(adapters.dataBucket);
  switch (env.MOZAIC_STEP) {
    case "extract":
      await extractStep({ warehouse: adapters.warehouse, store, partition, params, now: new Date(), log });
      break;
    case "forecast": {
      const optimizer = env.MOZAIC_OPTIMIZER || undefined;
      if (optimizer && !["auto", "stan", "exact", "owlqn"].includes(optimizer))
        throw new NonRetriableError(`MOZAIC_OPTIMIZER "${optimizer}" is not auto, stan, exact or owlqn`, {
          field: "MOZAIC_OPTIMIZER",
          fix: "leave it unset for the engine's default",
        });
      await forecastStep({
        store,
        partition,
        taskIndex: Number(env.CLOUD_RUN_TASK_INDEX ?? 0),
        taskCount: Number(env.CLOUD_RUN_TASK_COUNT ?? 1),
        poolSize: env.MOZAIC_POOL_SIZE ? Number(env.MOZAIC_POOL_SIZE) : undefined,
        sharedCores: (env.TESSERA_MODE ?? "local") === "local",
        samples: env.MOZAIC_SAMPLES ? Number(env.MOZAIC_SAMPLES) : undefined,
        optimizer: optimizer as ProphetOptions["optimizer"],
        log,
      });
      break;
    }
    case "publish":
      await publishStep({ warehouse: adapters.warehouse, store, partition, log });
      break;
    default:
      throw new NonRetriableError(`MOZAIC_STEP "${env.MOZAIC_STEP}" is not extract, forecast or publish`, {
        field: "MOZAIC_STEP",
      });
  }
} catch (err) {
  const e = err as NonRetriableError;
  log.error(`mozaic-daily ${env.MOZAIC_STEP} failed: ${e.message}`, { field: e.field, fix: e.fix });
  const tag = err instanceof NonRetriableError ? "NonRetriableError " : "";
  console.error(`${tag}${e.name}: ${e.message}${e.fix ? ` (fix: ${e.fix})` : ""}`);
  code = err instanceof NonRetriableError ? 2 : 1;
} finally {
  await adapters.close();
}
process.exit(code);
