import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGcpObjects } from "../../shared/adapters/gcp/objects.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import type { ObjectStore } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { type ClaimResult, createLedger } from "../../shared/ledger/ledger.ts";
import { type FakeGcs, startFakeGcs } from "../adapters/objects-fake-gcs.ts";

process.env.METADATA_SERVER_DETECTION = "none";
process.env.GCE_METADATA_HOST = "127.0.0.1:9";

const root = mkdtempSync(join(tmpdir(), "tessera-ledger-"));
let fake: FakeGcs;
let bucketSeq = 0;

beforeAll(async () => {
  fake = await startFakeGcs();
});
afterAll(async () => {
  await fake?.close();
  rmSync(root, { recursive: true, force: true });
});

/** Counts the calls a ledger makes to its store. */
function counting(store: ObjectStore): { store: ObjectStore; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { store: wrapped, calls };
}

const winners = (results: ClaimResult[]) => results.filter((r) => r.claimed);

const stores: [string, () => ObjectStore][] = [
  ["local objects", () => createLocalObjects({ root }).bucket(`ledger-${bucketSeq++}`)],
  [
    "Cloud Storage (loopback fake)",
    () => createGcpObjects({ projectId: "t", apiEndpoint: fake.url }).bucket(`ledger-${bucketSeq++}`),
  ],
];

for (const [label, makeStore] of stores) {
  describe(`run ledger on ${label}`, () => {
    it("claims, refuses a running or succeeded partition, and reruns a succeeded one with force", async () => {
      const ledger = createLedger(makeStore());
      const first = await ledger.claim({
        pipeline: "taar",
        partition: "2024-03-01",
        runId: "r1",
        params: { a: 1 },
      });
      expect(first).toEqual({
        claimed: true,
        attempt: 1,
        run: { pipeline: "taar", partition: "2024-03-01", attempt: 1 },
      });
      const again = await ledger.claim({ pipeline: "taar", partition: "2024-03-01", runId: "r2" });
      expect(again).toMatchObject({ claimed: false, state: "running", attempt: 1, runId: "r1" });
      const run = { pipeline: "taar", partition: "2024-03-01", attempt: 1 };
      await ledger.markRunning(run);
      expect(await ledger.partitionState("taar", "2024-03-01")).toMatchObject({
        state: "running",
        attempt: 1,
        runId: "r1",
      });
      await ledger.succeed(run);
      expect(await ledger.partitionState("taar", "2024-03-01")).toMatchObject({
        state: "succeeded",
        attempt: 1,
      });
      const refused = await ledger.claim({ pipeline: "taar", partition: "2024-03-01", runId: "r3" });
      expect(refused).toMatchObject({ claimed: false, state: "succeeded", attempt: 1 });
      if (!refused.claimed) expect(refused.reason).toMatch(/succeeded.*force/);
      const forced = await ledger.claim({
        pipeline: "taar",
        partition: "2024-03-01",
        runId: "r4",
        force: true,
      });
      expect(forced).toMatchObject({ claimed: true, attempt: 2 });
      // A running attempt is not taken over, even with force; cancelling it frees the partition.
      const busy = await ledger.claim({
        pipeline: "taar",
        partition: "2024-03-01",
        runId: "r5",
        force: true,
      });
      expect(busy).toMatchObject({ claimed: false, state: "running", attempt: 2 });
      if (!busy.claimed) expect(busy.reason).toMatch(/cancel it first/);
      expect(await ledger.partitionState("taar", "2024-03-01")).toMatchObject({
        state: "running",
        attempt: 2,
        runId: "r4",
      });
      expect((await ledger.getRun(run))?.params).toEqual({ a: 1 });
      expect(await ledger.partitionState("taar", "2024-03-02")).toBeUndefined();
    });

    it("records failure with its reason and cancellation; both allow the next attempt without force", async () => {
      const ledger = createLedger(makeStore());
      const p = { pipeline: "mozaggregator", partition: "2024-01-05" };
      await ledger.claim({ ...p, runId: "a" });
      await ledger.fail(
        { ...p, attempt: 1 },
        new NonRetriableError("dump has no table build_id", { field: "dump", fix: "re-export the day" }),
      );
      const failed = await ledger.partitionState(p.pipeline, p.partition);
      expect(failed).toMatchObject({
        state: "failed",
        attempt: 1,
        reason: "dump has no table build_id Fix: re-export the day",
      });
      expect(await ledger.claim({ ...p, runId: "b" })).toMatchObject({ claimed: true, attempt: 2 });
      await ledger.cancel({ ...p, attempt: 2 }, "operator cancelled backfill");
      expect(await ledger.partitionState(p.pipeline, p.partition)).toMatchObject({
        state: "cancelled",
        reason: "operator cancelled backfill",
      });
      expect(await ledger.claim({ ...p, runId: "c" })).toMatchObject({ claimed: true, attempt: 3 });
      const long = "x".repeat(5000);
      await ledger.fail({ ...p, attempt: 3 }, long);
      expect((await ledger.partitionState(p.pipeline, p.partition))?.reason).toHaveLength(1000);
      expect((await ledger.getRun({ ...p, attempt: 3 }))?.reason).toBe(long);
    });

    it("keeps one terminal state per attempt; repeats are no-ops, contradictions are errors", async () => {
      const ledger = createLedger(makeStore());
      const run = { pipeline: "causemos", partition: "model-1/run-7", attempt: 1 };
      await expect(ledger.succeed(run)).rejects.toThrow(/never claimed/);
      await ledger.claim({ pipeline: run.pipeline, partition: run.partition, runId: "r" });
      await ledger.succeed(run);
      await ledger.succeed(run);
      await expect(ledger.fail(run, "late failure")).rejects.toBeInstanceOf(NonRetriableError);
      await expect(ledger.markRunning(run)).rejects.toThrow(/already succeeded/);
      expect(await ledger.partitionState(run.pipeline, run.partition)).toMatchObject({ state: "succeeded" });
      const racing = { ...run, partition: "model-1/run-8" };
      await ledger.claim({ pipeline: racing.pipeline, partition: racing.partition, runId: "r" });
      const ends = await Promise.allSettled([
        ledger.succeed(racing),
        ledger.fail(racing, "boom"),
        ledger.cancel(racing),
      ]);
      expect(ends.filter((e) => e.status === "fulfilled")).toHaveLength(1);
    });

    it("lets exactly one of 50 concurrent claimers win, and one of 50 forced reclaimers", async () => {
      const ledger = createLedger(makeStore());
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          ledger.claim({ pipeline: "mmm", partition: "run-42", runId: `c${i}` }),
        ),
      );
      expect(winners(results)).toHaveLength(1);
      const winner = results.findIndex((r) => r.claimed);
      for (const r of results.filter((x) => !x.claimed))
        expect(r).toMatchObject({ state: "running", attempt: 1, runId: `c${winner}` });
      await ledger.succeed({ pipeline: "mmm", partition: "run-42", attempt: 1 });
      const forced = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          ledger.claim({ pipeline: "mmm", partition: "run-42", runId: `f${i}`, force: true }),
        ),
      );
      expect(winners(forced)).toEqual([
        { claimed: true, attempt: 2, run: { pipeline: "mmm", partition: "run-42", attempt: 2 } },
      ]);
    });

    it("reads every partition's latest state from ONE listing", async () => {
      const { store, calls } = counting(makeStore());
      const ledger = createLedger(store);
      const days = Array.from({ length: 24 }, (_, i) => `2024-02-${String(i + 1).padStart(2, "0")}`);
      for (const [i, day] of days.entries()) {
        const claim = await ledger.claim({
          pipeline: "mozaic-daily",
          partition: day,
          runId: `r${i}`,
          backfillId: "bf-1",
        });
        if (!claim.claimed) throw new Error("claim failed");
        if (i % 4 === 1) await ledger.succeed(claim.run);
        if (i % 4 === 2) await ledger.fail(claim.run, `bad day ${day}`);
        if (i % 4 === 3) await ledger.cancel(claim.run);
      }
      // A rerun of a failed day: its latest attempt is what counts.
      await ledger.claim({ pipeline: "mozaic-daily", partition: days[2], runId: "again" });
      await ledger.claim({ pipeline: "taar", partition: days[0], runId: "other pipeline" });
      for (const k of Object.keys(calls)) delete calls[k];
      const states = await ledger.partitionStates("mozaic-daily");
      expect(calls).toEqual({ list: 1 });
      expect(states.size).toBe(24);
      expect(states.get(days[0])).toMatchObject({
        state: "running",
        attempt: 1,
        runId: "r0",
        backfillId: "bf-1",
      });
      expect(states.get(days[1])).toMatchObject({ state: "succeeded", attempt: 1 });
      expect(states.get(days[1])?.reason).toBeUndefined();
      expect(states.get(days[2])).toMatchObject({ state: "running", attempt: 2, runId: "again" });
      expect(states.get(days[6])).toMatchObject({
        state: "failed",
        attempt: 1,
        reason: `bad day ${days[6]}`,
      });
      expect(states.get(days[3])).toMatchObject({ state: "cancelled", attempt: 1 });
      expect(Number.isNaN(Date.parse(states.get(days[3])?.updated ?? ""))).toBe(false);
    });

    it("lists runs by pipeline, state, backfill and time", async () => {
      const ledger = createLedger(makeStore());
      const a = await ledger.claim({
        pipeline: "taar",
        partition: "2024-05-01",
        runId: "a",
        backfillId: "bf-x",
      });
      const b = await ledger.claim({ pipeline: "taar", partition: "2024-05-02", runId: "b" });
      await ledger.claim({ pipeline: "mmm", partition: "m-1", runId: "c" });
      if (!a.claimed || !b.claimed) throw new Error("claims failed");
      await ledger.fail(a.run, "nope");
      await ledger.claim({ pipeline: "taar", partition: "2024-05-01", runId: "a2" });
      expect((await ledger.listRuns()).length).toBe(4);
      const taar = await ledger.listRuns({ pipeline: "taar" });
      expect(taar.map((r) => `${r.partition}#${r.attempt}`).sort()).toEqual([
        "2024-05-01#1",
        "2024-05-01#2",
        "2024-05-02#1",
      ]);
      expect((await ledger.listRuns({ state: "failed" })).map((r) => r.runId)).toEqual(["a"]);
      expect((await ledger.listRuns({ backfillId: "bf-x" })).map((r) => r.runId)).toEqual(["a"]);
      expect(await ledger.listRuns({ since: new Date(Date.now() + 3_600_000) })).toEqual([]);
      await expect(ledger.listRuns({ since: "yesterday-ish" })).rejects.toBeInstanceOf(NonRetriableError);
    });

    it("keeps backfill records create-only with their state", async () => {
      const ledger = createLedger(makeStore());
      const request = { pipeline: "taar", from: "2024-01-01", to: "2024-01-03", requestId: "req-1" };
      const plan = { entries: [{ partition: "2024-01-01", action: "run" }] };
      expect(await ledger.putBackfill({ backfillId: "bf-taar-1", pipeline: "taar", request, plan })).toEqual({
        created: true,
      });
      const dup = await ledger.putBackfill({
        backfillId: "bf-taar-1",
        pipeline: "taar",
        request: { other: true },
        plan: {},
      });
      expect(dup.created).toBe(false);
      if (!dup.created)
        expect(dup.existing).toMatchObject({ backfillId: "bf-taar-1", request, plan, state: "planned" });
      await ledger.setBackfillState("bf-taar-1", "running");
      await ledger.setBackfillState("bf-taar-1", "failed", "2 partitions failed");
      expect(await ledger.getBackfill("bf-taar-1")).toMatchObject({
        state: "failed",
        reason: "2 partitions failed",
        pipeline: "taar",
      });
      await ledger.putBackfill({
        backfillId: "bf-mmm-1",
        pipeline: "mmm",
        request: {},
        plan: {},
        state: "running",
      });
      expect((await ledger.listBackfills()).map((b) => b.backfillId).sort()).toEqual([
        "bf-mmm-1",
        "bf-taar-1",
      ]);
      expect((await ledger.listBackfills({ pipeline: "mmm" })).map((b) => [b.backfillId, b.state])).toEqual([
        ["bf-mmm-1", "running"],
      ]);
      expect(await ledger.listBackfills({ state: "succeeded" })).toEqual([]);
      expect(await ledger.getBackfill("bf-none")).toBeUndefined();
      await expect(ledger.setBackfillState("bf-none", "running")).rejects.toThrow(/does not exist/);
      await expect(ledger.setBackfillState("bf-taar-1", "done" as "running")).rejects.toBeInstanceOf(
        NonRetriableError,
      );
    });

    it("records a backfill's terminal state once: the first end holds, later ones and a late running change nothing", async () => {
      const ledger = createLedger(makeStore());
      await ledger.putBackfill({ backfillId: "bf-end-1", pipeline: "taar", request: {}, plan: {} });
      expect(await ledger.setBackfillState("bf-end-1", "running")).toMatchObject({ recorded: true });
      expect(await ledger.setBackfillState("bf-end-1", "failed", "2 partition(s) failed: a, b")).toEqual({
        recorded: true,
        state: "failed",
        reason: "2 partition(s) failed: a, b",
      });
      // A redelivered driver end, an operator's cancel and a stale `running` afterwards: nothing changes.
      for (const [state, reason] of [
        ["succeeded", "re-run"],
        ["failed", "again"],
        ["cancelled", "operator"],
        ["running", undefined],
      ] as const) {
        expect(await ledger.setBackfillState("bf-end-1", state, reason)).toEqual({
          recorded: false,
          state: "failed",
          reason: "2 partition(s) failed: a, b",
        });
      }
      expect(await ledger.getBackfill("bf-end-1")).toMatchObject({
        state: "failed",
        reason: "2 partition(s) failed: a, b",
      });
      expect((await ledger.listBackfills({ state: "failed" })).map((b) => b.backfillId)).toEqual([
        "bf-end-1",
      ]);
      expect(await ledger.listBackfills({ state: "running" })).toEqual([]);
    });

    it("lets exactly one of many concurrent backfill ends win", async () => {
      const ledger = createLedger(makeStore());
      await ledger.putBackfill({
        backfillId: "bf-end-2",
        pipeline: "taar",
        request: {},
        plan: {},
        state: "running",
      });
      const states = ["succeeded", "failed", "cancelled"] as const;
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          ledger.setBackfillState("bf-end-2", states[i % 3], `writer ${i}`),
        ),
      );
      const winners = results.filter((r) => r.recorded);
      expect(winners).toHaveLength(1);
      const final = await ledger.getBackfill("bf-end-2");
      expect(final).toMatchObject({ state: winners[0].state, reason: winners[0].reason });
      for (const r of results) expect(r.state).toBe(winners[0].state);
    });

    it("keeps a per-run event log in order", async () => {
      const ledger = createLedger(makeStore());
      const c = await ledger.claim({ pipeline: "causemos", partition: "m/r", runId: "e" });
      if (!c.claimed) throw new Error("claim failed");
      for (const step of ["validate", "aggregate", "tile"])
        await ledger.appendEvent(c.run, { type: "step", message: step });
      await ledger.appendEvent(c.run, { type: "output", data: { rows: 3 } });
      const events = await ledger.events(c.run);
      expect(events.map((e) => e.message ?? e.type)).toEqual(["validate", "aggregate", "tile", "output"]);
      expect(events[3].data).toEqual({ rows: 3 });
    });

    it("rejects bad pipeline ids, partitions and attempts", async () => {
      const ledger = createLedger(makeStore());
      await expect(ledger.claim({ pipeline: "../etc", partition: "x", runId: "r" })).rejects.toBeInstanceOf(
        NonRetriableError,
      );
      await expect(ledger.claim({ pipeline: "taar", partition: "", runId: "r" })).rejects.toBeInstanceOf(
        NonRetriableError,
      );
      await expect(ledger.claim({ pipeline: "taar", partition: "x", runId: "" })).rejects.toBeInstanceOf(
        NonRetriableError,
      );
      await expect(ledger.succeed({ pipeline: "taar", partition: "x", attempt: 0 })).rejects.toBeInstanceOf(
        NonRetriableError,
      );
      // Partitions that look like paths stay one segment and come back intact.
      const odd = "../a/./b..c";
      expect(await ledger.claim({ pipeline: "taar", partition: odd, runId: "r" })).toMatchObject({
        claimed: true,
      });
      expect([...(await ledger.partitionStates("taar")).keys()]).toEqual([odd]);
    });
  });
}

describe("run ledger across processes (local store)", () => {
  it("gives exactly one winner among 2 processes x 15 claimers, and again for forced reclaims", async () => {
    const child = fileURLToPath(new URL("./claim-child.ts", import.meta.url));
    const race = async (force: boolean) => {
      const outs = await Promise.all(
        Array.from({ length: 2 }, (_, p) =>
          promisify(execFile)(
            process.execPath,
            [
              "--import",
              "tsx",
              child,
              root,
              "mozaic-daily",
              "2024-06-01",
              "15",
              `p${p}`,
              force ? "force" : "",
            ],
            { cwd: fileURLToPath(new URL("../..", import.meta.url)) },
          ),
        ),
      );
      return outs.flatMap((o) => JSON.parse(o.stdout) as ClaimResult[]);
    };
    const first = await race(false);
    expect(first).toHaveLength(30);
    expect(winners(first)).toHaveLength(1);
    const ledger = createLedger(createLocalObjects({ root }).bucket("ledger-race"));
    await ledger.succeed({ pipeline: "mozaic-daily", partition: "2024-06-01", attempt: 1 });
    const second = await race(true);
    expect(winners(second)).toEqual([expect.objectContaining({ claimed: true, attempt: 2 })]);
    expect(await ledger.partitionState("mozaic-daily", "2024-06-01")).toMatchObject({
      state: "running",
      attempt: 2,
    });
  });
});
