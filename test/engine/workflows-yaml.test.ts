import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WorkflowEngine } from "../../shared/engine/engine.ts";
import { validateFile } from "../../shared/engine/validate.ts";

/**
 * Every deployed workflow (`workflows-yaml/*.workflows.yaml`) must validate, and the ones with a scenario below
 * must run. KNOWN lists findings already reported to the file's owner: the test pins them exactly, so a fix (or a
 * new finding) makes it fail until the entry is removed.
 */
const dir = join(import.meta.dirname, "..", "..", "workflows-yaml");
const files = (() => {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".workflows.yaml"))
      .sort();
  } catch {
    return [];
  }
})();

const KNOWN: Record<string, string[]> = {};

describe("workflows-yaml", () => {
  it.skipIf(files.length > 0)("has no workflow files yet", () => {});
  for (const f of files) {
    it(`${f} validates`, () => {
      const findings = validateFile(join(dir, f)).map((x) => x.message);
      expect(findings).toEqual(KNOWN[f] ?? []);
    });
  }

  it.runIf(files.includes("backfill.workflows.yaml"))(
    "backfill runs its lanes as child executions and tallies outcomes",
    async () => {
      const text = readFileSync(join(dir, "backfill.workflows.yaml"), "utf8");
      const child = `
main:
  params: [a]
  steps:
    - check:
        switch:
          - condition: \${a.partition == "2026-01-02"}
            raise: {"message": "partition failed", "tags": ["ValueError"]}
          - condition: \${a.partition == "2026-01-03"}
            return: {"skipped": true}
    - ok:
        return: {"skipped": false, "partition": "\${a.partition}"}
`;
      const engine = new WorkflowEngine({
        virtualClock: true,
        host: {
          resolveWorkflow: (id) =>
            id === "mozaic-daily" ? { file: "mozaic-daily.workflows.yaml", text: child } : undefined,
        },
      });
      const program = engine.compile(text, "backfill.workflows.yaml");
      const r = await engine.run(program, {
        argument: {
          backfillId: "bf-1",
          pipeline: "mozaic-daily",
          workflow: "mozaic-daily",
          lanes: [[{ partition: "2026-01-01" }, { partition: "2026-01-03" }], [{ partition: "2026-01-02" }]],
          params: {},
          pollSeconds: 5,
        },
        labels: { backfill_id: "bf-1" },
      });
      expect(r.state, JSON.stringify(r.error)).toBe("SUCCEEDED");
      expect(r.result).toMatchObject({
        backfillId: "bf-1",
        succeeded: 1,
        failed: 1,
        skipped: 1,
        cancelled: 0,
      });
      expect(engine.list({ workflow: "mozaic-daily", labels: { backfill_id: "bf-1" } })).toHaveLength(3);
    },
  );
});
