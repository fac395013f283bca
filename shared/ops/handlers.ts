import type { Request, Response } from "@google-cloud/functions-framework";
import type { Message } from "../adapters/ports.ts";
import { type CloudEvent, decodePubsubCloudEvent } from "../adapters/pubsub-envelope.ts";
import { httpStatus, isNonRetriable, RetryableError, reasonOf } from "../core/errors.ts";
import type { OpsContext } from "./context.ts";
import { rejectMessage } from "./reject.ts";

/**
 * The glue between the functions framework and `shared/ops`: a function handler is a few lines that name
 * the operation. The context comes from the local twin (`provideContext`) or, deployed, is built once from
 * the environment by the factory registered with `setContextFactory`.
 */
let provided: OpsContext | undefined;
let factory: (() => Promise<OpsContext>) | undefined;
let building: Promise<OpsContext> | undefined;

export function provideContext(ctx: OpsContext | undefined): void {
  provided = ctx;
}

export function setContextFactory(make: () => Promise<OpsContext>): void {
  factory = make;
  building = undefined;
}

/**
 * Starts building the context from the factory now (a deployed function at load), unless one was provided.
 * A failure is not reported here: it is the first request's, as if it had been built then.
 */
export function prepareContext(): void {
  if (provided || !factory) return;
  building ??= factory();
  building.catch(() => undefined);
}

export async function currentContext(): Promise<OpsContext> {
  if (provided) return provided;
  if (!factory)
    throw new Error(
      "no ops context: the local twin calls provideContext, a deployed function setContextFactory",
    );
  building ??= factory();
  return building;
}

/**
 * A Pub/Sub-triggered function (Eventarc messagePublished CloudEvent). Bad input is acknowledged and
 * dead-lettered with its reason; anything else is rethrown, so Pub/Sub retries it and dead-letters it after
 * the subscription's attempts.
 */
export function pubsubFunction(
  source: string,
  handle: (ctx: OpsContext, message: Message) => Promise<unknown>,
) {
  return async (event: CloudEvent): Promise<void> => {
    const ctx = await currentContext();
    let message: Message;
    try {
      message = decodePubsubCloudEvent(event).message;
    } catch (err) {
      const raw: Message = {
        id: String(event?.id ?? "unknown"),
        data: Buffer.from(JSON.stringify(event ?? null)),
        attributes: {},
        publishTime: new Date().toISOString(),
        deliveryAttempt: 1,
      };
      await rejectMessage(ctx, source, raw, err);
      return;
    }
    try {
      await handle(ctx, message);
    } catch (err) {
      if (isNonRetriable(err)) {
        await rejectMessage(ctx, source, message, err);
        return;
      }
      ctx.log.error(`${source} failed (will be retried): ${reasonOf(err)}`, {
        messageId: message.id,
        attempt: message.deliveryAttempt,
      });
      throw err;
    }
  };
}

/** An HTTP function answering JSON: 200 with the result, or the error's status with `{error, field, fix}`. */
export function jsonFunction(routes: Record<string, (ctx: OpsContext, body: unknown) => Promise<unknown>>) {
  return async (req: Request, res: Response): Promise<void> => {
    const route = (req.path ?? "/").replace(/^\/+|\/+$/g, "");
    const handle = routes[route];
    if (req.method !== "POST" || !handle) {
      res.status(404).json({ error: `POST one of /${Object.keys(routes).join(", /")}` });
      return;
    }
    try {
      const ctx = await currentContext();
      res.status(200).json(await handle(ctx, req.body));
    } catch (err) {
      const status = httpStatus(err);
      const e = err as { field?: string; fix?: string; retryAfterSeconds?: number };
      if (err instanceof RetryableError && e.retryAfterSeconds !== undefined)
        res.set("Retry-After", String(e.retryAfterSeconds));
      res.status(status).json({ error: reasonOf(err), field: e.field, fix: e.fix });
    }
  };
}
