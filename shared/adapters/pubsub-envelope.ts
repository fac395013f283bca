import { NonRetriableError } from "../core/errors.ts";
import type { Message } from "./ports.ts";

/**
 * The one place that encodes and decodes Pub/Sub messages on HTTP, as Google delivers them to a function:
 *
 * - a Pub/Sub push request: `POST` JSON `{message: {data, attributes, messageId, publishTime}, subscription}`
 *   (`data` is base64; Pub/Sub also sends the snake_case twins `message_id`, `publish_time`, and a top-level
 *   `deliveryAttempt` when the subscription has a dead-letter policy);
 * - an Eventarc CloudEvent of type `google.cloud.pubsub.topic.v1.messagePublished` whose `data` is that same push
 *   body, in binary mode (`ce-*` headers, the body is `data`) or structured mode
 *   (`content-type: application/cloudevents+json`, the body is the whole event).
 *
 * The local twin's function host encodes with these; the functions decode with them. Malformed input raises a
 * NonRetriableError naming the field, so the message is not retried forever.
 */

export const PUBSUB_CLOUDEVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished";
export const CLOUDEVENTS_JSON = "application/cloudevents+json";

export interface PushMessage {
  data?: string;
  attributes?: Record<string, string>;
  messageId: string;
  message_id?: string;
  publishTime: string;
  publish_time?: string;
  orderingKey?: string;
}

/** The JSON body of a Pub/Sub push request (and the `data` of a messagePublished CloudEvent). */
export interface PushEnvelope {
  message: PushMessage;
  /** `projects/P/subscriptions/S`. */
  subscription: string;
  deliveryAttempt?: number;
}

/** A CloudEvent as the functions framework hands it to a `cloudEvent` handler. */
export interface CloudEvent<T = unknown> {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time?: string;
  subject?: string;
  datacontenttype?: string;
  data?: T;
  [extension: string]: unknown;
}

export interface HttpRequestShape {
  headers: Record<string, string>;
  body: string;
}

export interface DecodedPubsub {
  message: Message;
  /**
   * `projects/P/subscriptions/S`, as sent. Always present on a push request; absent on the CloudEvent the
   * functions framework makes from a bare push request (its conversion drops it).
   */
  subscription?: string;
  /** `projects/P/topics/T` from a CloudEvent's source; undefined for a bare push request. */
  topic?: string;
}

export interface PubsubNames {
  project: string;
  topic: string;
  subscription: string;
}

// ---------------------------------------------------------------- encode

export function subscriptionPath(project: string, subscription: string): string {
  return subscription.startsWith("projects/")
    ? subscription
    : `projects/${project}/subscriptions/${subscription}`;
}

export function topicPath(project: string, topic: string): string {
  return topic.startsWith("projects/") ? topic : `projects/${project}/topics/${topic}`;
}

/** The push request body Pub/Sub would POST for this message. */
export function encodePushEnvelope(message: Message, subscription: string): PushEnvelope {
  const body: PushEnvelope = {
    message: {
      data: message.data.toString("base64"),
      attributes: { ...message.attributes },
      messageId: message.id,
      message_id: message.id,
      publishTime: message.publishTime,
      publish_time: message.publishTime,
    },
    subscription,
  };
  if (message.deliveryAttempt > 0) body.deliveryAttempt = message.deliveryAttempt;
  return body;
}

/** The messagePublished CloudEvent Eventarc would deliver for this message. */
export function encodePubsubCloudEvent(message: Message, names: PubsubNames): CloudEvent<PushEnvelope> {
  const envelope = encodePushEnvelope(message, subscriptionPath(names.project, names.subscription));
  return {
    specversion: "1.0",
    id: message.id,
    source: `//pubsub.googleapis.com/${topicPath(names.project, names.topic)}`,
    type: PUBSUB_CLOUDEVENT_TYPE,
    time: message.publishTime,
    datacontenttype: "application/json",
    data: envelope,
  };
}

/** Binary content mode: attributes in `ce-*` headers, `data` as the JSON body. */
export function toBinaryRequest(event: CloudEvent): HttpRequestShape {
  const headers: Record<string, string> = {
    "content-type": event.datacontenttype ?? "application/json",
  };
  for (const [key, value] of Object.entries(event)) {
    if (key === "data" || key === "datacontenttype" || value === undefined) continue;
    headers[`ce-${key}`] = String(value);
  }
  return { headers, body: event.data === undefined ? "" : JSON.stringify(event.data) };
}

/** Structured content mode: the whole event as `application/cloudevents+json`. */
export function toStructuredRequest(event: CloudEvent): HttpRequestShape {
  return { headers: { "content-type": `${CLOUDEVENTS_JSON}; charset=utf-8` }, body: JSON.stringify(event) };
}

// ---------------------------------------------------------------- decode

/** Decode a push request body (parsed JSON or raw text/Buffer). */
export function decodePushEnvelope(body: unknown): DecodedPubsub {
  const value = parseJsonBody(body, "body");
  const envelope = asObject(value, "body", "POST the Pub/Sub push JSON {message, subscription}");
  return decodeEnvelopeObject(envelope, "", true);
}

/** Decode the messagePublished CloudEvent a function received (the functions framework's parsed event). */
export function decodePubsubCloudEvent(event: unknown): DecodedPubsub {
  const ce = asObject(event, "event", "deliver a CloudEvent");
  requireString(ce, "specversion", "", "send CloudEvents 1.0");
  requireString(ce, "id", "", "give the event an id");
  const source = requireString(ce, "source", "", "set source to //pubsub.googleapis.com/projects/P/topics/T");
  const type = requireString(ce, "type", "", `set type to ${PUBSUB_CLOUDEVENT_TYPE}`);
  if (type !== PUBSUB_CLOUDEVENT_TYPE) {
    throw new NonRetriableError(`type is ${JSON.stringify(type)}, expected ${PUBSUB_CLOUDEVENT_TYPE}`, {
      field: "type",
      fix: "route only Pub/Sub messagePublished events to this function",
    });
  }
  const data = parseJsonBody(ce.data, "data");
  const decoded = decodeEnvelopeObject(
    asObject(data, "data", "the event data must be the push body"),
    "data.",
    false,
  );
  const match = /^\/\/pubsub\.googleapis\.com\/(projects\/[^/]+\/topics\/[^/]+)$/.exec(source);
  return { ...decoded, topic: match ? match[1] : undefined };
}

/**
 * Decode an HTTP request carrying a Pub/Sub message in any of the three shapes: a CloudEvent in binary mode
 * (`ce-specversion` header), in structured mode (`application/cloudevents+json`), or a bare push request.
 */
export function decodePubsubRequest(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
): DecodedPubsub {
  const header = (name: string): string | undefined => {
    for (const [key, value] of Object.entries(headers)) {
      if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
    }
    return undefined;
  };
  const contentType = header("content-type") ?? "";
  if (header("ce-specversion") !== undefined) {
    const event: CloudEvent = {
      specversion: header("ce-specversion") ?? "",
      id: header("ce-id") ?? "",
      source: header("ce-source") ?? "",
      type: header("ce-type") ?? "",
      data: parseJsonBody(body, "body"),
    };
    for (const [key, value] of Object.entries(headers)) {
      const lower = key.toLowerCase();
      if (lower.startsWith("ce-") && value !== undefined) {
        const name = lower.slice(3);
        if (!(name in event)) event[name] = Array.isArray(value) ? value[0] : value;
      }
    }
    for (const field of ["id", "source", "type"] as const) {
      if (!event[field]) {
        throw new NonRetriableError(`header ce-${field} is missing`, {
          field: `ce-${field}`,
          fix: "send every required CloudEvents attribute as a ce-* header",
        });
      }
    }
    return decodePubsubCloudEvent(event);
  }
  if (contentType.toLowerCase().startsWith(CLOUDEVENTS_JSON)) {
    return decodePubsubCloudEvent(parseJsonBody(body, "body"));
  }
  return decodePushEnvelope(body);
}

/** A message's data as JSON; a NonRetriableError naming `message.data` when it is not. */
export function messageJson(message: Message): unknown {
  try {
    return JSON.parse(message.data.toString("utf8"));
  } catch (err) {
    throw new NonRetriableError(`message.data is not JSON: ${(err as Error).message}`, {
      field: "message.data",
      fix: "publish a JSON document",
      cause: err,
    });
  }
}

// ---------------------------------------------------------------- internals

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeEnvelopeObject(
  envelope: Record<string, unknown>,
  prefix: string,
  subscriptionRequired: boolean,
): DecodedPubsub {
  const subscription = subscriptionRequired
    ? requireString(envelope, "subscription", prefix, "include the subscription name")
    : optionalString(envelope, "subscription", prefix);
  const message = asObject(envelope.message, `${prefix}message`, "include the message object");
  const at = `${prefix}message.`;
  const id = optionalString(message, "messageId", at) ?? optionalString(message, "message_id", at);
  if (!id) {
    throw new NonRetriableError(`${at}messageId is missing`, {
      field: `${at}messageId`,
      fix: "send the message id",
    });
  }
  const publishTime =
    optionalString(message, "publishTime", at) ?? optionalString(message, "publish_time", at) ?? undefined;
  if (!publishTime || Number.isNaN(Date.parse(publishTime))) {
    throw new NonRetriableError(`${at}publishTime is missing or not an RFC 3339 time`, {
      field: `${at}publishTime`,
      fix: "send the publish time as RFC 3339 (2026-01-02T03:04:05.678Z)",
    });
  }
  let data = Buffer.alloc(0);
  if (message.data !== undefined && message.data !== null) {
    if (typeof message.data !== "string" || !BASE64.test(message.data)) {
      throw new NonRetriableError(`${at}data is not base64`, {
        field: `${at}data`,
        fix: "base64-encode the payload (Pub/Sub push and Eventarc always do)",
      });
    }
    data = Buffer.from(message.data, "base64");
  }
  const attributes: Record<string, string> = {};
  if (message.attributes !== undefined && message.attributes !== null) {
    const attrs = asObject(message.attributes, `${at}attributes`, "send attributes as a string map");
    for (const [key, value] of Object.entries(attrs)) {
      if (typeof value !== "string") {
        throw new NonRetriableError(`${at}attributes.${key} is not a string`, {
          field: `${at}attributes.${key}`,
          fix: "attribute values are strings",
        });
      }
      attributes[key] = value;
    }
  }
  let deliveryAttempt = 1;
  if (envelope.deliveryAttempt !== undefined && envelope.deliveryAttempt !== null) {
    const n = Number(envelope.deliveryAttempt);
    if (!Number.isInteger(n) || n < 0) {
      throw new NonRetriableError(`${prefix}deliveryAttempt is not a non-negative integer`, {
        field: `${prefix}deliveryAttempt`,
        fix: "send a delivery count >= 1 or leave it out",
      });
    }
    deliveryAttempt = Math.max(1, n);
  }
  return { message: { id, data, attributes, publishTime, deliveryAttempt }, subscription };
}

function parseJsonBody(body: unknown, field: string): unknown {
  if (Buffer.isBuffer(body)) return parseJsonBody(body.toString("utf8"), field);
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new NonRetriableError(`${field} is not JSON: ${(err as Error).message}`, {
      field,
      fix: "send a JSON body",
      cause: err,
    });
  }
}

function asObject(value: unknown, field: string, fix: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new NonRetriableError(`${field} is ${value === undefined ? "missing" : "not an object"}`, {
      field,
      fix,
    });
  }
  return value as Record<string, unknown>;
}

function optionalString(obj: Record<string, unknown>, key: string, prefix: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") {
    throw new NonRetriableError(`${prefix}${key} is not a string`, {
      field: `${prefix}${key}`,
      fix: "send a string",
    });
  }
  return value;
}

function requireString(obj: Record<string, unknown>, key: string, prefix: string, fix: string): string {
  const value = optionalString(obj, key, prefix);
  if (value === undefined)
    throw new NonRetriableError(`${prefix}${key} is missing`, { field: `${prefix}${key}`, fix });
  return value;
}
