import { NonRetriableError } from "../../core/errors.ts";
import type { SubscriptionOptions } from "../ports.ts";

/** Pub/Sub's message and subscription rules, shared by the local bus and the Pub/Sub adapter. */

/** The attributes Pub/Sub adds to a dead-lettered message, plus Tessera's reason for a non-retriable failure. */
export const DEAD_LETTER_ATTRIBUTES = {
  subscription: "CloudPubSubDeadLetterSourceSubscription",
  deliveryCount: "CloudPubSubDeadLetterSourceDeliveryCount",
  publishTime: "CloudPubSubDeadLetterSourceTopicPublishTime",
  reason: "TesseraDeadLetterReason",
} as const;

/** Pub/Sub's retry-policy defaults when a subscription has one (seconds). */
export const DEFAULT_MIN_BACKOFF_SECONDS = 10;
export const DEFAULT_MAX_BACKOFF_SECONDS = 600;

/** Delay before redelivery after `failures` failed deliveries: exponential from min, capped at max. */
export function retryBackoffSeconds(options: SubscriptionOptions, failures: number): number {
  const min = options.minBackoffSeconds ?? DEFAULT_MIN_BACKOFF_SECONDS;
  const max = Math.max(min, options.maxBackoffSeconds ?? DEFAULT_MAX_BACKOFF_SECONDS);
  return Math.min(max, min * 2 ** Math.max(0, failures - 1));
}

/** Message data as bytes: Buffers as-is, strings as UTF-8, anything else as JSON. */
export function encodeData(data: Buffer | string | object): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.from(JSON.stringify(data), "utf8");
}

/** Pub/Sub's limits: string values, keys 1..256 bytes not starting with `goog`, at most 100, not all empty. */
export function validateAttributes(attributes: Record<string, string>, data: Buffer): void {
  const entries = Object.entries(attributes);
  if (entries.length > 100) {
    throw new NonRetriableError(`attributes has ${entries.length} entries, Pub/Sub allows 100`, {
      field: "attributes",
      fix: "move the extra values into the message data",
    });
  }
  for (const [key, value] of entries) {
    if (key.length === 0 || Buffer.byteLength(key) > 256 || key.startsWith("goog")) {
      throw new NonRetriableError(`attribute key ${JSON.stringify(key)} is invalid`, {
        field: `attributes.${key}`,
        fix: "use keys of 1-256 bytes that do not start with 'goog'",
      });
    }
    if (typeof value !== "string") {
      throw new NonRetriableError(`attributes.${key} is not a string`, {
        field: `attributes.${key}`,
        fix: "attribute values must be strings",
      });
    }
  }
  if (data.length === 0 && entries.length === 0) {
    throw new NonRetriableError("a message needs data or at least one attribute", {
      field: "data",
      fix: "publish a non-empty payload or attributes",
    });
  }
}

/** Topic and subscription ids: 3-255 characters [A-Za-z0-9-_.~+%], starting with a letter, not `goog`. */
export function validatePubsubName(name: string, what: "topic" | "subscription"): void {
  if (!/^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/.test(name) || name.toLowerCase().startsWith("goog")) {
    throw new NonRetriableError(`${what} name ${JSON.stringify(name)} is invalid`, {
      field: what,
      fix: "use 3-255 characters [A-Za-z0-9-_.~+%] starting with a letter, not 'goog'",
    });
  }
}
