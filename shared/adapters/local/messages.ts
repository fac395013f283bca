import { isNonRetriable, reasonOf } from "../../core/errors.ts";
import { createLogger, type Logger } from "../../core/log.ts";
import {
  type Message,
  type MessageBus,
  type MessageHandler,
  NotFoundError,
  type Subscription,
  type SubscriptionOptions,
} from "../ports.ts";
import {
  DEAD_LETTER_ATTRIBUTES,
  encodeData,
  retryBackoffSeconds,
  validateAttributes,
  validatePubsubName,
} from "./message-rules.ts";

/**
 * The in-process message bus: Pub/Sub's delivery contract without a server.
 *
 * - Each subscription of a topic gets its own copy of every message published after it was created; a
 *   subscription outlives its handler (`Subscription.close()`), so messages published meanwhile wait for the
 *   next `subscribe` with the same name, as on Pub/Sub.
 * - A handler that resolves acks. One that throws nacks: the message comes back after Pub/Sub's retry-policy
 *   backoff, `min(maxBackoff, minBackoff * 2^(attempt-1))`, with `deliveryAttempt` counting up. After
 *   `maxDeliveryAttempts` failed deliveries it is published to `deadLetterTopic` with its data and attributes
 *   plus `CloudPubSubDeadLetterSourceSubscription` and `CloudPubSubDeadLetterSourceDeliveryCount`.
 * - A NonRetriableError is not retried: the message goes to the dead-letter topic at once (with
 *   `TesseraDeadLetterReason`), or is acked and logged when there is none.
 * - Delivery order is publish order per subscription, but redeliveries interleave (do not depend on order).
 *
 * Nothing is persisted: messages in flight are lost when the process exits.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface LocalBusOptions {
  /** Multiplies every backoff delay; tests use e.g. 0.001 so a 10 s backoff takes 10 ms. Default 1. */
  backoffScale?: number;
  /** Timer functions, injectable for tests. Default the global ones. */
  timers?: Timers;
  /** Clock for publish times, in ms since the epoch. Default Date.now. */
  now?: () => number;
  /** Handler invocations in flight per subscription (the client library's flow control). Default 100. */
  maxInFlight?: number;
  logger?: Logger;
}

export interface LocalBus extends MessageBus {
  /** Resolve when nothing is queued, in flight or waiting for a redelivery timer. */
  idle(): Promise<void>;
  /** Counters for doctor output and benches. */
  stats(): { published: number; delivered: number; acked: number; nacked: number; deadLettered: number };
}

interface Pending {
  message: Message;
  /** Failed deliveries so far. */
  failures: number;
}

interface SubState {
  name: string;
  topic: string;
  options: SubscriptionOptions;
  queue: Fifo<Pending>;
  handler?: MessageHandler;
  inFlight: Set<Promise<void>>;
  timers: Set<unknown>;
}

export function createLocalBus(options: LocalBusOptions = {}): LocalBus {
  const scale = options.backoffScale ?? 1;
  const timers: Timers = options.timers ?? {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  };
  const now = options.now ?? Date.now;
  const maxInFlight = options.maxInFlight ?? 100;
  const log = options.logger ?? createLogger({ labels: { component: "local-bus" } });
  const topics = new Map<string, Set<SubState>>();
  const subs = new Map<string, SubState>();
  const idleWaiters = new Set<() => void>();
  const counts = { published: 0, delivered: 0, acked: 0, nacked: 0, deadLettered: 0 };
  let nextId = 1_000_000_000;
  let closed = false;

  const isIdle = () => {
    for (const sub of subs.values()) {
      if (sub.inFlight.size > 0 || sub.timers.size > 0) return false;
      if (sub.handler && sub.queue.size() > 0) return false;
    }
    return true;
  };
  const notifyIdle = () => {
    if (idleWaiters.size === 0 || !isIdle()) return;
    for (const resolve of [...idleWaiters]) resolve();
    idleWaiters.clear();
  };

  const requireTopic = (topic: string): Set<SubState> => {
    const set = topics.get(topic);
    if (!set) throw new NotFoundError(`topic ${topic}`);
    return set;
  };

  const enqueue = (topic: string, data: Buffer, attributes: Record<string, string>): string => {
    const set = requireTopic(topic);
    const id = String(nextId++);
    const publishTime = new Date(now()).toISOString();
    counts.published += 1;
    for (const sub of set) {
      sub.queue.push({
        message: { id, data, attributes: { ...attributes }, publishTime, deliveryAttempt: 1 },
        failures: 0,
      });
      pump(sub);
    }
    return id;
  };

  const deadLetter = (sub: SubState, pending: Pending, reason?: string) => {
    const target = sub.options.deadLetterTopic;
    if (!target) return false;
    const attributes: Record<string, string> = {
      ...pending.message.attributes,
      [DEAD_LETTER_ATTRIBUTES.subscription]: sub.name,
      [DEAD_LETTER_ATTRIBUTES.deliveryCount]: String(pending.message.deliveryAttempt),
      [DEAD_LETTER_ATTRIBUTES.publishTime]: pending.message.publishTime,
    };
    if (reason) attributes[DEAD_LETTER_ATTRIBUTES.reason] = reason.slice(0, 1024);
    try {
      enqueue(target, pending.message.data, attributes);
      counts.deadLettered += 1;
      return true;
    } catch (err) {
      log.error("dead-letter topic is missing; the message is dropped", {
        subscription: sub.name,
        deadLetterTopic: target,
        messageId: pending.message.id,
        error: reasonOf(err),
      });
      return false;
    }
  };

  const settle = (sub: SubState, pending: Pending, err: unknown) => {
    counts.nacked += 1;
    if (isNonRetriable(err)) {
      if (!deadLetter(sub, pending, reasonOf(err))) {
        log.error("message rejected as non-retriable and acked", {
          subscription: sub.name,
          messageId: pending.message.id,
          reason: reasonOf(err),
        });
      }
      return;
    }
    pending.failures += 1;
    const max = sub.options.maxDeliveryAttempts;
    if (sub.options.deadLetterTopic && max !== undefined && pending.failures >= max) {
      deadLetter(sub, pending, reasonOf(err));
      return;
    }
    const delayMs = retryBackoffSeconds(sub.options, pending.failures) * 1000 * scale;
    const handle = timers.setTimeout(() => {
      sub.timers.delete(handle);
      pending.message = { ...pending.message, deliveryAttempt: pending.failures + 1 };
      sub.queue.push(pending);
      pump(sub);
      notifyIdle();
    }, delayMs);
    sub.timers.add(handle);
  };

  const pump = (sub: SubState) => {
    const handler = sub.handler;
    if (!handler) return;
    while (sub.queue.size() > 0 && sub.inFlight.size < maxInFlight) {
      const pending = sub.queue.shift();
      counts.delivered += 1;
      const run = (async () => {
        try {
          await handler(pending.message);
          counts.acked += 1;
        } catch (err) {
          settle(sub, pending, err);
        }
      })();
      sub.inFlight.add(run);
      void run.finally(() => {
        sub.inFlight.delete(run);
        pump(sub);
        notifyIdle();
      });
    }
  };

  const detach = async (sub: SubState) => {
    sub.handler = undefined;
    while (sub.inFlight.size > 0) await Promise.allSettled([...sub.inFlight]);
    notifyIdle();
  };

  return {
    async ensureTopic(topic) {
      validatePubsubName(topic, "topic");
      if (!topics.has(topic)) topics.set(topic, new Set());
    },

    async publish(topic, data, attributes = {}) {
      if (closed) throw new Error("the bus is closed");
      const bytes = encodeData(data);
      validateAttributes(attributes, bytes);
      return enqueue(topic, bytes, attributes);
    },

    async subscribe(subscription, topic, handler, subOptions = {}) {
      if (closed) throw new Error("the bus is closed");
      validatePubsubName(subscription, "subscription");
      await this.ensureTopic(topic);
      if (subOptions.deadLetterTopic) await this.ensureTopic(subOptions.deadLetterTopic);
      let sub = subs.get(subscription);
      if (sub && sub.topic !== topic) {
        throw new Error(`subscription ${subscription} is attached to topic ${sub.topic}, not ${topic}`);
      }
      if (sub?.handler) throw new Error(`subscription ${subscription} already has a handler in this process`);
      if (!sub) {
        sub = {
          name: subscription,
          topic,
          options: {},
          queue: fifo<Pending>(),
          inFlight: new Set(),
          timers: new Set(),
        };
        subs.set(subscription, sub);
        requireTopic(topic).add(sub);
      }
      sub.options = { ...subOptions };
      sub.handler = handler;
      const state = sub;
      pump(state);
      return {
        name: subscription,
        close: () => detach(state),
      } satisfies Subscription;
    },

    async close() {
      closed = true;
      for (const sub of subs.values()) {
        for (const handle of sub.timers) timers.clearTimeout(handle);
        sub.timers.clear();
      }
      await Promise.all([...subs.values()].map(detach));
    },

    idle() {
      if (isIdle()) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.add(resolve));
    },

    stats: () => ({ ...counts }),
  };
}

interface Fifo<T> {
  push(item: T): void;
  shift(): T;
  size(): number;
}

/** A queue with O(1) shift (Array#shift is O(n) on large arrays, which made big backlogs quadratic). */
function fifo<T>(): Fifo<T> {
  let items: T[] = [];
  let head = 0;
  return {
    push: (item) => {
      items.push(item);
    },
    shift: () => {
      const item = items[head];
      items[head] = undefined as T;
      head += 1;
      if (head > 1024 && head * 2 > items.length) {
        items = items.slice(head);
        head = 0;
      }
      return item;
    },
    size: () => items.length - head,
  };
}
