import { PubSub } from "@google-cloud/pubsub";
import { afterAll, describe, expect, it } from "vitest";
import { createGcpBus, subscriptionMetadata } from "../../shared/adapters/gcp/messages.ts";
import { uniqueName } from "../helpers/wait.ts";
import { describeMessageBusContract } from "./messages-contract.ts";

// Runs against the pstest fake started by test/global-setup.ts (PUBSUB_EMULATOR_HOST).
const projectId = "test-project";

describeMessageBusContract("Pub/Sub adapter on pstest", () => createGcpBus({ projectId }));

describe("Pub/Sub adapter: subscription settings", () => {
  const admin = new PubSub({ projectId });
  afterAll(() => admin.close());

  it("creates the subscription with ack deadline, retry policy and dead-letter policy", async () => {
    const bus = createGcpBus({ projectId });
    const topic = uniqueName("t");
    const dlq = uniqueName("dlq");
    const name = uniqueName("s");
    const sub = await bus.subscribe(name, topic, async () => {}, {
      ackDeadlineSeconds: 30,
      minBackoffSeconds: 5,
      maxBackoffSeconds: 120,
      deadLetterTopic: dlq,
      maxDeliveryAttempts: 7,
    });
    const [metadata] = await admin.subscription(name).getMetadata();
    expect(metadata.topic).toBe(`projects/${projectId}/topics/${topic}`);
    expect(metadata.ackDeadlineSeconds).toBe(30);
    expect(metadata.deadLetterPolicy).toMatchObject({
      deadLetterTopic: `projects/${projectId}/topics/${dlq}`,
      maxDeliveryAttempts: 7,
    });
    expect(Number(metadata.retryPolicy?.minimumBackoff?.seconds)).toBe(5);
    expect(Number(metadata.retryPolicy?.maximumBackoff?.seconds)).toBe(120);
    const [exists] = await admin.topic(dlq).exists();
    expect(exists).toBe(true);
    await sub.close();
    await bus.close();
  });

  it("uses Pub/Sub's defaults when no options are given", () => {
    expect(subscriptionMetadata("p", {})).toEqual({
      ackDeadlineSeconds: 60,
      retryPolicy: { minimumBackoff: { seconds: 10 }, maximumBackoff: { seconds: 600 } },
    });
  });
});
