/**
 * What the platform itself deploys, beside the pipelines: the topics every pipeline shares, the platform
 * functions, the bucket roles and the secrets. Pulumi's Platform component and the local twin read this.
 */

export const TOPICS = {
  /** Cloud Scheduler publishes `ScheduleTick`s here; `dispatch` consumes them. */
  scheduleTicks: "tessera-schedule-ticks",
  /** Backfill requests v1; `backfill` consumes them. */
  backfillRequests: "tessera-backfill-requests",
  /** Run events (started, succeeded, failed, ...) published by workflows and functions. */
  runEvents: "tessera-run-events",
  /** Rejected and undeliverable messages, with the reason in the `reason` attribute. */
  deadLetters: "tessera-dead-letters",
} as const;

export interface PlatformFunction {
  name: string;
  /** Folder under `functions/`. */
  source: string;
  target: string;
  trigger: { kind: "http" } | { kind: "topic"; topic: string };
  /** Delivery attempts before Pub/Sub dead-letters a message (5..100). */
  maxDeliveryAttempts?: number;
}

export const PLATFORM_FUNCTIONS: PlatformFunction[] = [
  {
    name: "dispatch",
    source: "dispatch",
    target: "dispatch",
    trigger: { kind: "topic", topic: TOPICS.scheduleTicks },
    maxDeliveryAttempts: 5,
  },
  {
    name: "backfill",
    source: "backfill",
    target: "backfill",
    trigger: { kind: "topic", topic: TOPICS.backfillRequests },
    maxDeliveryAttempts: 5,
  },
  { name: "runs", source: "runs", target: "runs", trigger: { kind: "http" } },
  /** The Console (people, not machines): deployed behind IAP, open only to `tessera:consoleAllowedDomains`. */
  { name: "console", source: "console", target: "console", trigger: { kind: "http" } },
];

/** Bucket roles; the deployed names are `<project>-tessera-<role>`, the local ones directories of these names. */
export const BUCKET_ROLES = ["data", "artifacts", "sources", "state"] as const;
export type BucketRole = (typeof BUCKET_ROLES)[number];

/** Secrets the platform creates (without values); pipelines reference them by name. */
export const SECRETS = ["snowflake-private-key", "postgres-dsn"] as const;

/** The workflow that drives a backfill: `workflows-yaml/backfill.workflows.yaml`. */
export const BACKFILL_WORKFLOW = "backfill.workflows.yaml";

/**
 * The V8 compile cache inside a function bundle: `npm run build` adds a `gcp-build` step that fills it when
 * Cloud Build installs the bundle, and Pulumi sets `NODE_COMPILE_CACHE` to it on every function.
 */
export const FUNCTION_COMPILE_CACHE = ".compile-cache";
