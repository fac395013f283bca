import { encodeData, validateAttributes, validatePubsubName } from "../local/message-rules.ts";
import { type MessageBus, NotFoundError } from "../ports.ts";
import type { RestClient } from "./rest.ts";

/**
 * The message bus with `publish` over the Pub/Sub REST API (`topics.publish`, one message per request, no
 * client-side batching) and everything else (`ensureTopic`, streaming-pull `subscribe`) through the
 * `@google-cloud/pubsub` adapter (`messages.ts`), loaded on first use. Deployed functions only publish, so
 * their cold start never loads the client library. A 404 is the port's NotFoundError (`topic <name>`).
 */

export interface RestBusOptions {
  projectId: string;
  rest: RestClient;
  /** `https://pubsub.googleapis.com` or a stand-in. */
  endpoint: string;
  /** The client-library bus, made on first use of anything but `publish`. */
  library: () => Promise<MessageBus>;
}

export function createRestBus(options: RestBusOptions): MessageBus {
  let library: Promise<MessageBus> | undefined;
  const lib = () => {
    library ??= options.library();
    return library;
  };
  return {
    async ensureTopic(topic) {
      await (await lib()).ensureTopic(topic);
    },

    async publish(topic, data, attributes = {}) {
      validatePubsubName(topic, "topic");
      const bytes = encodeData(data);
      validateAttributes(attributes, bytes);
      const message: { data: string; attributes?: Record<string, string> } = {
        data: bytes.toString("base64"),
      };
      if (Object.keys(attributes).length > 0) message.attributes = attributes;
      const res = await options.rest.json<{ messageIds?: string[] }>({
        method: "POST",
        url: `${options.endpoint}/v1/projects/${encodeURIComponent(options.projectId)}/topics/${encodeURIComponent(topic)}:publish`,
        what: `publish to topic ${topic}`,
        json: { messages: [message] },
        // Pub/Sub delivers at least once anyway: a repeated publish is a duplicate consumers already tolerate.
        idempotent: true,
        passStatuses: [404],
      });
      if (res.status === 404) throw new NotFoundError(`topic ${topic}`);
      const id = res.body.messageIds?.[0];
      if (!id) throw new Error(`publish to topic ${topic}: the answer has no message id`);
      return id;
    },

    async subscribe(name, topic, handler, subOptions) {
      return (await lib()).subscribe(name, topic, handler, subOptions);
    },

    async close() {
      if (library) await (await library).close();
    },
  };
}
