import type { RunEvent } from "../contracts/v1/index.ts";
import { TOPICS } from "../pipelines/platform.ts";
import type { OpsContext } from "./context.ts";

/** Publish a run event on the run-events topic; a failed publish is logged, never fatal to the run. */
export async function publishRunEvent(ctx: OpsContext, event: Omit<RunEvent, "at">): Promise<void> {
  const full: RunEvent = { ...event, at: ctx.now().toISOString() };
  try {
    await ctx.messages.publish(TOPICS.runEvents, full, { type: full.type, pipeline: full.pipeline });
  } catch (err) {
    ctx.log.warn("could not publish a run event", { event: full, error: (err as Error).message });
  }
}
