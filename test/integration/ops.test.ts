import { afterEach, describe, expect, it } from "vitest";

// Whole pipelines run here: every job is a child process, as a Cloud Run task would be.
const LONG = 240_000;

import { listRejected } from "../../shared/ops/reject.ts";
import { backfillStatus } from "../../shared/ops/status.ts";
import { TOPICS } from "../../shared/pipelines/platform.ts";
import { countBy, type DemoTwin, demoTwin, jobEvents, maxOverlap, until } from "./ops-helpers.ts";

let twin: DemoTwin | undefined;
afterEach(async () => {
  await twin?.close();
  twin = undefined;
});

const request = (extra: Record<string, unknown>) => ({
  pipeline: "demo",
  from: "2024-06-01",
  to: "2024-06-05",
  requestId: "req-1",
  maxConcurrent: 2,
  params: { sleepMs: 20 },
  ...extra,
});

async function driverDone(t: DemoTwin, backfillId: string) {
  await until(
    async () => {
      const s = await backfillStatus(t.ctx, backfillId);
      return !!s?.driver && s.driver.state !== "ACTIVE";
    },
    90_000,
    `backfill ${backfillId}`,
  );
  return (await backfillStatus(t.ctx, backfillId))!;
}

describe("operations on the local twin", () => {
  it(
    "runs one backfill when the same request arrives five times, some at once",
    async () => {
      twin = await demoTwin();
      const t = twin;
      await Promise.all([0, 1, 2].map(() => t.bus.publish(TOPICS.backfillRequests, request({}))));
      await t.bus.publish(TOPICS.backfillRequests, request({}));
      await t.bus.publish(TOPICS.backfillRequests, request({}));
      await until(
        async () => (await t.ctx.ledger.listBackfills({ pipeline: "demo" })).length === 1,
        30_000,
        "the backfill record",
      );
      const [bf] = await t.ctx.ledger.listBackfills({ pipeline: "demo" });
      const status = await driverDone(t, bf.backfillId);
      await t.bus.idle();
      expect(status.counts).toEqual({ succeeded: 5 });
      const ends = countBy(
        jobEvents(t.demoDir).filter((e) => e.what === "end"),
        (e) => e.partition,
      );
      expect(ends).toEqual({
        "2024-06-01": 1,
        "2024-06-02": 1,
        "2024-06-03": 1,
        "2024-06-04": 1,
        "2024-06-05": 1,
      });
      expect(await t.ctx.ledger.listBackfills({ pipeline: "demo" })).toHaveLength(1);
      const drivers = await t.workflows.list({
        workflow: "backfill",
        labels: { backfill_id: bf.backfillId },
      });
      expect(drivers).toHaveLength(1);
      const children = await t.workflows.list({ workflow: "demo", labels: { backfill_id: bf.backfillId } });
      expect(children).toHaveLength(5);
    },
    LONG,
  );

  it(
    "retries a partition that fails twice, and finishes the others when one always fails",
    async () => {
      twin = await demoTwin();
      const t = twin;
      await t.bus.publish(
        TOPICS.backfillRequests,
        request({
          requestId: "req-retry",
          params: { sleepMs: 10, failTimes: 2, alwaysFail: ["2024-06-03"] },
        }),
      );
      await until(async () => (await t.ctx.ledger.listBackfills({ pipeline: "demo" })).length === 1, 30_000);
      const [bf] = await t.ctx.ledger.listBackfills({ pipeline: "demo" });
      const status = await driverDone(t, bf.backfillId);
      expect(status.counts).toEqual({ succeeded: 4, failed: 1 });
      const failed = status.partitions.find((p) => p.partition === "2024-06-03")!;
      expect(failed.state).toBe("failed");
      expect(failed.reason).toMatch(/OperationError|always fails|demo-work/);
      const events = jobEvents(t.demoDir);
      // failTimes: 2 -> every partition that can succeed ran three times (two failures, then success).
      expect(
        countBy(
          events.filter((e) => e.partition === "2024-06-01"),
          (e) => e.what,
        ),
      ).toEqual({ start: 3, fail: 2, end: 1 });
      // the always-failing one was tried 1 + max_retries (3) times
      expect(
        countBy(
          events.filter((e) => e.partition === "2024-06-03"),
          (e) => e.what,
        ),
      ).toEqual({ start: 4, fail: 4 });
      const summary = status.driver!.result as {
        succeeded: number;
        failed: number;
        failures: { partition: string }[];
      };
      expect(summary.succeeded).toBe(4);
      expect(summary.failed).toBe(1);
      expect(summary.failures.map((f) => f.partition)).toEqual(["2024-06-03"]);
    },
    LONG,
  );

  it(
    "never runs more than maxConcurrent partitions at once (3 over 30)",
    async () => {
      twin = await demoTwin();
      const t = twin;
      await t.bus.publish(
        TOPICS.backfillRequests,
        request({
          requestId: "req-30",
          from: "2024-05-01",
          to: "2024-05-30",
          maxConcurrent: 3,
          params: { sleepMs: 150 },
        }),
      );
      await until(async () => (await t.ctx.ledger.listBackfills({ pipeline: "demo" })).length === 1, 30_000);
      const [bf] = await t.ctx.ledger.listBackfills({ pipeline: "demo" });
      const status = await driverDone(t, bf.backfillId);
      expect(status.counts).toEqual({ succeeded: 30 });
      const events = jobEvents(t.demoDir);
      expect(events.filter((e) => e.what === "end")).toHaveLength(30);
      const overlap = maxOverlap(events);
      expect(overlap).toBeLessThanOrEqual(3);
      expect(overlap).toBeGreaterThanOrEqual(2);
    },
    LONG,
  );

  it(
    "dead-letters malformed and impossible requests with their reason, and never crashes",
    async () => {
      twin = await demoTwin();
      const t = twin;
      const dead: { reason: string }[] = [];
      await t.bus.subscribe("dead-letter-watch", TOPICS.deadLetters, async (m) => {
        dead.push({ reason: m.attributes.reason });
      });
      await t.bus.publish(TOPICS.backfillRequests, "{not json");
      await t.bus.publish(TOPICS.backfillRequests, { pipeline: "nope", from: "2024-06-01", requestId: "a" });
      await t.bus.publish(
        TOPICS.backfillRequests,
        request({ requestId: "b", from: "2024-06-09", to: "2024-06-01" }),
      );
      await t.bus.publish(TOPICS.backfillRequests, request({ requestId: "c", to: "2024-07-05" }));
      await t.bus.publish(TOPICS.backfillRequests, request({ requestId: "d", weekdays: ["someday"] }));
      await t.bus.publish(TOPICS.backfillRequests, request({ requestId: "e", params: { sleepMs: "slow" } }));
      await until(() => dead.length === 6, 30_000, "six dead letters");
      const reasons = dead.map((d) => d.reason).sort();
      expect(reasons.some((r) => /not valid JSON|not JSON/.test(r))).toBe(true);
      expect(reasons.some((r) => /unknown pipeline "nope"/.test(r))).toBe(true);
      expect(reasons.some((r) => /after to/.test(r))).toBe(true);
      expect(reasons.some((r) => /in the future/.test(r))).toBe(true);
      expect(reasons.some((r) => /day of the week/.test(r))).toBe(true);
      expect(reasons.some((r) => /params of demo: sleepMs/.test(r))).toBe(true);
      expect(await listRejected(t.ctx, "backfill")).toHaveLength(6);
      expect(await t.ctx.ledger.listBackfills()).toHaveLength(0);
      expect(t.bus.stats().nacked).toBe(0);
    },
    LONG,
  );

  it(
    "starts one execution per tick and nothing for a redelivered tick",
    async () => {
      twin = await demoTwin();
      const t = twin;
      const tick = { pipeline: "demo", partition: "2024-06-10" };
      const message = {
        id: "tick-1",
        data: Buffer.from(JSON.stringify(tick)),
        attributes: {},
        publishTime: new Date().toISOString(),
        deliveryAttempt: 1,
      };
      const { deliver } = await import("../../shared/runtime/functions-host.ts");
      const fn = { name: "dispatch", target: "dispatch", url: t.urls.dispatch, server: undefined as never };
      const names = { project: "local-project", topic: TOPICS.scheduleTicks, subscription: "dispatch-push" };
      await Promise.all([
        deliver(fn, message, names).catch(() => undefined),
        deliver(fn, message, names).catch(() => undefined),
      ]);
      await until(async () => (await t.workflows.list({ workflow: "demo" })).length >= 1, 10_000);
      await deliver(fn, message, names);
      const executions = await t.workflows.list({ workflow: "demo" });
      expect(executions).toHaveLength(1);
      await t.workflows.wait(executions[0].name);
      expect((await t.ctx.ledger.partitionState("demo", "2024-06-10"))?.state).toBe("succeeded");
      // a new tick for a done partition is reported and skipped
      await deliver(fn, { ...message, id: "tick-2" }, names);
      expect(await t.workflows.list({ workflow: "demo" })).toHaveLength(1);
    },
    LONG,
  );

  it(
    "accepts the same argument ad hoc as gcloud workflows execute, and never runs a done partition twice",
    async () => {
      twin = await demoTwin();
      const t = twin;
      const first = await t.workflows.execute("demo", { partition: "2024-06-15" });
      const done = await t.workflows.wait(first.name);
      expect(done.state).toBe("SUCCEEDED");
      const again = await t.workflows.wait(
        (await t.workflows.execute("demo", { partition: "2024-06-15" })).name,
      );
      expect(again.state).toBe("SUCCEEDED");
      expect(again.result).toMatchObject({ skipped: true, state: "succeeded" });
      const forced = await t.workflows.wait(
        (await t.workflows.execute("demo", { partition: "2024-06-15", force: true })).name,
      );
      expect(forced.result).toMatchObject({ partition: "2024-06-15", attempt: 2 });
      expect(jobEvents(t.demoDir).filter((e) => e.what === "end")).toHaveLength(2);
    },
    LONG,
  );
});
