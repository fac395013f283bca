import * as ff from "@google-cloud/functions-framework";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import request from "supertest";
import { describe, expect, it } from "vitest";
import type { Message } from "../../shared/adapters/ports.ts";
import {
  type CloudEvent,
  decodePubsubCloudEvent,
  decodePubsubRequest,
  decodePushEnvelope,
  encodePubsubCloudEvent,
  encodePushEnvelope,
  messageJson,
  PUBSUB_CLOUDEVENT_TYPE,
  toBinaryRequest,
  toStructuredRequest,
} from "../../shared/adapters/pubsub-envelope.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { pubsubCloudEvent, pubsubMessage } from "../helpers/cloudevent.ts";

const names = { project: "p1", topic: "runs", subscription: "runs-sub" };
const binaryPayload = Buffer.from([0, 1, 2, 250, 255, 10]);

function sample(): Message {
  return {
    id: "4242",
    data: binaryPayload,
    attributes: { pipeline: "taar", "x-y": "ü" },
    publishTime: "2026-01-02T03:04:05.678Z",
    deliveryAttempt: 3,
  };
}

describe("push envelope", () => {
  it("round-trips data bytes, attributes, id, publish time and delivery attempt", () => {
    const body = encodePushEnvelope(sample(), "projects/p1/subscriptions/runs-sub");
    expect(body.message.data).toBe(binaryPayload.toString("base64"));
    expect(body.message.message_id).toBe("4242");
    const decoded = decodePushEnvelope(JSON.stringify(body));
    expect(decoded.subscription).toBe("projects/p1/subscriptions/runs-sub");
    expect(decoded.message).toEqual(sample());
  });

  it("accepts the snake_case twins and no data (attributes-only message)", () => {
    const decoded = decodePushEnvelope({
      message: { message_id: "7", publish_time: "2026-01-02T00:00:00Z", attributes: { a: "b" } },
      subscription: "projects/p/subscriptions/s",
    });
    expect(decoded.message.id).toBe("7");
    expect(decoded.message.data.length).toBe(0);
    expect(decoded.message.deliveryAttempt).toBe(1);
  });

  it.each([
    ["not JSON", "{oops", "body"],
    ["no message", { subscription: "s" }, "message"],
    ["no subscription", { message: { messageId: "1", publishTime: "2026-01-01T00:00:00Z" } }, "subscription"],
    ["no id", { message: { publishTime: "2026-01-01T00:00:00Z" }, subscription: "s" }, "message.messageId"],
    [
      "bad time",
      { message: { messageId: "1", publishTime: "yesterday" }, subscription: "s" },
      "message.publishTime",
    ],
    [
      "bad base64",
      {
        message: { messageId: "1", publishTime: "2026-01-01T00:00:00Z", data: "!!not base64" },
        subscription: "s",
      },
      "message.data",
    ],
    [
      "non-string attribute",
      {
        message: { messageId: "1", publishTime: "2026-01-01T00:00:00Z", attributes: { n: 5 } },
        subscription: "s",
      },
      "message.attributes.n",
    ],
  ])("rejects %s with a NonRetriableError naming the field", (_, body, field) => {
    try {
      decodePushEnvelope(body);
      expect.unreachable("decode should throw");
    } catch (err) {
      expect(err).toBeInstanceOf(NonRetriableError);
      expect((err as NonRetriableError).field).toBe(field);
    }
  });
});

describe("messagePublished CloudEvent", () => {
  it("has Eventarc's type, source, id and time, and the push body as data", () => {
    const event = encodePubsubCloudEvent(sample(), names);
    expect(event).toMatchObject({
      specversion: "1.0",
      type: PUBSUB_CLOUDEVENT_TYPE,
      source: "//pubsub.googleapis.com/projects/p1/topics/runs",
      id: "4242",
      time: "2026-01-02T03:04:05.678Z",
    });
    const decoded = decodePubsubCloudEvent(event);
    expect(decoded.topic).toBe("projects/p1/topics/runs");
    expect(decoded.subscription).toBe("projects/p1/subscriptions/runs-sub");
    expect(decoded.message).toEqual(sample());
  });

  it("decodes binary and structured HTTP requests and bare push requests alike", () => {
    const event = encodePubsubCloudEvent(sample(), names);
    const binary = toBinaryRequest(event);
    expect(binary.headers["ce-type"]).toBe(PUBSUB_CLOUDEVENT_TYPE);
    expect(binary.headers["content-type"]).toBe("application/json");
    const structured = toStructuredRequest(event);
    expect(structured.headers["content-type"]).toMatch(/^application\/cloudevents\+json/);
    for (const req of [binary, structured]) {
      expect(decodePubsubRequest(req.headers, req.body).message).toEqual(sample());
    }
    const push = encodePushEnvelope(sample(), "projects/p1/subscriptions/runs-sub");
    expect(decodePubsubRequest({ "Content-Type": "application/json" }, JSON.stringify(push)).message).toEqual(
      sample(),
    );
  });

  it("rejects a foreign event type and a missing binary-mode header", () => {
    const event = {
      ...encodePubsubCloudEvent(sample(), names),
      type: "google.cloud.storage.object.v1.finalized",
    };
    expect(() => decodePubsubCloudEvent(event)).toThrow(/type is/);
    const binary = toBinaryRequest(encodePubsubCloudEvent(sample(), names));
    delete binary.headers["ce-source"];
    try {
      decodePubsubRequest(binary.headers, binary.body);
      expect.unreachable();
    } catch (err) {
      expect((err as NonRetriableError).field).toBe("ce-source");
    }
  });

  it("messageJson names message.data on non-JSON payloads", () => {
    expect(messageJson(pubsubMessage({ a: 1 }))).toEqual({ a: 1 });
    expect(() => messageJson(pubsubMessage("not json"))).toThrow(NonRetriableError);
  });
});

describe("through the functions framework", () => {
  const seen: CloudEvent[] = [];
  ff.cloudEvent("envelopeProbe", (event: ff.CloudEvent<unknown>) => {
    seen.push(event as unknown as CloudEvent);
  });

  it.each(["binary", "structured"] as const)(
    "a %s-mode request reaches the handler decodable",
    async (mode) => {
      seen.length = 0;
      const event = pubsubCloudEvent({ run: "r1" }, { attributes: { k: "v" }, id: `id-${mode}` });
      const req = mode === "binary" ? toBinaryRequest(event) : toStructuredRequest(event);
      const server = getTestServer("envelopeProbe");
      await request(server).post("/").set(req.headers).send(req.body).expect(204);
      expect(seen).toHaveLength(1);
      const decoded = decodePubsubCloudEvent(seen[0]);
      expect(decoded.message.id).toBe(`id-${mode}`);
      expect(decoded.message.attributes).toEqual({ k: "v" });
      expect(messageJson(decoded.message)).toEqual({ run: "r1" });
    },
  );

  it("a bare push request is converted by the framework into an event we decode", async () => {
    seen.length = 0;
    const push = encodePushEnvelope(pubsubMessage({ run: "r2" }, { id: "99" }), "projects/p/subscriptions/s");
    const server = getTestServer("envelopeProbe");
    await request(server)
      .post("/projects/p/topics/t")
      .set("content-type", "application/json")
      .send(JSON.stringify(push))
      .expect(204);
    expect(seen).toHaveLength(1);
    const decoded = decodePubsubCloudEvent(seen[0]);
    expect(decoded.message.id).toBe("99");
    expect(messageJson(decoded.message)).toEqual({ run: "r2" });
  });
});
