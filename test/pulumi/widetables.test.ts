import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../pulumi/plan.ts";
import type { PipelineDefinition } from "../../shared/pipelines/types.ts";
import { fixtureConfig, fixtureOptions, fxDaily } from "./fixtures.ts";

// A pipeline that writes Bigtable rows gets its tables, their GC policies, and a grant on each table only.
const fxWide: PipelineDefinition = {
  ...fxDaily,
  id: "fx-wide",
  wideTables: [
    {
      table: "profiles",
      families: [{ name: "profile", gc: { maxAgeSeconds: 90 * 86_400, maxVersions: 1, mode: "union" } }],
    },
    { table: "scratch", families: [{ name: "s" }] },
  ],
  tables: [],
  secrets: [],
  jobs: fxDaily.jobs.map((j) => ({ ...j, secrets: [] })),
};

let resources: PlannedResource[];
beforeAll(async () => {
  const { planResources } = await import("../../pulumi/plan.ts");
  resources = (await planResources(fixtureConfig, [fxWide], fixtureOptions)).resources;
}, 120_000);

describe("wide tables from the registry", () => {
  it("creates each table with its families in the platform's instance", () => {
    const tables = resources.filter((r) => r.type === "gcp:bigtable/table:Table");
    expect(tables.map((t) => [t.inputs.name, t.inputs.columnFamilies])).toEqual([
      ["profiles", [{ family: "profile" }]],
      ["scratch", [{ family: "s" }]],
    ]);
  });

  it("turns a family's GC rule into a GC policy (union of max age and max versions)", () => {
    const policies = resources.filter((r) => r.type === "gcp:bigtable/gCPolicy:GCPolicy");
    expect(policies).toHaveLength(1);
    expect(policies[0].inputs).toMatchObject({
      columnFamily: "profile",
      mode: "UNION",
      maxAge: { duration: "7776000s" },
      maxVersions: [{ number: 1 }],
    });
  });

  it("grants the jobs' account bigtable.user on each of its tables and nothing wider", () => {
    const grants = resources.filter((r) => r.type === "gcp:bigtable/tableIamMember:TableIamMember");
    expect(grants.map((g) => [g.inputs.table, g.inputs.role, String(g.inputs.member).split("@")[0]])).toEqual(
      [
        ["profiles", "roles/bigtable.user", "serviceAccount:fx-wide-job"],
        ["scratch", "roles/bigtable.user", "serviceAccount:fx-wide-job"],
      ],
    );
    const projectBigtable = resources.filter(
      (r) =>
        r.type === "gcp:projects/iAMMember:IAMMember" && String(r.inputs.role).startsWith("roles/bigtable"),
    );
    expect(projectBigtable).toEqual([]);
  });
});
