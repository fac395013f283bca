import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import type { ExecutionState, WorkflowExecution, Workflows } from "../../shared/adapters/ports.ts";
import { createLedger } from "../../shared/ledger/ledger.ts";
import { runIsLive } from "../../shared/ops/backfill.ts";
import type { OpsContext } from "../../shared/ops/context.ts";

const EXECUTION = "projects/p/locations/l/workflows/demo/executions/e1";

/** A ledger on local files and a Workflows port that knows one execution, in the given state. */
function setup(state: ExecutionState) {
  const ledger = createLedger(
    createLocalObjects({ root: mkdtempSync(join(tmpdir(), "tessera-live-")) }).bucket("tessera-state"),
  );
  const asked: string[] = [];
  const workflows = {
    async get(name: string): Promise<WorkflowExecution> {
      asked.push(name);
      if (name !== EXECUTION) throw new Error(`execution ${name} not found`);
      return { name, workflow: "demo", state, argument: {}, labels: {}, startTime: new Date().toISOString() };
    },
  } as unknown as Workflows;
  const ctx = { ledger, workflows, now: () => new Date() } as unknown as OpsContext;
  return { ledger, ctx, asked };
}

describe("runIsLive: an attempt whose process died right after its claim", () => {
  it("is judged by the execution its claim names, however young the claim", async () => {
    for (const [state, live] of [
      ["FAILED", false],
      ["ACTIVE", true],
    ] as const) {
      const { ledger, ctx, asked } = setup(state);
      const r = await ledger.claim({
        pipeline: "demo",
        partition: "2024-06-01",
        runId: "r1",
        execution: EXECUTION,
      });
      expect(r.claimed).toBe(true);
      // No markRunning and no execution event: the claimer was killed right after the claim.
      expect(
        (await ledger.getRun({ pipeline: "demo", partition: "2024-06-01", attempt: 1 }))?.execution,
      ).toBe(EXECUTION);
      expect(await runIsLive(ctx, { pipeline: "demo", partition: "2024-06-01", attempt: 1 })).toBe(live);
      expect(asked).toEqual([EXECUTION]);
    }
  });

  it("without an execution in the claim, a young claim is still trusted as live", async () => {
    const { ledger, ctx, asked } = setup("FAILED");
    await ledger.claim({ pipeline: "demo", partition: "2024-06-02", runId: "r2" });
    expect((await ledger.getRun({ pipeline: "demo", partition: "2024-06-02", attempt: 1 }))?.execution).toBe(
      undefined,
    );
    expect(await runIsLive(ctx, { pipeline: "demo", partition: "2024-06-02", attempt: 1 })).toBe(true);
    expect(asked).toEqual([]);
  });
});
