import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { causemosParamsObject, DOJO_PREFIX } from "../../containers/causemos/params.ts";
import { MALLOC_TUNABLES, RUN_NODE_FLAGS } from "../../containers/causemos/runtime.ts";
import { formatDay } from "../core/dates.ts";
import {
  definePipeline,
  type JobDefinition,
  type LocalSeedContext,
  type PipelineDefinition,
} from "./types.ts";

/**
 * causemos: Dojo model output to Causemos aggregates and map tiles (README "causemos"). Key-partitioned:
 * the partition is `model_id/run_id`. Runs are requested ad hoc (`tessera run causemos --partition m/r`) or by
 * a Pub/Sub tick `{pipeline: "causemos", partition: "m/r", params}` when Dojo publishes a run; a tick without a
 * partition (as `npm start` publishes) runs the seeded demo model `demo-model/<YYYYMMDD>`.
 *
 * Params are the original flow's; `model_id`, `run_id`, `data_paths` and the buckets may be left out: the job
 * (`containers/causemos/job.ts`) takes them from the partition, `causemos/dojo/<partition>/output.parquet` in
 * the data bucket, and the data bucket. `run_tasks` (not the original's) is the run step's task count. Outputs keep the original layout, `<model_id>/<run_id>/...` at the root
 * of `model_bucket` (or `indicator_bucket`), because Causemos reads them there.
 */

// Built on first use, as CausemosParams: a cold start of a function that never parses them does not build them.
const buildRunParams = () => {
  const base = causemosParamsObject();
  return base.extend({
    model_id: base.shape.model_id.optional(),
    run_id: base.shape.run_id.optional(),
    data_paths: base.shape.data_paths.optional(),
    /** Tasks of the `run` step (features dealt round-robin); with more than one, the `merge` step writes results.json. */
    run_tasks: z.number().int().min(1).max(100).default(1),
  });
};
let runParams: ReturnType<typeof buildRunParams> | undefined;
export const CausemosRunParams = z.lazy(() => (runParams ??= buildRunParams()));

const job = (name: string, o: Partial<JobDefinition> = {}): JobDefinition => ({
  name,
  entrypoint: "containers/causemos/entry.ts",
  image: "causemos",
  cpu: "2",
  memory: "2Gi",
  taskCount: 1,
  parallelism: 1,
  timeoutSeconds: 3600,
  // The workflow retries transient failures itself.
  maxRetries: 0,
  ...o,
});

export const demoPartition = (now: Date) => `demo-model/${formatDay(now).replaceAll("-", "")}`;

async function seed(ctx: LocalSeedContext): Promise<void> {
  const partition = demoPartition(ctx.now);
  const dir = await mkdtemp(join(tmpdir(), "causemos-seed-"));
  try {
    const { generate, writeParquet } = await import("../../containers/causemos/generator.ts");
    const frame = generate({
      points: 60,
      days: 30,
      seed: 11,
      qualifiers: [{ name: "scenario", values: 3 }],
      fanOut: [2, 3, 2, 2],
    });
    const file = join(dir, "output.parquet");
    await writeParquet(frame, file);
    const name = `${DOJO_PREFIX}${partition}/output.parquet`;
    await ctx.adapters.objects.bucket(ctx.buckets.data).put(name, await readFile(file));
    ctx.log.info(`causemos: seeded a Dojo model at gs://${ctx.buckets.data}/${name}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function describe(ctx: LocalSeedContext, partition: string): Promise<string> {
  const store = ctx.adapters.objects.bucket(ctx.buckets.data);
  const names = (await store.list(`${partition}/`)).map((o) => o.name);
  const where = `${ctx.buckets.data}/${partition}/`;
  if (names.length === 0) return `  no outputs under ${where}`;
  const { outputTreeSummary, previewTile } = await import("../../containers/causemos/preview.ts");
  const tree = outputTreeSummary(names);
  const lines = [`  outputs under ${where} (${names.length} files):`];
  for (const [k, n] of Object.entries(tree)) lines.push(`    ${k}: ${n}`);
  const results = `${partition}/results/results.json`;
  if (names.includes(results)) lines.push(`  results: ${store.uri(results)}`);
  const tile =
    names.find((n) => /\/month\/[^/]+\/tiles\/\d+-4-\d+-\d+\.tile$/.test(n)) ??
    names.find((n) => n.endsWith(".tile"));
  if (tile) {
    const svg = join(ctx.stateDir, "causemos-tile.svg");
    await writeFile(svg, previewTile(await store.get(tile), { title: tile.split("/").slice(-4).join("/") }));
    lines.push(`  tile preview: ${svg} (${tile})`);
  }
  return lines.join("\n");
}

export const causemos: PipelineDefinition<typeof CausemosRunParams> = definePipeline({
  id: "causemos",
  title: "Causemos model outputs",
  description:
    "Dojo model run Parquet files to Causemos raw lists, timeseries, regional stats and aggregations, grid stats, protobuf map tiles and results.json.",
  partition: { kind: "key", fromTick: demoPartition },
  schedules: [],
  workflow: "causemos.workflows.yaml",
  jobs: [
    // glibc keeps freed memory and uses huge pages: half the read step's CPU (containers/causemos/runtime.ts).
    job("run", { env: { GLIBC_TUNABLES: MALLOC_TUNABLES }, nodeFlags: RUN_NODE_FLAGS }),
    job("merge", { cpu: "1", memory: "1Gi", timeoutSeconds: 600 }),
  ],
  functions: [],
  topics: [],
  tables: [],
  prefixes: [{ bucket: "data", prefix: DOJO_PREFIX }],
  secrets: [],
  params: CausemosRunParams,
  local: {
    seed,
    describe,
    // The demo model's qualifier column, so that the local run also writes the qualifier outputs.
    startParams: { qualifier_map: { crop_production: ["scenario"], rainfall: ["scenario"] } },
  },
});

export type CausemosRunParams = z.infer<typeof CausemosRunParams>;
