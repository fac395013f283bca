import { createHash } from "node:crypto";
import type { BucketRole } from "../../shared/pipelines/platform.ts";

/**
 * Deployed resource names, in one place so the workflows, the CLI and the docs can rely on them.
 *
 * | resource | name |
 * |---|---|
 * | bucket | `<project>-<prefix>-<role>` |
 * | Artifact Registry repository | `<prefix>` |
 * | Bigtable instance | `<prefix>` (cluster `<prefix>-c1`) |
 * | topic | as declared (`tessera-schedule-ticks`, pipeline topics) |
 * | push subscription | `<function>-push`; dead-letter hold: `<dead-letter topic>-hold` |
 * | secret | as declared (`snowflake-private-key`) |
 * | workflow | `<pipeline>`; backfill driver `<prefix>-backfill` |
 * | Cloud Run Job | `<pipeline>-<job>` |
 * | function | `<pipeline>-<function>`; platform `<prefix>-<function>` |
 * | scheduler job | `<pipeline>-<schedule>` |
 * | service account | `<pipeline>-fn`, `<pipeline>-wf`, `<pipeline>-job`; platform `<prefix>-<function>`, `<prefix>-backfill-wf` |
 */

export function bucketName(project: string, prefix: string, role: BucketRole): string {
  return `${project}-${prefix}-${role}`;
}

/**
 * A service account id (6..30 characters, `[a-z][a-z0-9-]*[a-z0-9]`). Long bases are cut and given a short
 * hash of the whole base, so two long pipeline ids never share an account.
 */
export function accountId(base: string, role: string): string {
  const full = `${base}-${role}`;
  if (full.length <= 30) return full.length >= 6 ? full : `${full}-sa`.padEnd(6, "0");
  const hash = createHash("sha256").update(base).digest("hex").slice(0, 4);
  const keep = 30 - role.length - hash.length - 2;
  return `${base.slice(0, keep).replace(/-+$/, "")}-${hash}-${role}`;
}

/** `forecast-model` -> `FORECAST_MODEL`: the env/userEnvVars spelling of a name. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** The image of a job: `<region>-docker.pkg.dev/<project>/<repository>/<image>:<tag>`. */
export function imageUri(
  region: string,
  project: string,
  repository: string,
  image: string,
  tag: string,
): string {
  return `${region}-docker.pkg.dev/${project}/${repository}/${image}:${tag}`;
}

/** The Pub/Sub service agent, which dead-letters messages and signs push requests. */
export function pubsubServiceAgent(projectNumber: string): string {
  return `serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
}

/** Identity-Aware Proxy's service agent, which invokes an IAP-protected Cloud Run service. */
export function iapServiceAgent(projectNumber: string): string {
  return `serviceAccount:service-${projectNumber}@gcp-sa-iap.iam.gserviceaccount.com`;
}
