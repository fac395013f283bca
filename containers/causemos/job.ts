import { pathToFileURL } from "node:url";
import { EXIT_NON_RETRIABLE } from "../../shared/core/errors.ts";
import { main } from "./main.ts";

/**
 * The platform's entrypoint for the `causemos-run` and `causemos-merge` Cloud Run jobs: completes the workflow's
 * job arguments from the partition and the data bucket, then runs `main.ts` unchanged.
 *
 * - `params.model_id` / `params.run_id` default to the two halves of the partition `model_id/run_id`.
 * - `params.data_paths` defaults to `gs://<TESSERA_DATA_BUCKET>/causemos/dojo/<model_id>/<run_id>/output.parquet`
 *   (where `local.seed` puts the demo model).
 * - `params.model_bucket` / `params.indicator_bucket` default to the data bucket.
 * - `params.run_tasks` (the workflow's task count, not a flow parameter) is dropped.
 * - The merge step reads the run step's task count from `CAUSEMOS_RUN_TASKS` (Cloud Run sets
 *   `CLOUD_RUN_TASK_COUNT` itself, to the merge job's own count of 1).
 *
 * A bad-input failure (exit 3) also prints `NonRetriableError` on stderr so the workflow does not retry it.
 */

import { DOJO_PREFIX } from "./params.ts";

export { DOJO_PREFIX };

export function defaultDataPath(dataBucket: string, partition: string): string {
  return `gs://${dataBucket}/${DOJO_PREFIX}${partition}/output.parquet`;
}

/** The job arguments with the platform's defaults filled in; anything unparseable is passed on for main to reject. */
export function completeJobArgs(raw: string, env: Record<string, string | undefined>): string {
  let args: unknown;
  try {
    args = JSON.parse(raw);
  } catch {
    return raw;
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) return raw;
  const a = args as Record<string, unknown>;
  const partition = typeof a.partition === "string" ? a.partition : undefined;
  const given = a.params;
  const params: Record<string, unknown> =
    typeof given === "object" && given !== null && !Array.isArray(given) ? { ...given } : {};
  delete params.run_tasks;
  if (partition) {
    const cut = partition.indexOf("/");
    if (cut > 0) {
      params.model_id ??= partition.slice(0, cut);
      params.run_id ??= partition.slice(cut + 1);
    }
  }
  const dataBucket = env.TESSERA_DATA_BUCKET;
  if (dataBucket) {
    if (partition) params.data_paths ??= [defaultDataPath(dataBucket, partition)];
    params.model_bucket ??= dataBucket;
    params.indicator_bucket ??= dataBucket;
  }
  return JSON.stringify({ ...a, params });
}

export async function runJob(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  if (argv.includes("--help")) {
    process.stdout.write(
      "Usage: node index.js [--args JSON]   (the causemos-run and causemos-merge Cloud Run jobs)\n" +
        "  --args JSON or TESSERA_JOB_ARGS: {pipeline, partition: <model_id>/<run_id>, runId, step, params}\n" +
        "  params default from the partition and TESSERA_DATA_BUCKET (model_id, run_id, data_paths, buckets)\n" +
        "  CAUSEMOS_RUN_TASKS: the run step's task count (merge); TESSERA_MODE (local | gcp)\n" +
        "Exit 0 on success, 3 for bad input (not retried), 1 otherwise.\n",
    );
    return 0;
  }
  const i = argv.indexOf("--args");
  const raw = i >= 0 ? argv[i + 1] : env.TESSERA_JOB_ARGS;
  const jobEnv = { ...env };
  let rest = argv;
  if (raw !== undefined) {
    const completed = completeJobArgs(raw, env);
    rest = i >= 0 ? [...argv.slice(0, i), ...argv.slice(i + 2)] : argv;
    rest = [...rest, "--args", completed];
    const step = (() => {
      try {
        return (JSON.parse(completed) as { step?: unknown }).step;
      } catch {
        return undefined;
      }
    })();
    if (step === "merge" && env.CAUSEMOS_RUN_TASKS) jobEnv.CLOUD_RUN_TASK_COUNT = env.CAUSEMOS_RUN_TASKS;
  }
  const code = await main(rest, jobEnv);
  if (code === EXIT_NON_RETRIABLE)
    process.stderr.write("causemos: NonRetriableError (bad input, not retried)\n");
  return code;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runJob(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
