import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import type { ObjectStore, Objects } from "../../shared/adapters/ports.ts";
import { JobArgsBase, parseContract, parseJson } from "../../shared/contracts/v1/index.ts";
import { integer, oneOf, parseConfig, setting, text } from "../../shared/core/config.ts";
import { exitCode, NonRetriableError, reasonOf } from "../../shared/core/errors.ts";
import { createLogger, type Logger } from "../../shared/core/log.ts";
import { CausemosParams } from "./params.ts";
import { mergeResults, type RunResults, type RunSummary, run, shardResultsName } from "./pipeline.ts";
import { threadedWriter } from "./threaded-writer.ts";
import { type OutputWriter, objectStoreWriter } from "./writer.ts";

/**
 * The causemos job entrypoint (one Cloud Run Job, two steps):
 *
 * - `run`: read the Dojo files, write every output of this task's features (features sorted by name, dealt
 *   round-robin over `CLOUD_RUN_TASK_INDEX`/`CLOUD_RUN_TASK_COUNT`). With one task it also writes results.json;
 *   with several, each task writes `results/shards/<index>-of-<count>.json` instead.
 * - `merge`: after all tasks succeeded, combine the shard files into results.json (sums of the counters,
 *   union of features, the summary rows of every feature).
 *
 * Arguments: JSON in `TESSERA_JOB_ARGS` or `--args '<json>'`: v1 JobArgsBase (partition = `model_id/run_id`)
 * with `params` = the original flow's parameters. Outputs go to `indicator_bucket` or `model_bucket` (as the
 * original chooses) through the objects port: Cloud Storage when `TESSERA_MODE=gcp`, the local directory tree
 * under `TESSERA_STATE_DIR/objects` otherwise. `data_paths` may be local paths, file:// or gs:// URIs (gs://
 * objects are staged to a temp directory first). Exit 0 on success, 3 on bad input, 1 on anything retryable;
 * the result is one JSON line on stdout.
 */

export const CausemosJobArgs = JobArgsBase.extend({
  step: z.enum(["run", "merge"]).default("run"),
  params: CausemosParams,
});
export type CausemosJobArgs = z.infer<typeof CausemosJobArgs>;

const ENV = {
  mode: setting("TESSERA_MODE", { default: "local", parse: oneOf(["local", "gcp"] as const) }),
  stateDir: setting("TESSERA_STATE_DIR", { default: ".tessera", parse: text }),
  project: setting("GOOGLE_CLOUD_PROJECT", { optional: true, parse: text }),
  taskIndex: setting("CLOUD_RUN_TASK_INDEX", { default: "0", parse: integer(0, 9999) }),
  taskCount: setting("CLOUD_RUN_TASK_COUNT", { default: "1", parse: integer(1, 10000) }),
};

export function readJobArgs(argv: string[], env: Record<string, string | undefined>): CausemosJobArgs {
  const i = argv.indexOf("--args");
  const raw = i >= 0 ? argv[i + 1] : env.TESSERA_JOB_ARGS;
  if (raw === undefined) {
    throw new NonRetriableError("no job arguments: set TESSERA_JOB_ARGS or pass --args '<json>'", {
      field: "TESSERA_JOB_ARGS",
      fix: 'pass {"pipeline":"causemos","partition":"<model_id>/<run_id>","runId":"...","params":{"model_id":...,"run_id":...,"data_paths":[...]}}',
    });
  }
  const args = parseContract(CausemosJobArgs, parseJson(raw, "job arguments"), "causemos job arguments");
  const expected = `${args.params.model_id}/${args.params.run_id}`;
  if (args.partition !== expected) {
    throw new NonRetriableError(
      `causemos job arguments: partition "${args.partition}" is not model_id/run_id "${expected}"`,
      {
        field: "partition",
        fix: "the partition of a causemos run is <model_id>/<run_id>",
      },
    );
  }
  return args;
}

/** The bucket the original writes to: indicator_bucket for indicators, model_bucket otherwise. */
export function outputBucket(params: CausemosParams): string {
  const bucket = params.is_indicator ? params.indicator_bucket : params.model_bucket;
  if (!bucket) {
    const field = params.is_indicator ? "indicator_bucket" : "model_bucket";
    throw new NonRetriableError(`causemos job arguments: params.${field} is required`, {
      field: `params.${field}`,
      fix: `name the bucket for the outputs`,
    });
  }
  return bucket;
}

/** Local paths for DuckDB: file:// URIs become paths, gs:// objects are downloaded to `stage`. */
export async function stageInputs(
  paths: readonly string[],
  objects: Objects,
  stage: string,
): Promise<string[]> {
  const out: string[] = [];
  for (const [k, p] of paths.entries()) {
    if (p.startsWith("file://")) out.push(fileURLToPath(p));
    else if (p.startsWith("gs://")) {
      const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(p);
      if (!m)
        throw new NonRetriableError(`data_paths[${k}]: "${p}" is not gs://bucket/object`, {
          field: `params.data_paths.${k}`,
        });
      const local = join(stage, `${k}-${basename(m[2])}`);
      await writeFile(local, await objects.bucket(m[1]).get(m[2]));
      out.push(local);
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) {
      throw new NonRetriableError(`data_paths[${k}]: scheme of "${p}" is not supported`, {
        field: `params.data_paths.${k}`,
        fix: "use local paths, file:// or gs:// URIs",
      });
    } else out.push(resolve(p));
  }
  return out;
}

export async function runStep(
  args: CausemosJobArgs,
  objects: Objects,
  shard: { index: number; count: number },
  log: Logger,
  writerFor?: (bucket: string) => OutputWriter,
): Promise<RunSummary | { merged: RunResults; recordedResults: boolean }> {
  const params = args.params;
  const store = objects.bucket(outputBucket(params));
  if (args.step === "merge") return merge(params, store, shard.count);
  const stage = await mkdtemp(join(tmpdir(), "causemos-"));
  try {
    const local = await stageInputs(params.data_paths, objects, stage);
    const writer = writerFor ? writerFor(outputBucket(params)) : objectStoreWriter(store);
    return await run({ ...params, data_paths: local }, writer, { shard, logger: log });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function merge(params: CausemosParams, store: ObjectStore, count: number) {
  const parts: { allSelected: boolean; results: RunResults }[] = [];
  for (let index = 0; index < count; index++) {
    const name = shardResultsName(params, { index, count });
    if (!(await store.exists(name))) {
      throw new NonRetriableError(`shard ${index} of ${count} has no results (${name})`, {
        field: "CLOUD_RUN_TASK_COUNT",
        fix: "run the merge step with the run step's task count, after every run task succeeded",
      });
    }
    parts.push(JSON.parse((await store.get(name)).toString()));
  }
  const merged = mergeResults(parts.map((p) => p.results));
  const recordedResults = parts.every((p) => p.allSelected);
  if (recordedResults)
    await store.put(`${params.model_id}/${params.run_id}/results/results.json`, JSON.stringify(merged));
  return { merged, recordedResults };
}

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const log = createLogger({ labels: { pipeline: "causemos" } });
  try {
    const args = readJobArgs(argv, env);
    const config = parseConfig(ENV, env);
    const root = join(config.stateDir, "objects");
    const objects =
      config.mode === "gcp"
        ? // Loaded on use: the Cloud Storage client costs a local run's start-up ~0.3 CPU-s.
          (await import("../../shared/adapters/gcp/objects.ts")).createGcpObjects({
            projectId: config.project,
          })
        : createLocalObjects({ root });
    // Outputs are put from a writer thread through the same adapter, overlapping the computing.
    const writerFor = (bucket: string) =>
      threadedWriter(
        config.mode === "gcp"
          ? { kind: "gcs", projectId: config.project, bucket }
          : { kind: "local", root, bucket },
      );
    // The merge step runs as one task over the run step's shard count (passed as CLOUD_RUN_TASK_COUNT).
    const shard = { index: config.taskIndex, count: config.taskCount };
    const result = await runStep(
      args,
      objects,
      args.step === "merge" ? { index: 0, count: config.taskCount } : shard,
      log.child({ partition: args.partition, runId: args.runId }),
      writerFor,
    );
    process.stdout.write(`${JSON.stringify({ step: args.step, shard, ...summaryOf(result) })}\n`);
    return 0;
  } catch (err) {
    log.error(reasonOf(err));
    return exitCode(err);
  }
}

function summaryOf(result: RunSummary | { merged: RunResults; recordedResults: boolean }) {
  if ("merged" in result)
    return { recordedResults: result.recordedResults, features: result.merged.data_info.features };
  const usage = process.resourceUsage();
  return {
    rows: result.results.data_info.num_rows,
    files: result.files,
    bytes: result.bytes,
    tiles: result.tiles,
    bins: result.bins,
    recordedResults: result.recordedResults,
    timings: result.timings,
    cpuTimings: result.cpuTimings,
    // The whole process so far (every thread, start-up included): CPU seconds, peak RSS, minor page faults.
    usage: {
      cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
      userSeconds: usage.userCPUTime / 1e6,
      systemSeconds: usage.systemCPUTime / 1e6,
      maxRssMb: Math.round(usage.maxRSS / 1024),
      minorFaults: usage.minorPageFault,
    },
  };
}

// Run only as `main.ts` itself: bundled (scripts/build.ts), this module shares `index.js` with job.ts, the
// deployed entrypoint, and the URL check alone would start a second, concurrent run of the whole job.
if (
  import.meta.url === pathToFileURL(process.argv[1] ?? "").href &&
  basename(process.argv[1] ?? "") === "main.ts"
) {
  main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
