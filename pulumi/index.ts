import { existsSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { NonRetriableError } from "../shared/core/errors.ts";
import { registry } from "../shared/pipelines/index.ts";
import { BACKFILL_WORKFLOW, PLATFORM_FUNCTIONS } from "../shared/pipelines/platform.ts";
import { readStackConfig } from "./config.ts";
import { createStack, enabledPipelines, REPO_ROOT } from "./stack.ts";

/**
 * The Pulumi program (`pulumi up` loads it through `pulumi/main.js`). Platform functions are deployed once
 * their source exists (`functions/<name>/index.ts`); every deployed function must have been bundled by
 * `npm run build` first.
 */
export default async function program(): Promise<Record<string, pulumi.Input<unknown>>> {
  const config = await readStackConfig();
  const present = PLATFORM_FUNCTIONS.filter((f) =>
    existsSync(join(REPO_ROOT, "functions", f.source, "index.ts")),
  );
  for (const f of PLATFORM_FUNCTIONS) {
    if (!present.includes(f))
      pulumi.log.warn(
        `platform function "${f.name}" is not deployed: functions/${f.source}/index.ts does not exist yet`,
      );
  }
  const pipelines = enabledPipelines(config, registry.list());
  const sources = [
    ...present.map((f) => f.source),
    ...pipelines.flatMap((p) => p.functions.map((f) => f.source)),
  ];
  const unbuilt = sources.filter((s) => !existsSync(join(REPO_ROOT, "dist", "functions", s, "index.js")));
  if (unbuilt.length > 0) {
    throw new NonRetriableError(
      `function bundles missing: ${unbuilt.map((s) => `dist/functions/${s}`).join(", ")}`,
      {
        field: "dist/functions",
        fix: "run `npm run build` before `pulumi up` (tessera deploy does it for you)",
      },
    );
  }
  const backfill = join(REPO_ROOT, "workflows-yaml", BACKFILL_WORKFLOW);
  const stack = createStack(config, pipelines, {
    platformFunctions: present,
    backfillWorkflowFile: existsSync(backfill) ? backfill : undefined,
  });
  return stack.outputs;
}
