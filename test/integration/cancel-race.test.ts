import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalBus } from "../../shared/adapters/local/messages.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import type { Workflows } from "../../shared/adapters/ports.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { createLedger, type Ledger } from "../../shared/ledger/ledger.ts";
import { cancelBackfill } from "../../shared/ops/cancel.ts";
import type { OpsContext } from "../../shared/ops/context.ts";
import { registry } from "../fixtures/twin/registry.ts";

/** No executions to stop: the race under test is between the ledger listing and the cancel. */
const noExecutions: Workflows = {
  execute: async () => {
    throw new Error("not used");
  },
  get: async () => {
    throw new Error("not used");
  },
  wait: async () => {
    throw new Error("not used");
  },
  cancel: async () => {},
  list: async () => [],
};

describe("cancelling a backfill while its runs end", () => {
  it("leaves a run that succeeded after the listing as it ended and cancels the ones still running", async () => {
    const store = createLocalObjects({ root: mkdtempSync(join(tmpdir(), "tessera-cancel-race-")) }).bucket(
      "tessera-state",
    );
    const real = createLedger(store);
    const backfillId = "bf-race";
    await real.putBackfill({ backfillId, pipeline: "demo", request: {}, plan: {}, state: "running" });
    const keys: { pipeline: string; partition: string; attempt: number }[] = [];
    for (const partition of ["2024-06-01", "2024-06-02"]) {
      const c = await real.claim({ pipeline: "demo", partition, runId: `r-${partition}`, backfillId });
      if (!c.claimed) throw new Error("claim refused");
      keys.push(c.run);
    }
    // The first run's job finishes right after cancel has listed it as running.
    const ledger: Ledger = {
      ...real,
      listRuns: async (filter) => {
        const runs = await real.listRuns(filter);
        await real.succeed(keys[0]);
        return runs;
      },
    };
    const ctx: OpsContext = {
      registry,
      ledger,
      state: store,
      workflows: noExecutions,
      messages: createLocalBus(),
      log: createLogger({ sink: memorySink() }),
      now: () => new Date("2024-07-01T12:00:00Z"),
    };

    const outcome = await cancelBackfill(ctx, backfillId);

    expect(outcome.cancelledRuns.map((r) => r.partition)).toEqual(["2024-06-02"]);
    expect((await real.getRun(keys[0]))?.state).toBe("succeeded");
    expect((await real.getRun(keys[1]))?.state).toBe("cancelled");
    expect((await real.getBackfill(backfillId))?.state).toBe("cancelled");
  });
});
