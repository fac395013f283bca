import type { GoogleStandIn } from "./google-standin.ts";

/**
 * The first request each deployed function gets in the deploy bench and the bundle tests, and what it must
 * have made the Google API stand-ins do (an execution started, a message published) for the answer to count.
 */

/** The first request a function gets, and what it must have made the stand-ins do for the start to count. */
export interface FirstRequest {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Local mode (no Google API is called). */
  local?: boolean;
  /** A note for the table. */
  work: string;
  check?: (standIn: GoogleStandIn) => string | undefined;
}

/** A Pub/Sub push delivery as the functions framework receives it (binary-mode CloudEvent). */
export function pubsubEvent(topic: string, payload: unknown): Pick<FirstRequest, "headers" | "body"> {
  return {
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": "bench-1",
      "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "ce-source": `//pubsub.googleapis.com/projects/bench-project/topics/${topic}`,
      "ce-time": new Date().toISOString(),
    },
    body: JSON.stringify({
      message: {
        data: Buffer.from(JSON.stringify(payload)).toString("base64"),
        messageId: "bench-1",
        publishTime: new Date().toISOString(),
      },
      subscription: "projects/bench-project/subscriptions/bench",
    }),
  };
}

const started = (workflow: string) => (s: GoogleStandIn) =>
  s.executions.some((e) => e.name.includes(`/workflows/${workflow}/`))
    ? undefined
    : `no execution of ${workflow} was started`;
const publishedTo = (topic: string) => (s: GoogleStandIn) =>
  s.published.some((m) => m.topic === topic) ? undefined : `nothing was published to ${topic}`;

/** Each function's first request: the work it does deployed, on the first delivery. */
export function firstRequest(name: string, target: string): FirstRequest {
  switch (name) {
    case "dispatch":
      return {
        method: "POST",
        path: "/",
        ...pubsubEvent("tessera-schedule-ticks", { pipeline: "mozaic-daily", partition: "2024-05-01" }),
        work: "tick -> ledger read, marker, Workflows execution",
        check: started("mozaic-daily"),
      };
    case "backfill":
      return {
        method: "POST",
        path: "/",
        ...pubsubEvent("tessera-backfill-requests", {
          pipeline: "mozaic-daily",
          from: "2024-04-01",
          to: "2024-04-07",
          requestId: "bench",
          params: {},
        }),
        work: "request -> plan in the ledger, driver execution",
        check: started("backfill"),
      };
    case "runs":
      return {
        method: "POST",
        path: "/claim",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ pipeline: "mozaic-daily", partition: "2024-05-01", params: {} }),
        work: "POST /claim -> ledger claim, run event",
        check: publishedTo("tessera-run-events"),
      };
    case "mmm":
      return {
        method: "POST",
        path: "/?api=train",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          country: "DE",
          revision: "bench",
          date_var: "DATE",
          start_date: "2016-01-04",
          end_date: "2018-12-31",
          dep_var: "revenue",
          iterations: 20,
          trials: 2,
          paid_media_spends: "tv_S, ooh_S",
        }),
        work: `${target} ?api=train -> request, queue item, schedule tick`,
        check: publishedTo("tessera-schedule-ticks"),
      };
    case "console":
      return { method: "GET", path: "/", headers: {}, local: true, work: "GET / (local mode: the page)" };
    default:
      return {
        method: "POST",
        path: "/",
        ...pubsubEvent("bench", { pipeline: "bench" }),
        work: "echo",
        local: true,
      };
  }
}
