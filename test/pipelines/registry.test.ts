import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { NonRetriableError } from "../../shared/core/errors.ts";
import {
  createRegistry,
  definePipeline,
  type PipelineDefinition,
  RegistryError,
} from "../../shared/pipelines/types.ts";

function fixtureRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "tessera-registry-"));
  mkdirSync(join(root, "workflows-yaml"));
  mkdirSync(join(root, "containers", "demo"), { recursive: true });
  writeFileSync(
    join(root, "workflows-yaml", "demo.workflows.yaml"),
    "main:\n  steps:\n    - done:\n        return: 1\n",
  );
  writeFileSync(join(root, "containers", "demo", "main.ts"), "");
  return root;
}

const valid = (): PipelineDefinition => ({
  id: "demo",
  title: "Demo",
  description: "A pipeline used by the registry's tests.",
  partition: { kind: "daily", fromTick: (now) => now.toISOString().slice(0, 10) },
  schedules: [{ name: "daily", cron: "0 7 * * *", timeZone: "UTC" }],
  workflow: "demo.workflows.yaml",
  jobs: [
    {
      name: "fit",
      entrypoint: "containers/demo/main.ts",
      image: "demo",
      cpu: "2",
      memory: "4Gi",
      taskCount: 3,
      parallelism: 3,
      timeoutSeconds: 3600,
      maxRetries: 1,
    },
  ],
  functions: [],
  topics: [],
  tables: [],
  prefixes: [{ bucket: "data", prefix: "demo/" }],
  secrets: [],
  params: z.object({}),
});

describe("pipeline registry", () => {
  it("accepts a valid definition", () => {
    const root = fixtureRoot();
    expect(definePipeline(valid(), root).id).toBe("demo");
  });

  it("lists every problem at once, with the pipeline's id", () => {
    const root = fixtureRoot();
    const def = valid();
    def.schedules = [
      { name: "daily", cron: "0 25 * * *", timeZone: "Mars/Olympus" },
      { name: "daily", cron: "0 7 * * *", timeZone: "UTC" },
    ];
    def.jobs[0] = {
      ...def.jobs[0],
      parallelism: 5,
      memory: "4GB",
      entrypoint: "containers/demo/missing.ts",
      secrets: ["nope"],
    };
    def.workflow = "other.workflows.yaml";
    let message = "";
    try {
      definePipeline(def, root);
    } catch (e) {
      expect(e).toBeInstanceOf(RegistryError);
      message = (e as Error).message;
    }
    for (const expected of [
      'pipeline "demo" is invalid',
      'schedule "daily" is declared twice',
      "hour 25 is outside 0-23",
      'unknown time zone "Mars/Olympus"',
      "parallelism 5 exceeds taskCount 3",
      "must be like 512Mi or 4Gi",
      "containers/demo/missing.ts does not exist",
      '"nope" is not in the pipeline\'s secrets',
      "workflows-yaml/other.workflows.yaml does not exist",
    ]) {
      expect(message).toContain(expected);
    }
  });

  it("requires a scheduled pipeline to say which partition a tick runs", () => {
    const def = valid();
    def.partition = { kind: "daily" };
    expect(() => definePipeline(def, fixtureRoot())).toThrow(/partition.fromTick/);
  });

  it("says which pipelines exist when asked for an unknown one", () => {
    const registry = createRegistry([valid()]);
    expect(registry.get("demo").title).toBe("Demo");
    expect(() => registry.get("nope")).toThrow(NonRetriableError);
    expect(() => registry.get("nope")).toThrow(/unknown pipeline "nope" \(registered: demo\)/);
    expect(() => createRegistry([valid(), valid()])).toThrow(/registered twice/);
  });
});
