import { createHash } from "node:crypto";

/**
 * A run is `(pipeline, partition)`: the same pair always gets the same id, so duplicate deliveries and
 * repeated executes meet in the run ledger instead of running twice. The id is readable, at most 63
 * characters of `[a-z0-9-]` (a valid Cloud label value and Workflows execution label), and collision-safe
 * through a hash of the exact pair.
 */
export function runIdFor(pipeline: string, partition: string): string {
  const hash = createHash("sha256").update(`${pipeline}\u0000${partition}`).digest("hex").slice(0, 10);
  const slug = `${pipeline}-${partition}`
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63 - hash.length - 1)
    .replace(/-+$/, "");
  return `${slug}-${hash}`;
}

/** A backfill's id, derived from its request id so that the same request twice yields one backfill. */
export function backfillIdFor(pipeline: string, requestId: string): string {
  const hash = createHash("sha256")
    .update(`backfill\u0000${pipeline}\u0000${requestId}`)
    .digest("hex")
    .slice(0, 12);
  return `bf-${pipeline.slice(0, 30)}-${hash}`;
}
