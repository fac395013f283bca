import { describe, expect, it } from "vitest";
import { createLocalBus, type Timers } from "../../shared/adapters/local/messages.ts";
import type { Message } from "../../shared/adapters/ports.ts";
import { describeMessageBusContract } from "./messages-contract.ts";

describeMessageBusContract("local bus", () => createLocalBus({ backoffScale: 0.001 }));

/** Timers that record each requested delay and fire only when the test says so. */
function manualTimers() {
  const scheduled: { fn: () => void; ms: number; handle: number; fired: boolean }[] = [];
  let next = 1;
  const timers: Timers = {
    setTimeout(fn, ms) {
      const entry = { fn, ms, handle: next++, fired: false };
      scheduled.push(entry);
      return entry.handle;
    },
    clearTimeout(handle) {
      const entry = scheduled.find((e) => e.handle === handle);
      if (entry) entry.fired = true;
    },
  };
  const fireAll = () => {
    for (const entry of scheduled) {
      if (!entry.fired) {
        entry.fired = true;
        entry.fn();
      }
    }
  };
  return { timers, scheduled, fireAll };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("local bus: retry, backoff and dead-lettering (not testable on pstest)", () => {
  it("backs off exponentially between min and max, counts attempts, then dead-letters", async () => {
    const clock = manualTimers();
    const bus = createLocalBus({ timers: clock.timers });
    const attempts: number[] = [];
    const dead: Message[] = [];
    await bus.subscribe("dead-watch", "runs-dlq", async (m) => {
      dead.push(m);
    });
    await bus.subscribe(
      "runs-sub",
      "runs",
      async (m) => {
        attempts.push(m.deliveryAttempt);
        throw new Error("upstream busy");
      },
      { minBackoffSeconds: 10, maxBackoffSeconds: 35, maxDeliveryAttempts: 5, deadLetterTopic: "runs-dlq" },
    );
    const id = await bus.publish("runs", "payload", { pipeline: "mmm" });
    for (let i = 0; i < 10 && dead.length === 0; i++) {
      await tick();
      clock.fireAll();
      await tick();
    }
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    expect(clock.scheduled.map((s) => s.ms)).toEqual([10_000, 20_000, 35_000, 35_000]);
    expect(dead).toHaveLength(1);
    expect(dead[0].id).not.toBe(id);
    expect(dead[0].data.toString()).toBe("payload");
    expect(dead[0].attributes).toMatchObject({
      pipeline: "mmm",
      CloudPubSubDeadLetterSourceSubscription: "runs-sub",
      CloudPubSubDeadLetterSourceDeliveryCount: "5",
      TesseraDeadLetterReason: "upstream busy",
    });
    await bus.idle();
    expect(bus.stats()).toMatchObject({ published: 2, deadLettered: 1, nacked: 5 });
    await bus.close();
  });

  it("without a dead-letter topic keeps retrying with the capped backoff", async () => {
    const clock = manualTimers();
    const bus = createLocalBus({ timers: clock.timers });
    let calls = 0;
    await bus.subscribe(
      "forever",
      "t-forever",
      async () => {
        calls += 1;
        throw new Error("nope");
      },
      { minBackoffSeconds: 1, maxBackoffSeconds: 4, maxDeliveryAttempts: 5 },
    );
    await bus.publish("t-forever", "x");
    for (let i = 0; i < 8; i++) {
      await tick();
      clock.fireAll();
      await tick();
    }
    expect(calls).toBeGreaterThan(5);
    expect(clock.scheduled.slice(0, 5).map((s) => s.ms)).toEqual([1000, 2000, 4000, 4000, 4000]);
    await bus.close();
    expect(clock.scheduled.every((s) => s.fired)).toBe(true);
  });

  it("idle() resolves once every delivery and redelivery has settled", async () => {
    const bus = createLocalBus({ backoffScale: 0.001 });
    const seen = new Map<string, number>();
    await bus.subscribe(
      "idle-sub",
      "idle-topic",
      async (m) => {
        const n = (seen.get(m.id) ?? 0) + 1;
        seen.set(m.id, n);
        if (n < 3) throw new Error("retry me");
      },
      { minBackoffSeconds: 1, maxBackoffSeconds: 2 },
    );
    await Promise.all(Array.from({ length: 20 }, (_, i) => bus.publish("idle-topic", `m${i}`)));
    await bus.idle();
    expect([...seen.values()]).toEqual(Array(20).fill(3));
    await bus.close();
  });

  it("does not deliver to a subscription messages published before it existed", async () => {
    const bus = createLocalBus();
    await bus.ensureTopic("early");
    await bus.publish("early", "before");
    const got: string[] = [];
    await bus.subscribe("late-sub", "early", async (m) => {
      got.push(m.data.toString());
    });
    await bus.publish("early", "after");
    await bus.idle();
    expect(got).toEqual(["after"]);
    await bus.close();
  });

  it("refuses a second handler for one subscription and a subscription moved to another topic", async () => {
    const bus = createLocalBus();
    await bus.subscribe("one", "topic-a", async () => {});
    await expect(bus.subscribe("one", "topic-a", async () => {})).rejects.toThrow(/already has a handler/);
    await expect(bus.subscribe("one", "topic-b", async () => {})).rejects.toThrow(
      /attached to topic topic-a/,
    );
    await bus.close();
  });
});
