import type { Message } from "../../shared/adapters/ports.ts";
import {
  type CloudEvent,
  encodePubsubCloudEvent,
  type PushEnvelope,
  toBinaryRequest,
  toStructuredRequest,
} from "../../shared/adapters/pubsub-envelope.ts";

/**
 * A CloudEvent builder for function tests: the messagePublished event Eventarc delivers for a Pub/Sub message
 * whose data is `payload` (JSON-encoded unless already a Buffer or string).
 */

export interface PubsubEventOptions {
  project?: string;
  topic?: string;
  subscription?: string;
  attributes?: Record<string, string>;
  id?: string;
  publishTime?: string;
  deliveryAttempt?: number;
}

let counter = 0;

export function pubsubMessage(payload: unknown, options: PubsubEventOptions = {}): Message {
  counter += 1;
  const data = Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
  return {
    id: options.id ?? `${1_000_000 + counter}`,
    data,
    attributes: options.attributes ?? {},
    publishTime: options.publishTime ?? new Date().toISOString(),
    deliveryAttempt: options.deliveryAttempt ?? 1,
  };
}

export function pubsubCloudEvent(
  payload: unknown,
  options: PubsubEventOptions = {},
): CloudEvent<PushEnvelope> {
  return encodePubsubCloudEvent(pubsubMessage(payload, options), {
    project: options.project ?? "test-project",
    topic: options.topic ?? "test-topic",
    subscription: options.subscription ?? "test-subscription",
  });
}

/** Headers and body to POST the event in binary (`ce-*` headers) or structured mode. */
export function pubsubRequest(
  payload: unknown,
  mode: "binary" | "structured",
  options: PubsubEventOptions = {},
): { headers: Record<string, string>; body: string } {
  const event = pubsubCloudEvent(payload, options);
  return mode === "binary" ? toBinaryRequest(event) : toStructuredRequest(event);
}
