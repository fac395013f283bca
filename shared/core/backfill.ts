import type { BackfillRequest } from "../contracts/v1/index.ts";
import {
  comparePartitions,
  filterWeekdays,
  inclusiveRange,
  type PartitionKind,
  parseDay,
  parsePartition,
  parseWeekday,
  type Weekday,
  weekdayOf,
} from "./dates.ts";
import { NonRetriableError } from "./errors.ts";
import { backfillIdFor } from "./runid.ts";

/**
 * Backfill plans: every partition a request names, with its state in the run ledger and the action to take.
 * `reprocess` follows Airflow 3's meaning: `missing` runs partitions that never ran; `failed` also reruns
 * failed and cancelled ones; `all` reruns everything not running now. Nothing is skipped without a reason.
 */

/** `interrupted`: the ledger says running, but the attempt's execution ended without recording a result. */
export type PartitionState = "missing" | "running" | "interrupted" | "succeeded" | "failed" | "cancelled";
export type PlanAction = "run" | "rerun" | "skip";

export interface PlanEntry {
  partition: string;
  /** For daily partitions. */
  weekday?: Weekday;
  state: PartitionState;
  action: PlanAction;
  /** Why a partition is skipped or rerun. */
  reason?: string;
}

export interface BackfillPlan {
  backfillId: string;
  pipeline: string;
  requestId: string;
  reprocess: BackfillRequest["reprocess"];
  order: BackfillRequest["order"];
  maxConcurrent: number;
  params: Record<string, unknown>;
  createdAt: string;
  entries: PlanEntry[];
  counts: Record<PlanAction, number>;
}

export interface PlanTarget {
  id: string;
  partition: { kind: PartitionKind; latest?: (now: Date) => string; maxBackfill?: number };
}

export interface PlanOptions {
  now?: Date;
  /** The largest number of partitions one request may name, unless the pipeline says less. */
  maxPartitions?: number;
}

export const DEFAULT_MAX_PARTITIONS = 3660;

/** Which partitions a request names, validated, deduplicated and in the requested order. */
export function requestedPartitions(
  target: PlanTarget,
  request: BackfillRequest,
  options: PlanOptions = {},
): string[] {
  const kind = target.partition.kind;
  const max = Math.min(
    options.maxPartitions ?? DEFAULT_MAX_PARTITIONS,
    target.partition.maxBackfill ?? Number.POSITIVE_INFINITY,
  );
  const weekdays = (request.weekdays ?? []).map((w, i) => parseWeekday(w, `weekdays.${i}`));
  if (weekdays.length > 0 && kind !== "daily") {
    throw new NonRetriableError(
      `weekdays: ${target.id} has ${kind} partitions; weekday filters apply to daily partitions only`,
      {
        field: "weekdays",
        fix: "drop the weekday filter",
      },
    );
  }
  const set = new Set<string>();
  if (request.from !== undefined || request.to !== undefined) {
    if (kind === "key") {
      throw new NonRetriableError(
        `from/to: ${target.id} has key partitions, which cannot be enumerated from a range`,
        {
          field: "from",
          fix: "list the partitions in `dates`",
        },
      );
    }
    if (request.from === undefined)
      throw new NonRetriableError("from: is required with `to`", { field: "from" });
    const from = parsePartition(kind, request.from, "from");
    const to = parsePartition(kind, request.to ?? request.from, "to");
    if (comparePartitions(from, to) > 0) {
      throw new NonRetriableError(`from (${from}) is after to (${to})`, {
        field: "from",
        fix: "swap them; both ends are included",
      });
    }
    if (kind === "daily") {
      const span = (parseDay(to).getTime() - parseDay(from).getTime()) / 86_400_000 + 1;
      if (span > max) throw tooMany(span, max);
    }
    for (const p of inclusiveRange(kind, from, to)) set.add(p);
  }
  for (const [i, d] of (request.dates ?? []).entries()) set.add(parsePartition(kind, d, `dates.${i}`));
  if (set.size === 0 && request.from === undefined) {
    throw new NonRetriableError("a backfill needs `from` (and optionally `to`) or `dates`", {
      field: "from",
    });
  }
  let partitions = [...set];
  if (kind === "daily") partitions = filterWeekdays(partitions, weekdays);
  if (partitions.length === 0) {
    throw new NonRetriableError(
      `no ${weekdays.join("/")} falls between ${request.from} and ${request.to ?? request.from}`,
      {
        field: "weekdays",
        fix: "widen the range or change the weekday filter",
      },
    );
  }
  if (partitions.length > max) throw tooMany(partitions.length, max);
  if (target.partition.latest && kind !== "key") {
    const latest = target.partition.latest(options.now ?? new Date());
    const future = partitions.filter((p) => comparePartitions(p, latest) > 0).sort(comparePartitions);
    if (future.length > 0) {
      throw new NonRetriableError(
        `${future.length} partition(s) are in the future for ${target.id}, from ${future[0]}; the latest that may run now is ${latest}`,
        { field: "to", fix: `end the backfill at ${latest} or earlier` },
      );
    }
  }
  partitions.sort(comparePartitions);
  if (request.order === "desc") partitions.reverse();
  return partitions;
}

function tooMany(count: number, max: number): NonRetriableError {
  return new NonRetriableError(
    `the request names ${count} partitions; at most ${max} are allowed in one backfill`,
    {
      field: "to",
      fix: "split it into several backfills",
    },
  );
}

/** Decide the action for one partition from its ledger state. */
export function actionFor(
  state: PartitionState,
  reprocess: BackfillRequest["reprocess"],
): { action: PlanAction; reason?: string } {
  switch (state) {
    case "missing":
      return { action: "run" };
    case "running":
      return { action: "skip", reason: "running now (cancel it first to rerun)" };
    case "interrupted":
      return { action: "run", reason: "its last attempt was interrupted before it ended" };
    case "succeeded":
      return reprocess === "all"
        ? { action: "rerun", reason: "succeeded before; reprocess=all" }
        : { action: "skip", reason: "already succeeded (use reprocess=all to rerun)" };
    case "failed":
    case "cancelled":
      return reprocess === "missing"
        ? { action: "skip", reason: `${state} before (use reprocess=failed to rerun)` }
        : { action: "rerun", reason: `${state} before; reprocess=${reprocess}` };
  }
}

/** Build the plan of a request against the ledger's current partition states. */
export function planBackfill(
  target: PlanTarget,
  request: BackfillRequest,
  states: ReadonlyMap<string, PartitionState>,
  options: PlanOptions = {},
): BackfillPlan {
  const now = options.now ?? new Date();
  const partitions = requestedPartitions(target, request, { ...options, now });
  const counts: Record<PlanAction, number> = { run: 0, rerun: 0, skip: 0 };
  const daily = target.partition.kind === "daily";
  const entries = partitions.map((partition): PlanEntry => {
    const state = states.get(partition) ?? "missing";
    const { action, reason } = actionFor(state, request.reprocess);
    counts[action] += 1;
    const entry: PlanEntry = { partition, state, action };
    if (daily) entry.weekday = weekdayOf(parseDay(partition));
    if (reason) entry.reason = reason;
    return entry;
  });
  return {
    backfillId: backfillIdFor(target.id, request.requestId),
    pipeline: target.id,
    requestId: request.requestId,
    reprocess: request.reprocess,
    order: request.order,
    maxConcurrent: request.maxConcurrent,
    params: request.params,
    createdAt: now.toISOString(),
    entries,
    counts,
  };
}

/** The partitions a plan runs (run and rerun), in plan order. */
export function partitionsToRun(plan: BackfillPlan): string[] {
  return plan.entries.filter((e) => e.action !== "skip").map((e) => e.partition);
}
