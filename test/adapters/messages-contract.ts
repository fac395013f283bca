import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Message, MessageBus } from "../../shared/adapters/ports.ts";
import { NotFoundError } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { sleep, uniqueName, waitFor } from "../helpers/wait.ts";

/**
 * The message-bus contract both adapters pass. It is written to hold on the pstest fake too, which keeps no
 * delivery order, never dead-letters by policy, and may re-lease a message nacked right after receipt (it uses the
 * message id as ack id, so the client's first lease extension can land after the nack): handlers that fail do so
 * after a short pause, and nothing here depends on order or on policy dead-lettering. Dead-lettering after
 * maxDeliveryAttempts and the backoff schedule are tested on the local bus only (messages-local.test.ts).
 */
export function describeMessageBusContract(
  label: string,
  makeBus: () => Promise<MessageBus> | MessageBus,
): void {
  describe(`MessageBus contract: ${label}`, () => {
    let bus: MessageBus;
    beforeAll(async () => {
      bus = await makeBus();
    });
    afterAll(async () => {
      await bus.close();
    });

    it("delivers data, attributes, the publish id and a publish time", async () => {
      const topic = uniqueName("t");
      const got: Message[] = [];
      await bus.ensureTopic(topic);
      const sub = await bus.subscribe(uniqueName("s"), topic, async (m) => {
        got.push(m);
      });
      const bytes = Buffer.from([0, 255, 1, 128]);
      const id = await bus.publish(topic, bytes, { kind: "raw", "with space": "é" });
      const id2 = await bus.publish(topic, { run: "r1", n: 2 });
      await waitFor(() => got.length >= 2, "two deliveries");
      const raw = got.find((m) => m.id === id) as Message;
      expect(raw.data.equals(bytes)).toBe(true);
      expect(raw.attributes).toEqual({ kind: "raw", "with space": "é" });
      expect(Number.isNaN(Date.parse(raw.publishTime))).toBe(false);
      expect(raw.deliveryAttempt).toBeGreaterThanOrEqual(1);
      const json = got.find((m) => m.id === id2) as Message;
      expect(JSON.parse(json.data.toString())).toEqual({ run: "r1", n: 2 });
      await sub.close();
    });

    it("gives every subscription of a topic its own copy", async () => {
      const topic = uniqueName("t");
      const a: string[] = [];
      const b: string[] = [];
      const subA = await bus.subscribe(uniqueName("a"), topic, async (m) => {
        a.push(m.data.toString());
      });
      const subB = await bus.subscribe(uniqueName("b"), topic, async (m) => {
        b.push(m.data.toString());
      });
      await Promise.all(["1", "2", "3"].map((d) => bus.publish(topic, d)));
      await waitFor(() => a.length >= 3 && b.length >= 3, "three copies each");
      expect([...a].sort()).toEqual(["1", "2", "3"]);
      expect([...b].sort()).toEqual(["1", "2", "3"]);
      await Promise.all([subA.close(), subB.close()]);
    });

    it("redelivers a message whose handler threw, until it succeeds", async () => {
      const topic = uniqueName("t");
      const attempts = new Map<string, number>();
      let acked = 0;
      const sub = await bus.subscribe(
        uniqueName("s"),
        topic,
        async (m) => {
          const n = (attempts.get(m.id) ?? 0) + 1;
          attempts.set(m.id, n);
          if (n === 1) {
            await sleep(300);
            throw new Error("transient");
          }
          acked += 1;
        },
        { minBackoffSeconds: 0, maxBackoffSeconds: 1 },
      );
      const id = await bus.publish(topic, "again");
      await waitFor(() => acked === 1, "the redelivery to succeed");
      expect(attempts.get(id)).toBe(2);
      await sub.close();
    });

    it("keeps messages for a subscription while it has no handler", async () => {
      const topic = uniqueName("t");
      const name = uniqueName("s");
      const first = await bus.subscribe(name, topic, async () => {});
      await first.close();
      await bus.publish(topic, "while away");
      const got: string[] = [];
      const second = await bus.subscribe(name, topic, async (m) => {
        got.push(m.data.toString());
      });
      await waitFor(() => got.length === 1, "the waiting message");
      expect(got).toEqual(["while away"]);
      await second.close();
    });

    it("close() waits for handlers in flight", async () => {
      const topic = uniqueName("t");
      let started = false;
      let finished = false;
      const sub = await bus.subscribe(uniqueName("s"), topic, async () => {
        started = true;
        await sleep(200);
        finished = true;
      });
      await bus.publish(topic, "slow");
      await waitFor(() => started, "the handler to start");
      await sub.close();
      expect(finished).toBe(true);
    });

    it("dead-letters a NonRetriableError at once with its reason", async () => {
      const topic = uniqueName("t");
      const dlq = uniqueName("dlq");
      const subName = uniqueName("s");
      const dead: Message[] = [];
      let calls = 0;
      await bus.ensureTopic(dlq);
      const deadSub = await bus.subscribe(uniqueName("d"), dlq, async (m) => {
        dead.push(m);
      });
      const sub = await bus.subscribe(
        subName,
        topic,
        async () => {
          calls += 1;
          throw new NonRetriableError("partition is not a date", {
            field: "partition",
            fix: "send YYYY-MM-DD",
          });
        },
        { deadLetterTopic: dlq, maxDeliveryAttempts: 5 },
      );
      await bus.publish(topic, "bad", { pipeline: "taar" });
      const [letter] = await waitFor(() => (dead.length > 0 ? dead : undefined), "the dead letter");
      expect(letter.data.toString()).toBe("bad");
      expect(letter.attributes.pipeline).toBe("taar");
      expect(letter.attributes.CloudPubSubDeadLetterSourceSubscription).toContain(subName);
      expect(letter.attributes.TesseraDeadLetterReason).toMatch(/partition is not a date.*YYYY-MM-DD/);
      expect(calls).toBe(1);
      await Promise.all([sub.close(), deadSub.close()]);
    });

    it("rejects a publish to a missing topic and an empty message", async () => {
      await expect(bus.publish(uniqueName("missing"), "x")).rejects.toBeInstanceOf(NotFoundError);
      const topic = uniqueName("t");
      await bus.ensureTopic(topic);
      await expect(bus.publish(topic, "")).rejects.toBeInstanceOf(NonRetriableError);
      await expect(bus.publish(topic, "x", { goog: "no" })).rejects.toThrow(/goog/);
      await expect(bus.ensureTopic("x")).rejects.toThrow(/topic name/);
    });
  });
}
