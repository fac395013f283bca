import { afterEach, describe, expect, it } from "vitest";
import { acceptBackfill, finishBackfill } from "../../shared/ops/backfill.ts";
import { cancelBackfill } from "../../shared/ops/cancel.ts";
import { backfillStatus, pipelineStatus } from "../../shared/ops/status.ts";
import { type DemoTwin, demoTwin, until } from "./ops-helpers.ts";

// Whole pipelines run here: every job is a child process, as a Cloud Run task would be.
const LONG = 240_000;

let twin: DemoTwin | undefined;
afterEach(async () => {
  await twin?.close();
  twin = undefined;
});

async function driverEnded(t: DemoTwin, backfillId: string): Promise<void> {
  await until(
    async () => {
      const drivers = await t.workflows.list({ workflow: "backfill", labels: { backfill_id: backfillId } });
      return drivers.length > 0 && drivers.every((d) => d.state !== "ACTIVE");
    },
    90_000,
    `the driver of ${backfillId}`,
  );
}

describe("a backfill's end on the local twin", () => {
  it(
    "reads succeeded when every partition succeeded, failed naming the failed partition, and a late contradicting end changes nothing",
    async () => {
      twin = await demoTwin();
      const t = twin;
      const ok = await acceptBackfill(t.ctx, {
        pipeline: "demo",
        from: "2024-06-01",
        to: "2024-06-03",
        requestId: "end-ok",
        maxConcurrent: 2,
        params: { sleepMs: 10 },
      });
      const bad = await acceptBackfill(t.ctx, {
        pipeline: "demo",
        from: "2024-06-10",
        to: "2024-06-12",
        requestId: "end-bad",
        maxConcurrent: 3,
        params: { sleepMs: 10, alwaysFail: ["2024-06-11"] },
      });
      const okId = ok.plan.backfillId;
      const badId = bad.plan.backfillId;
      await driverEnded(t, okId);
      await driverEnded(t, badId);

      // The driver posted its own end to the runs function (`/backfill-end`): the ledger has it before any
      // status read could settle it.
      expect((await t.ctx.ledger.getBackfill(okId))?.state).toBe("succeeded");
      expect((await t.ctx.ledger.getBackfill(badId))?.state).toBe("failed");

      // What `tessera status demo` and `tessera status --backfill ID` print.
      const byId = new Map((await pipelineStatus(t.ctx, "demo")).backfills.map((b) => [b.backfillId, b]));
      expect(byId.get(okId)?.state).toBe("succeeded");
      expect(byId.get(badId)?.state).toBe("failed");
      expect(byId.get(badId)?.reason).toMatch(/^1 partition\(s\) failed: 2024-06-11/);
      const okStatus = (await backfillStatus(t.ctx, okId))!;
      expect(okStatus.state).toBe("succeeded");
      expect(okStatus.counts).toEqual({ succeeded: 3 });
      const badStatus = (await backfillStatus(t.ctx, badId))!;
      expect(badStatus.state).toBe("failed");
      expect(badStatus.counts).toEqual({ succeeded: 2, failed: 1 });

      // The end is in the ledger itself (posted by the driver, or recorded by the status read that settled it).
      expect((await t.ctx.ledger.getBackfill(okId))?.state).toBe("succeeded");
      expect(await t.ctx.ledger.listBackfills({ pipeline: "demo", state: "running" })).toEqual([]);

      // A redelivered or re-run driver posting a different end does not contradict the recorded one.
      const again = await finishBackfill(t.ctx, {
        backfillId: okId,
        succeeded: 0,
        failed: 1,
        cancelled: 0,
        skipped: 0,
        failures: [{ partition: "2024-06-01", state: "FAILED" }],
      });
      expect(again).toMatchObject({ recorded: false, state: "succeeded" });
      expect((await t.ctx.ledger.getBackfill(okId))?.state).toBe("succeeded");
      expect(
        await finishBackfill(t.ctx, { backfillId: badId, succeeded: 3, failed: 0, cancelled: 0 }),
      ).toMatchObject({ recorded: false, state: "failed" });
      // Cancelling an ended backfill keeps its end.
      await cancelBackfill(t.ctx, badId);
      expect((await backfillStatus(t.ctx, badId))?.state).toBe("failed");
    },
    LONG,
  );

  it(
    "reads cancelled after a cancel, and the cancelled driver's end does not turn it into anything else",
    async () => {
      twin = await demoTwin();
      const t = twin;
      const started = await acceptBackfill(t.ctx, {
        pipeline: "demo",
        from: "2024-06-01",
        to: "2024-06-04",
        requestId: "end-cancel",
        maxConcurrent: 1,
        params: { sleepMs: 3000 },
      });
      const id = started.plan.backfillId;
      await until(
        async () => (await t.ctx.ledger.listRuns({ pipeline: "demo", state: "running" })).length > 0,
        60_000,
        "a running partition",
      );
      await cancelBackfill(t.ctx, id, "stopped by the test");
      await driverEnded(t, id);
      const s = (await backfillStatus(t.ctx, id))!;
      expect(s.state).toBe("cancelled");
      expect(s.reason).toBe("stopped by the test");
      expect((await pipelineStatus(t.ctx, "demo")).backfills.find((b) => b.backfillId === id)?.state).toBe(
        "cancelled",
      );
      expect(
        await finishBackfill(t.ctx, { backfillId: id, succeeded: 4, failed: 0, cancelled: 0 }),
      ).toMatchObject({ recorded: false, state: "cancelled" });
    },
    LONG,
  );
});
