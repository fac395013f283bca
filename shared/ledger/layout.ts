import { NonRetriableError } from "../core/errors.ts";

/**
 * Object names of the run ledger. Everything about the runs of one pipeline lives under one prefix, and an
 * attempt's records sort together, so ONE listing of `runs/<pipeline>/` yields the latest state of every
 * partition (object names carry the partition, the attempt and the record kind; object metadata carries the
 * state, reason, run id and backfill id, which GCS and the local store both return in listings).
 *
 * ```
 * <root>/runs/<pipeline>/<partition>/attempt-0001.claim    create-only: the claim (one winner per attempt)
 * <root>/runs/<pipeline>/<partition>/attempt-0001.running  create-only: the run started
 * <root>/runs/<pipeline>/<partition>/attempt-0001.end      create-only: the terminal state (succeeded | failed | cancelled)
 * <root>/events/<pipeline>/<partition>/attempt-0001/<time>-<rand>.json   a run's event log
 * <root>/backfills/<backfillId>/request.json               create-only: request + plan (a duplicate request is detected)
 * <root>/backfills/<backfillId>/state-<time>-<rand>.json   state changes; the newest name wins
 * <root>/backfills/<backfillId>/end.json                   create-only: the terminal state; outranks every state-*
 * ```
 * `<partition>` is percent-encoded (`/` and `.` too), so key partitions like `model/run` stay one segment.
 */

export type RecordKind = "claim" | "running" | "end";

const PIPELINE = /^[a-z][a-z0-9-]{0,62}$/;
const BACKFILL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const ATTEMPT_RECORD = /^attempt-(\d{4,})\.(claim|running|end)$/;

export function checkPipeline(pipeline: string): string {
  if (typeof pipeline !== "string" || !PIPELINE.test(pipeline)) {
    throw new NonRetriableError(`pipeline "${pipeline}" is not a valid pipeline id`, {
      field: "pipeline",
      fix: "use a registered pipeline id such as mozaic-daily",
    });
  }
  return pipeline;
}

export function checkPartition(partition: string): string {
  if (typeof partition !== "string" || partition.length === 0 || partition.length > 400) {
    throw new NonRetriableError(`partition "${partition}" must be 1-400 characters`, { field: "partition" });
  }
  return partition;
}

export function checkBackfillId(id: string): string {
  if (typeof id !== "string" || !BACKFILL.test(id)) {
    throw new NonRetriableError(`backfill id "${id}" is invalid`, {
      field: "backfillId",
      fix: "use letters, digits, '.', '_' and '-' (as backfillIdFor makes them)",
    });
  }
  return id;
}

export function encodePartition(partition: string): string {
  return encodeURIComponent(checkPartition(partition)).replace(/\./g, "%2E");
}

export function decodePartition(segment: string): string {
  return decodeURIComponent(segment);
}

export function attemptLabel(attempt: number): string {
  return `attempt-${String(attempt).padStart(4, "0")}`;
}

export interface Layout {
  runsPrefix(pipeline?: string): string;
  partitionPrefix(pipeline: string, partition: string): string;
  record(pipeline: string, partition: string, attempt: number, kind: RecordKind): string;
  eventsPrefix(pipeline: string, partition: string, attempt: number): string;
  backfillsPrefix(): string;
  backfillPrefix(backfillId: string): string;
  /** Parse a name from a runs listing; undefined for names that are not attempt records. */
  parseRecord(
    name: string,
  ): { pipeline: string; partition: string; attempt: number; kind: RecordKind } | undefined;
}

export function layoutOf(root: string): Layout {
  const base = root === "" ? "" : `${root.replace(/\/+$/, "")}/`;
  return {
    runsPrefix: (pipeline) =>
      pipeline === undefined ? `${base}runs/` : `${base}runs/${checkPipeline(pipeline)}/`,
    partitionPrefix: (pipeline, partition) =>
      `${base}runs/${checkPipeline(pipeline)}/${encodePartition(partition)}/`,
    record: (pipeline, partition, attempt, kind) =>
      `${base}runs/${checkPipeline(pipeline)}/${encodePartition(partition)}/${attemptLabel(attempt)}.${kind}`,
    eventsPrefix: (pipeline, partition, attempt) =>
      `${base}events/${checkPipeline(pipeline)}/${encodePartition(partition)}/${attemptLabel(attempt)}/`,
    backfillsPrefix: () => `${base}backfills/`,
    backfillPrefix: (id) => `${base}backfills/${checkBackfillId(id)}/`,
    parseRecord(name) {
      const rest = name.startsWith(`${base}runs/`) ? name.slice(base.length + 5) : undefined;
      const parts = rest?.split("/");
      if (parts?.length !== 3) return undefined;
      const m = ATTEMPT_RECORD.exec(parts[2]);
      if (!m) return undefined;
      return {
        pipeline: parts[0],
        partition: decodePartition(parts[1]),
        attempt: Number(m[1]),
        kind: m[2] as RecordKind,
      };
    },
  };
}
