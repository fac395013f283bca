import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../pulumi/plan.ts";
import { registry } from "../../shared/pipelines/index.ts";
import { fixtureConfig } from "./fixtures.ts";
import { type GrantRow, grantRows } from "./grants.ts";

// The real registry's plan (the repository's workflows, no bundles needed under mocks): what the mmm pipeline's
// functions and the console's workbench may write, publish and read comes from mmm's registry entry alone.
let rows: GrantRow[];
const CONSOLE_SA = "serviceAccount:tessera-console@";
const MMM_FN = "serviceAccount:mmm-fn@";
const DATA = "bucket:tessera-test-01-tessera-data";

beforeAll(async () => {
  const { planResources } = await import("../../pulumi/plan.ts");
  const resources: PlannedResource[] = (
    await planResources(fixtureConfig, registry.list(), {
      bundlesDir: join(import.meta.dirname, "fixtures", "no-bundles"),
    })
  ).resources;
  rows = grantRows(resources);
}, 120_000);

const of = (member: string) => rows.filter((r) => r.member === member);

describe("the real registry's grants", () => {
  it("mmm's functions (api, queue) write only the mmm/ prefix and publish schedule ticks; they read robyn/ and model_summary/", () => {
    expect(
      of(MMM_FN).filter((r) => r.resource.startsWith("bucket:") || r.resource.startsWith("topic:")),
    ).toEqual([
      { role: "roles/storage.objectUser", member: MMM_FN, resource: `${DATA} [data-mmm]` },
      { role: "roles/storage.objectViewer", member: MMM_FN, resource: `${DATA} [data-mmm]` },
      { role: "roles/storage.objectViewer", member: MMM_FN, resource: `${DATA} [data-model-summary]` },
      { role: "roles/storage.objectViewer", member: MMM_FN, resource: `${DATA} [data-robyn]` },
      { role: "roles/pubsub.publisher", member: MMM_FN, resource: "topic:tessera-schedule-ticks" },
    ]);
  });

  it("the console's workbench: mmm/ queue, the Snowflake key on the secret only, table previews on the datasets", () => {
    const mine = of(CONSOLE_SA);
    expect(mine).toContainEqual({
      role: "roles/storage.objectUser",
      member: CONSOLE_SA,
      resource: `${DATA} [data-mmm]`,
    });
    expect(mine.filter((r) => r.resource.startsWith("secret:"))).toEqual([
      {
        role: "roles/secretmanager.secretAccessor",
        member: CONSOLE_SA,
        resource: "secret:snowflake-private-key",
      },
      {
        role: "roles/secretmanager.secretVersionAdder",
        member: CONSOLE_SA,
        resource: "secret:snowflake-private-key",
      },
    ]);
    const datasets = [...new Set(registry.list().flatMap((p) => p.tables.map((t) => t.dataset)))].sort();
    expect(datasets.length).toBeGreaterThan(0);
    expect(mine.filter((r) => r.resource.startsWith("dataset:")).map((r) => r.resource)).toEqual(
      datasets.map((d) => `dataset:${d}`),
    );
    expect(
      mine
        .filter((r) => r.resource.startsWith("dataset:"))
        .every((r) => r.role === "roles/bigquery.dataViewer"),
    ).toBe(true);
    expect(
      mine
        .filter((r) => r.resource.startsWith("project:"))
        .map((r) => r.role)
        .sort(),
    ).toEqual(["roles/bigquery.jobUser", "roles/workflows.viewer"]);
  });

  it("no secret role and no basic role at project level, for anyone", () => {
    const project = rows.filter((r) => r.resource.startsWith("project:"));
    expect(project.filter((r) => r.role.startsWith("roles/secretmanager."))).toEqual([]);
    expect(rows.filter((r) => /^roles\/(owner|editor|viewer)$/.test(r.role))).toEqual([]);
  });
});
