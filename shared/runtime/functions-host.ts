import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import type { Message } from "../adapters/ports.ts";
import { encodePubsubCloudEvent, toBinaryRequest, toStructuredRequest } from "../adapters/pubsub-envelope.ts";

/**
 * Hosts functions on 127.0.0.1 with the functions framework's own server (`getTestServer`; the framework's
 * CLI ignores `--host` and would listen on every interface), and delivers Pub/Sub messages to them as
 * Eventarc does: a `messagePublished` CloudEvent over HTTP, alternating binary and structured mode.
 * A function module must be imported first so that it has registered its target.
 */
export interface HostedFunction {
  name: string;
  target: string;
  url: string;
  server: Server;
}

export async function hostFunction(name: string, target: string): Promise<HostedFunction> {
  const server = getTestServer(target);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { name, target, url: `http://127.0.0.1:${port}`, server };
}

export async function stopFunction(f: HostedFunction): Promise<void> {
  f.server.closeAllConnections?.();
  await new Promise<void>((resolve) => f.server.close(() => resolve()));
}

let mode = 0;

/** POST a Pub/Sub message to a hosted CloudEvent function; resolves on 2xx (ack), throws otherwise (nack). */
export async function deliver(
  f: HostedFunction,
  message: Message,
  names: { project: string; topic: string; subscription: string },
): Promise<void> {
  const event = encodePubsubCloudEvent(message, names);
  const request = mode++ % 2 === 0 ? toBinaryRequest(event) : toStructuredRequest(event);
  const response = await fetch(f.url, { method: "POST", headers: request.headers, body: request.body });
  if (response.status < 200 || response.status > 299) {
    const text = await response.text();
    throw new Error(`${f.name} answered ${response.status}: ${text.slice(0, 500)}`);
  }
}
