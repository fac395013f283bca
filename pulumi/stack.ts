import { join } from "node:path";
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import { NonRetriableError } from "../shared/core/errors.ts";
import { PLATFORM_FUNCTIONS, type PlatformFunction } from "../shared/pipelines/platform.ts";
import type { PipelineDefinition } from "../shared/pipelines/types.ts";
import { Pipeline } from "./components/pipeline.ts";
import { Platform } from "./components/platform.ts";
import type { StackConfig } from "./config.ts";
import { checkDeclarations } from "./declarations.ts";

export interface StackOptions {
  /** Repository root (workflows-yaml/, dist/). Default: the folder above pulumi/. */
  root?: string;
  /** Platform functions to deploy. Default: every entry of PLATFORM_FUNCTIONS. */
  platformFunctions?: PlatformFunction[];
  /** Where the function bundles are. Default: `<root>/dist/functions`. */
  bundlesDir?: string;
  /** The backfill driver workflow file; omitted means no backfill driver is deployed. */
  backfillWorkflowFile?: string;
}

export interface Stack {
  platform: Platform;
  pipelines: Pipeline[];
  outputs: Record<string, pulumi.Input<unknown>>;
}

export const REPO_ROOT = join(import.meta.dirname, "..");

/** The pipelines a stack deploys: all registered ones, or the configured ids (each must be registered). */
export function enabledPipelines(config: StackConfig, pipelines: PipelineDefinition[]): PipelineDefinition[] {
  if (config.pipelines === "all") return pipelines;
  const known = new Map(pipelines.map((p) => [p.id, p]));
  const unknown = config.pipelines.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new NonRetriableError(`tessera:pipelines names unregistered pipelines: ${unknown.join(", ")}`, {
      field: "tessera:pipelines",
      fix: `use "all" or registered ids (${[...known.keys()].join(", ") || "none registered yet"})`,
    });
  }
  return config.pipelines.map((id) => known.get(id)!);
}

/**
 * The whole program: one Platform and one Pipeline per enabled pipeline, all under an explicit provider
 * for the configured project and region. `pulumi/index.ts` calls it with the real registry; tests call it
 * with fixtures under `pulumi.runtime.setMocks`.
 */
export function createStack(
  config: StackConfig,
  pipelines: PipelineDefinition[],
  options: StackOptions = {},
): Stack {
  const root = options.root ?? REPO_ROOT;
  const bundlesDir = options.bundlesDir ?? join(root, "dist", "functions");
  const enabled = enabledPipelines(config, pipelines);
  checkDeclarations(enabled);
  const provider = new gcp.Provider("gcp", { project: config.project, region: config.region });
  const platform = new Platform(
    config.namePrefix,
    {
      config,
      pipelines: enabled,
      functions: options.platformFunctions ?? PLATFORM_FUNCTIONS,
      bundlesDir,
      backfillWorkflowFile: options.backfillWorkflowFile,
    },
    { providers: { gcp: provider } },
  );
  const deployed = enabled.map(
    (definition) =>
      new Pipeline(
        definition.id,
        { config, definition, platform, root, bundlesDir },
        { providers: { gcp: provider } },
      ),
  );
  const outputs: Record<string, pulumi.Input<unknown>> = {
    buckets: platform.bucketNames,
    repository: platform.repository.name,
    topics: [...platform.topics.keys()],
    functionUrls: Object.fromEntries([...platform.functions].map(([n, f]) => [n, f.url])),
    workflows: deployed.map((p) => p.workflow.name),
  };
  if (platform.consoleFront) {
    outputs.consoleUrl = platform.consoleFront.url;
    // Point the hostname's DNS A record here; the managed certificate is issued once it resolves.
    outputs.consoleIp = platform.consoleFront.address.address;
  }
  return { platform, pipelines: deployed, outputs };
}
