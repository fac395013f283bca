import type { Message } from "../adapters/ports.ts";
import { reasonOf } from "../core/errors.ts";
import { TOPICS } from "../pipelines/platform.ts";
import type { OpsContext } from "./context.ts";

/**
 * A message that can never succeed (malformed, impossible) is acknowledged, kept as a rejected request
 * with its reason in the state bucket, and published to the dead-letter topic with the reason as an
 * attribute, so that it is visible and nothing is lost.
 */
export async function rejectMessage(
  ctx: OpsContext,
  source: string,
  message: Message,
  err: unknown,
): Promise<void> {
  const reason = reasonOf(err);
  const at = ctx.now().toISOString();
  const record = {
    source,
    reason,
    at,
    messageId: message.id,
    attributes: message.attributes,
    data: message.data.toString("utf8"),
  };
  const name = `rejected/${source}/${at.slice(0, 10)}/${encodeURIComponent(message.id)}.json`;
  await ctx.state.put(name, JSON.stringify(record, null, 2), { contentType: "application/json" });
  await ctx.messages.publish(TOPICS.deadLetters, message.data, {
    ...message.attributes,
    reason: reason.slice(0, 1024),
    source,
    sourceMessageId: message.id,
  });
  ctx.log.warn(`rejected a ${source} message: ${reason}`, { messageId: message.id });
}

/** Rejected requests of one source, newest first. */
export async function listRejected(
  ctx: OpsContext,
  source: string,
): Promise<{ name: string; reason: string; at: string; data: string }[]> {
  const infos = await ctx.state.list(`rejected/${source}/`);
  const out = [];
  for (const info of infos.reverse())
    out.push({ name: info.name, ...JSON.parse((await ctx.state.get(info.name)).toString("utf8")) });
  return out;
}
