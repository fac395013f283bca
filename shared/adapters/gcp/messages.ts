import { PubSub, type Message as PubsubMessage, type Topic } from "@google-cloud/pubsub";
import { isNonRetriable, reasonOf } from "../../core/errors.ts";
import { createLogger, type Logger } from "../../core/log.ts";
import {
  DEAD_LETTER_ATTRIBUTES,
  DEFAULT_MAX_BACKOFF_SECONDS,
  DEFAULT_MIN_BACKOFF_SECONDS,
  encodeData,
  validateAttributes,
  validatePubsubName,
} from "../local/message-rules.ts";
import {
  type Message,
  type MessageBus,
  NotFoundError,
  type Subscription,
  type SubscriptionOptions,
} from "../ports.ts";
import { topicPath } from "../pubsub-envelope.ts";

/**
 * The message bus on Pub/Sub (@google-cloud/pubsub v5): publish through `Topic.publishMessage` (client-side
 * batching), receive through streaming pull. `subscribe` creates the subscription when missing with the ack
 * deadline, dead-letter policy and retry policy given (Pub/Sub's defaults otherwise: a retry policy of
 * 10..600 s); an existing subscription is used as it is. With `PUBSUB_EMULATOR_HOST` set the client talks to
 * the emulator (tests use the pstest fake, which ignores dead-letter and retry policies and delivery order).
 *
 * A handler that resolves acks, one that throws nacks and Pub/Sub redelivers with the retry policy's backoff and
 * dead-letters after maxDeliveryAttempts (the Pub/Sub service agent needs publisher on the dead-letter topic
 * and subscriber on the subscription: Pulumi grants both). A NonRetriableError is published to the dead-letter
 * topic by this adapter with `TesseraDeadLetterReason` and acked, as the local bus does.
 */

export interface GcpBusOptions {
  projectId: string;
  /** Handler invocations in flight per subscription. Default 100. */
  maxInFlight?: number;
  logger?: Logger;
  /** A ready client (tests); by default one is made for projectId. */
  client?: PubSub;
}

export function createGcpBus(options: GcpBusOptions): MessageBus {
  const client = options.client ?? new PubSub({ projectId: options.projectId });
  const log = options.logger ?? createLogger({ labels: { component: "pubsub-bus" } });
  const topics = new Map<string, Topic>();
  const open = new Set<Subscription>();

  const topicOf = (name: string): Topic => {
    let topic = topics.get(name);
    if (!topic) {
      topic = client.topic(name);
      topics.set(name, topic);
    }
    return topic;
  };

  const ensureTopic = async (name: string) => {
    validatePubsubName(name, "topic");
    try {
      await topicOf(name).create();
    } catch (err) {
      if (grpcCode(err) !== ALREADY_EXISTS) throw err;
    }
  };

  const publishRaw = async (topic: string, data: Buffer, attributes: Record<string, string>) => {
    try {
      return await topicOf(topic).publishMessage({ data, attributes });
    } catch (err) {
      if (grpcCode(err) === NOT_FOUND) throw new NotFoundError(`topic ${topic}`);
      throw err;
    }
  };

  return {
    ensureTopic,

    async publish(topic, data, attributes = {}) {
      const bytes = encodeData(data);
      validateAttributes(attributes, bytes);
      return await publishRaw(topic, bytes, attributes);
    },

    async subscribe(name, topic, handler, subOptions: SubscriptionOptions = {}) {
      validatePubsubName(name, "subscription");
      await ensureTopic(topic);
      if (subOptions.deadLetterTopic) await ensureTopic(subOptions.deadLetterTopic);
      try {
        await topicOf(topic).createSubscription(name, subscriptionMetadata(options.projectId, subOptions));
      } catch (err) {
        if (grpcCode(err) !== ALREADY_EXISTS) throw err;
      }
      const sub = client.subscription(name, {
        flowControl: { maxMessages: options.maxInFlight ?? 100, allowExcessMessages: false },
      });
      const inFlight = new Set<Promise<void>>();
      const onMessage = (received: PubsubMessage) => {
        const message = toMessage(received);
        const run = (async () => {
          try {
            await handler(message);
            received.ack();
          } catch (err) {
            if (!isNonRetriable(err)) {
              received.nack();
              return;
            }
            const reason = reasonOf(err);
            if (subOptions.deadLetterTopic) {
              try {
                await publishRaw(subOptions.deadLetterTopic, message.data, {
                  ...message.attributes,
                  [DEAD_LETTER_ATTRIBUTES.subscription]: `projects/${options.projectId}/subscriptions/${name}`,
                  [DEAD_LETTER_ATTRIBUTES.deliveryCount]: String(message.deliveryAttempt),
                  [DEAD_LETTER_ATTRIBUTES.publishTime]: message.publishTime,
                  [DEAD_LETTER_ATTRIBUTES.reason]: reason.slice(0, 1024),
                });
              } catch (publishErr) {
                log.error("could not dead-letter a non-retriable message; nacking it", {
                  subscription: name,
                  messageId: message.id,
                  error: reasonOf(publishErr),
                });
                received.nack();
                return;
              }
            } else {
              log.error("message rejected as non-retriable and acked", {
                subscription: name,
                messageId: message.id,
                reason,
              });
            }
            received.ack();
          }
        })();
        inFlight.add(run);
        void run.finally(() => inFlight.delete(run));
      };
      const onError = (err: unknown) =>
        log.error("streaming pull failed", { subscription: name, error: reasonOf(err) });
      sub.on("message", onMessage);
      sub.on("error", onError);
      const handle: Subscription = {
        name,
        async close() {
          sub.removeListener("message", onMessage);
          while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
          await sub.close();
          sub.removeListener("error", onError);
          open.delete(handle);
        },
      };
      open.add(handle);
      return handle;
    },

    async close() {
      await Promise.all([...open].map((s) => s.close()));
      await Promise.all([...topics.values()].map((t) => t.flush().catch(() => {})));
      await client.close();
    },
  };
}

/** The CreateSubscription fields for our options (exported for tests). */
export function subscriptionMetadata(projectId: string, options: SubscriptionOptions) {
  const metadata: {
    ackDeadlineSeconds: number;
    retryPolicy: { minimumBackoff: { seconds: number }; maximumBackoff: { seconds: number } };
    deadLetterPolicy?: { deadLetterTopic: string; maxDeliveryAttempts: number };
  } = {
    ackDeadlineSeconds: options.ackDeadlineSeconds ?? 60,
    retryPolicy: {
      minimumBackoff: { seconds: options.minBackoffSeconds ?? DEFAULT_MIN_BACKOFF_SECONDS },
      maximumBackoff: { seconds: options.maxBackoffSeconds ?? DEFAULT_MAX_BACKOFF_SECONDS },
    },
  };
  if (options.deadLetterTopic) {
    metadata.deadLetterPolicy = {
      deadLetterTopic: topicPath(projectId, options.deadLetterTopic),
      maxDeliveryAttempts: options.maxDeliveryAttempts ?? 5,
    };
  }
  return metadata;
}

function toMessage(received: PubsubMessage): Message {
  return {
    id: received.id,
    data: received.data,
    attributes: { ...(received.attributes ?? {}) },
    publishTime: received.publishTime.toISOString(),
    // Pub/Sub sets deliveryAttempt only when a dead-letter policy exists (pstest never): 0 means "not counted".
    deliveryAttempt: Math.max(1, received.deliveryAttempt ?? 0),
  };
}

const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

function grpcCode(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "code" in err
    ? Number((err as { code: unknown }).code)
    : undefined;
}
