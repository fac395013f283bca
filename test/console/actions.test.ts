import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../integration/ops-helpers.ts";
import { type ConsoleTwin, consoleApi, startConsoleTwin } from "./helpers.ts";

/**
 * The console's actions over HTTP on a running local twin (fixture `demo` pipeline, whose `sleepMs` keeps a
 * run busy): run a partition, cancel it, start a backfill, cancel it, rerun its cancelled partitions —
 * what `tessera run|backfill|cancel` do, from the console's API. Also the page and its assets.
 */

type Rows = { rows: { partition: string; state: string; runId?: string }[] };

describe("console actions on the local twin", () => {
  let c: ConsoleTwin;

  beforeAll(async () => {
    c = await startConsoleTwin({ now: () => new Date("2024-07-01T12:00:00Z") });
  });
  afterAll(async () => {
    await c?.close();
  });

  const stateOf = async (partition: string) =>
    ((await consoleApi(c.url, `/partitions?pipeline=demo&from=${partition}&to=${partition}`)).json as Rows)
      .rows[0];

  it("serves the page and its assets with a restrictive content policy, GET only", async () => {
    const page = await fetch(c.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain('<main id="main"');
    const js = await fetch(new URL("assets/app.js", c.url));
    expect(js.headers.get("content-type")).toContain("javascript");
    expect((await fetch(new URL("assets/nothing.js", c.url))).status).toBe(404);
    expect((await fetch(c.url, { method: "POST" })).status).toBe(405);
    const me = await consoleApi(c.url, "/me");
    expect(me.json).toEqual({ user: "local", mode: "local" });
  });

  it("runs a partition and cancels it", async () => {
    const started = await consoleApi(c.url, "/run", {
      pipeline: "demo",
      partition: "2024-06-10",
      params: { sleepMs: 30_000 },
    });
    expect(started.status).toBe(200);
    const { runId } = started.json as { runId: string; execution: string };
    await until(async () => (await stateOf("2024-06-10"))?.state === "running", 30_000, "the run to start");
    const cancelled = await consoleApi(c.url, "/cancel", { runId, reason: "test: stop it" });
    expect(cancelled.status).toBe(200);
    expect((cancelled.json as { cancelledRuns: unknown[] }).cancelledRuns).toHaveLength(1);
    expect(await stateOf("2024-06-10")).toMatchObject({ state: "cancelled" });
    const t = (await consoleApi(c.url, "/run?pipeline=demo&partition=2024-06-10")).json as {
      state: string;
      reason: string;
    };
    expect(t.state).toBe("cancelled");
    expect(t.reason).toBe("test: stop it");
    // A bad run request names the field.
    const bad = await consoleApi(c.url, "/run", { pipeline: "demo", partition: "2024-02-30" });
    expect(bad.status).toBe(400);
  });

  it("starts a backfill, cancels it, and reruns its cancelled partition", async () => {
    const started = await consoleApi(c.url, "/backfill", {
      pipeline: "demo",
      from: "2024-05-01",
      to: "2024-05-03",
      maxConcurrent: 1,
      params: { sleepMs: 30_000 },
    });
    expect(started.status).toBe(200);
    const { backfillId, action } = started.json as { backfillId: string; action: string };
    expect(action).toBe("started");
    await until(
      async () => (await stateOf("2024-05-01"))?.state === "running",
      30_000,
      "the first partition",
    );
    const cancel = await consoleApi(c.url, "/cancel", { backfillId });
    expect(cancel.status).toBe(200);
    const detail = (await consoleApi(c.url, `/backfill?id=${backfillId}`)).json as {
      state: string;
      counts: Record<string, number>;
    };
    expect(detail.state).toBe("cancelled");
    expect(detail.counts).toEqual({ cancelled: 1, pending: 2 });

    const rerun = await consoleApi(c.url, "/backfill/rerun-failed", { backfillId });
    expect(rerun.status).toBe(200);
    const again = rerun.json as {
      backfillId: string;
      plan: { reprocess: string; entries: { partition: string; action: string }[] };
    };
    expect(again.backfillId).not.toBe(backfillId);
    expect(again.plan.reprocess).toBe("failed");
    expect(again.plan.entries.map((e) => [e.partition, e.action])).toEqual([["2024-05-01", "rerun"]]);
    await consoleApi(c.url, "/cancel", { backfillId: again.backfillId });
    const list = (await consoleApi(c.url, "/backfills?pipeline=demo")).json as { backfillId: string }[];
    expect(list.map((b) => b.backfillId)).toEqual([again.backfillId, backfillId]);
  });
});
