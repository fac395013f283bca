import { describe, expect, it } from "vitest";
import { BackfillRequest, parseContract } from "../../shared/contracts/v1/index.ts";
import {
  type PartitionState,
  type PlanTarget,
  partitionsToRun,
  planBackfill,
} from "../../shared/core/backfill.ts";
import { addDays, formatDay } from "../../shared/core/dates.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

const NOW = new Date("2024-07-01T12:00:00Z");
const daily: PlanTarget = {
  id: "demo",
  partition: { kind: "daily", latest: (now) => formatDay(addDays(now, -1)) },
};
const keyed: PlanTarget = { id: "keyed", partition: { kind: "key" } };
const req = (r: Record<string, unknown>) =>
  parseContract(BackfillRequest, { pipeline: "demo", requestId: "r1", ...r }, "backfill request");

describe("backfill plans", () => {
  const states = new Map<string, PartitionState>([
    ["2024-06-01", "succeeded"],
    ["2024-06-02", "failed"],
    ["2024-06-03", "running"],
    ["2024-06-04", "cancelled"],
  ]);
  const table: { reprocess: "missing" | "failed" | "all"; actions: string[] }[] = [
    { reprocess: "missing", actions: ["skip", "skip", "skip", "skip", "run"] },
    { reprocess: "failed", actions: ["skip", "rerun", "skip", "rerun", "run"] },
    { reprocess: "all", actions: ["rerun", "rerun", "skip", "rerun", "run"] },
  ];
  for (const t of table) {
    it(`reprocess=${t.reprocess}`, () => {
      const plan = planBackfill(
        daily,
        req({ from: "2024-06-01", to: "2024-06-05", reprocess: t.reprocess }),
        states,
        { now: NOW },
      );
      expect(plan.entries.map((e) => e.action)).toEqual(t.actions);
      for (const e of plan.entries) if (e.action !== "run") expect(e.reason, e.partition).toBeTruthy();
      expect(plan.entries[0].weekday).toBe("saturday");
      expect(plan.counts.run + plan.counts.rerun + plan.counts.skip).toBe(5);
    });
  }

  it("orders, filters weekdays and merges explicit dates", () => {
    const plan = planBackfill(
      daily,
      req({
        from: "2024-06-01",
        to: "2024-06-14",
        weekdays: ["monday"],
        order: "desc",
        dates: ["2024-05-01"],
      }),
      new Map(),
      { now: NOW },
    );
    expect(partitionsToRun(plan)).toEqual(["2024-06-10", "2024-06-03"]);
    const plan2 = planBackfill(daily, req({ dates: ["2024-05-03", "2024-05-01", "2024-05-03"] }), new Map(), {
      now: NOW,
    });
    expect(partitionsToRun(plan2)).toEqual(["2024-05-01", "2024-05-03"]);
  });

  it("gives one backfill id per request id", () => {
    const a = planBackfill(daily, req({ from: "2024-06-01" }), new Map(), { now: NOW });
    const b = planBackfill(daily, req({ from: "2024-06-01" }), new Map(), { now: NOW });
    expect(a.backfillId).toBe(b.backfillId);
    expect(a.entries.map((e) => e.partition)).toEqual(["2024-06-01"]);
  });

  const rejects: {
    name: string;
    request: Record<string, unknown>;
    target?: PlanTarget;
    field: string;
    message: RegExp;
  }[] = [
    {
      name: "from after to",
      request: { from: "2024-06-05", to: "2024-06-01" },
      field: "from",
      message: /after/,
    },
    {
      name: "future partitions",
      request: { from: "2024-06-25", to: "2024-07-03" },
      field: "to",
      message: /future.*latest that may run now is 2024-06-30/,
    },
    {
      name: "impossible date",
      request: { from: "2024-02-30" },
      field: "from",
      message: /not a calendar date/,
    },
    {
      name: "bad weekday",
      request: { from: "2024-06-01", weekdays: ["mon", "funday"] },
      field: "weekdays.1",
      message: /day of the week/,
    },
    {
      name: "too many",
      request: { from: "2000-01-01", to: "2024-06-01" },
      field: "to",
      message: /at most 3660/,
    },
    { name: "nothing named", request: {}, field: "from", message: /needs `from`/ },
    {
      name: "range on key partitions",
      request: { from: "2024-06-01" },
      target: keyed,
      field: "from",
      message: /cannot be enumerated/,
    },
    {
      name: "weekday on key partitions",
      request: { dates: ["m/r"], weekdays: ["mon"] },
      target: keyed,
      field: "weekdays",
      message: /daily partitions only/,
    },
  ];
  for (const r of rejects) {
    it(`rejects ${r.name} naming ${r.field}`, () => {
      let caught: unknown;
      try {
        planBackfill(r.target ?? daily, req(r.request), new Map(), { now: NOW });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(NonRetriableError);
      expect((caught as NonRetriableError).field).toBe(r.field);
      expect((caught as Error).message).toMatch(r.message);
    });
  }

  it("plans key partitions from dates", () => {
    const plan = planBackfill(
      keyed,
      req({ pipeline: "keyed", dates: ["m1/r1", "m1/r2"] }),
      new Map([["m1/r1", "succeeded"]]),
    );
    expect(plan.entries.map((e) => [e.partition, e.action])).toEqual([
      ["m1/r1", "skip"],
      ["m1/r2", "run"],
    ]);
    expect(plan.entries[0].weekday).toBeUndefined();
  });

  it("plans 3,650 daily partitions", () => {
    const plan = planBackfill(daily, req({ from: "2014-07-03", to: "2024-06-30" }), new Map(), { now: NOW });
    expect(plan.entries).toHaveLength(3651);
    expect(plan.entries[0].partition).toBe("2014-07-03");
    expect(plan.entries.at(-1)!.partition).toBe("2024-06-30");
  });
});

describe("fuzzed backfill requests", () => {
  // A tiny seeded generator: every request either plans or is rejected with a NonRetriableError; none crashes.
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const values = (): unknown =>
    pick<unknown>([
      undefined,
      null,
      0,
      -1,
      1.5,
      1e9,
      "",
      "2024-06-01",
      "2024-02-30",
      "2024-06",
      "1999-12-31",
      "2030-01-01",
      "x",
      true,
      [],
      {},
      ["monday"],
      ["2024-06-01", "bad"],
      { a: 1 },
      "missing",
      "failed",
      "all",
      "asc",
      "desc",
      3,
      100,
      101,
    ]);
  const fields = [
    "pipeline",
    "from",
    "to",
    "dates",
    "weekdays",
    "reprocess",
    "maxConcurrent",
    "order",
    "dryRun",
    "params",
    "requestId",
    "extra",
  ];

  it("never crashes on 2,000 random requests", () => {
    let planned = 0;
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const msg: Record<string, unknown> = { pipeline: "demo", requestId: `r${i}`, from: "2024-06-01" };
      for (const f of fields) if (rand() < 0.15) msg[f] = values();
      try {
        const request = parseContract(BackfillRequest, msg, "backfill request");
        const plan = planBackfill(daily, request, new Map(), { now: NOW });
        expect(plan.entries.length).toBeGreaterThan(0);
        planned++;
      } catch (e) {
        expect(e, JSON.stringify(msg)).toBeInstanceOf(NonRetriableError);
        expect((e as Error).message.length).toBeGreaterThan(10);
        rejected++;
      }
    }
    expect(planned).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});

describe("empty selections", () => {
  it("rejects a weekday filter that leaves nothing", () => {
    expect(() =>
      planBackfill(daily, req({ from: "2024-06-01", weekdays: ["monday"] }), new Map(), { now: NOW }),
    ).toThrow(/no monday falls between 2024-06-01 and 2024-06-01/);
  });
});
