import { join } from "node:path";
import { z } from "zod";
import type { StackConfig } from "../../pulumi/config.ts";
import { DEFAULT_SIZES } from "../../pulumi/config.ts";
import type { PlatformFunction } from "../../shared/pipelines/platform.ts";
import type { PipelineDefinition } from "../../shared/pipelines/types.ts";

/**
 * Fixture pipelines for the deployment tests: plain definitions (not passed to definePipeline, whose file
 * checks look at the real repository). Their workflows live in test/pulumi/fixtures/workflows-yaml/.
 */
export const FIXTURE_ROOT = join(import.meta.dirname, "fixtures");

export const fxDaily: PipelineDefinition = {
  id: "fx-daily",
  title: "Fixture daily aggregate",
  description: "A scheduled daily pipeline with one sharded job, one table and one data prefix.",
  partition: { kind: "daily", fromTick: (now) => now.toISOString().slice(0, 10) },
  schedules: [
    { name: "daily", cron: "0 3 * * *", timeZone: "Europe/Berlin" },
    { name: "weekly", cron: "30 4 * * 1", timeZone: "America/New_York", params: { window: 7 } },
  ],
  workflow: "fx-daily.workflows.yaml",
  jobs: [
    {
      name: "aggregate",
      entrypoint: "containers/fx-daily/main.ts",
      image: "fx-daily",
      cpu: "2",
      memory: "4Gi",
      taskCount: 4,
      parallelism: 2,
      timeoutSeconds: 3600,
      maxRetries: 2,
      secrets: ["postgres-dsn"],
      env: { FX_MODE: "full" },
      nodeFlags: ["--single-threaded-gc"],
    },
  ],
  functions: [],
  topics: [],
  tables: [
    {
      dataset: "fx_mart",
      table: "daily_totals",
      columns: [
        { name: "ds", type: "DATE", mode: "REQUIRED" },
        { name: "country", type: "STRING" },
        { name: "total", type: "FLOAT64" },
        { name: "detail", type: "RECORD", mode: "REPEATED", fields: [{ name: "k", type: "STRING" }] },
      ],
      partitionBy: "ds",
      clusterBy: ["country"],
    },
  ],
  prefixes: [{ bucket: "data", prefix: "fx-daily/" }],
  secrets: ["postgres-dsn"],
  params: z.object({}),
};

export const fxModels: PipelineDefinition = {
  id: "fx-models",
  title: "Fixture model search",
  description: "An on-request pipeline with two jobs, an HTTP API function and a topic-triggered function.",
  partition: { kind: "key" },
  schedules: [],
  workflow: "fx-models.workflows.yaml",
  jobs: [
    {
      name: "search",
      entrypoint: "containers/fx-models/search.ts",
      image: "fx-models",
      cpu: "4",
      memory: "8Gi",
      taskCount: 10,
      parallelism: 5,
      timeoutSeconds: 7200,
      maxRetries: 1,
      secrets: ["snowflake-private-key"],
    },
    {
      name: "summarize",
      entrypoint: "containers/fx-models/summarize.ts",
      image: "fx-models",
      cpu: "1",
      memory: "512Mi",
      taskCount: 1,
      parallelism: 1,
      timeoutSeconds: 600,
      maxRetries: 0,
    },
  ],
  functions: [
    {
      name: "api",
      source: "fx-models-api",
      target: "api",
      trigger: { kind: "http" },
      maxInstances: 3,
      memory: "512Mi",
      // A request queue under its inputs prefix; it starts runs on the pipeline's own topic.
      writes: ["fx-models/inputs/"],
      publishes: ["fx-models-requests"],
    },
    {
      name: "intake",
      source: "fx-models-intake",
      target: "intake",
      trigger: { kind: "topic", topic: "fx-models-requests" },
      secrets: ["snowflake-private-key"],
    },
  ],
  topics: ["fx-models-requests"],
  tables: [
    {
      dataset: "fx_models",
      table: "trials",
      columns: [
        { name: "run_id", type: "STRING" },
        { name: "score", type: "FLOAT64" },
      ],
    },
    {
      dataset: "fx_mart",
      table: "model_summary",
      columns: [
        { name: "run_id", type: "STRING" },
        { name: "at", type: "TIMESTAMP" },
      ],
      partitionBy: "at",
    },
  ],
  prefixes: [
    { bucket: "artifacts", prefix: "fx-models/" },
    { bucket: "data", prefix: "fx-models/inputs/" },
  ],
  secrets: ["snowflake-private-key"],
  // Console pages for it (as mmm's workbench): queue requests, preview Snowflake and tables, upload a key.
  console: {
    writes: ["fx-models/inputs/"],
    publishes: ["tessera-schedule-ticks"],
    secrets: ["snowflake-private-key"],
    addsSecretVersions: ["snowflake-private-key"],
    previewsTables: true,
  },
  params: z.object({}),
};

export const FIXTURES = [fxDaily, fxModels];

export const fixtureConfig: StackConfig = {
  project: "tessera-test-01",
  region: "europe-west1",
  namePrefix: "tessera",
  scheduleTimeZone: "Etc/UTC",
  datasetLocation: "EU",
  imageTag: "v1",
  pipelines: "all",
  consoleAllowedDomains: ["example.com"],
  deletionProtection: true,
  sizes: DEFAULT_SIZES,
};

/** The platform functions as the tests pin them (shared/pipelines/platform.ts may grow; the pinned grants should not move with it). */
export const FIXTURE_PLATFORM_FUNCTIONS: PlatformFunction[] = [
  {
    name: "dispatch",
    source: "dispatch",
    target: "dispatch",
    trigger: { kind: "topic", topic: "tessera-schedule-ticks" },
    maxDeliveryAttempts: 5,
  },
  {
    name: "backfill",
    source: "backfill",
    target: "backfill",
    trigger: { kind: "topic", topic: "tessera-backfill-requests" },
    maxDeliveryAttempts: 7,
  },
  { name: "runs", source: "runs", target: "runs", trigger: { kind: "http" } },
];

export const fixtureOptions = {
  root: FIXTURE_ROOT,
  platformFunctions: FIXTURE_PLATFORM_FUNCTIONS,
  backfillWorkflowFile: join(FIXTURE_ROOT, "workflows-yaml", "backfill.workflows.yaml"),
  bundlesDir: join(FIXTURE_ROOT, "dist-functions"),
};

/** The console as shared/pipelines/platform.ts declares it, for the console's own plan. */
export const FIXTURE_CONSOLE: PlatformFunction = {
  name: "console",
  source: "console",
  target: "console",
  trigger: { kind: "http" },
};

/** A stack with the console behind IAP on console.example.com, open to two domains. */
export const consoleConfig: StackConfig = {
  ...fixtureConfig,
  consoleAllowedDomains: ["example.com", "example.org"],
  consoleHostname: "console.example.com",
};

export const consoleOptions = {
  ...fixtureOptions,
  platformFunctions: [...FIXTURE_PLATFORM_FUNCTIONS, FIXTURE_CONSOLE],
};
