import { randomBytes } from "node:crypto";
import { AlreadyExistsError, type ObjectInfo, type ObjectStore } from "../adapters/ports.ts";
import { NonRetriableError, reasonOf } from "../core/errors.ts";
import {
  attemptLabel,
  checkBackfillId,
  checkPartition,
  checkPipeline,
  type Layout,
  layoutOf,
  type RecordKind,
} from "./layout.ts";

/**
 * The run ledger: who runs `(pipeline, partition)` and how it ended, kept as objects in one bucket.
 *
 * - A run is claimed by a create-only write of `attempt-000N.claim`, so of many concurrent claimers (threads,
 *   processes, Cloud Functions instances) exactly one wins attempt N. A partition whose latest attempt failed
 *   or was cancelled may be claimed again (attempt N+1); one that succeeded only with `force`; one that is
 *   running not at all (cancel it first), so that duplicate forced requests cannot start two runs.
 * - Every record is create-only: an attempt has at most one start and at most one terminal state, so a late
 *   `fail` cannot overwrite a `succeed` (repeating the same transition is a no-op).
 * - `partitionStates` reads the latest state of every partition of a pipeline from ONE listing.
 * See `layout.ts` for the object names.
 */

export type RunState = "running" | "succeeded" | "failed" | "cancelled";
export type TerminalState = Exclude<RunState, "running">;
export type BackfillState = "planned" | "running" | "succeeded" | "failed" | "cancelled";

export interface RunKey {
  pipeline: string;
  partition: string;
  attempt: number;
}

export interface ClaimRequest {
  pipeline: string;
  partition: string;
  runId: string;
  /**
   * Claim the next attempt even when the partition succeeded (an operator's rerun). A running attempt is never
   * taken over, even with force, so duplicate forced requests still yield one run: cancel a stuck run first.
   */
  force?: boolean;
  backfillId?: string;
  params?: Record<string, unknown>;
  /**
   * The workflow execution that claims (written with the claim, in the same object), so that an attempt whose
   * process died right after claiming is known by its execution's state, not only by its age.
   */
  execution?: string;
}

export type ClaimResult =
  | { claimed: true; attempt: number; run: RunKey }
  | { claimed: false; state: RunState; attempt: number; reason: string; runId?: string };

export interface PartitionStatus {
  state: RunState;
  attempt: number;
  runId?: string;
  /** The terminal reason (failed, cancelled), cut to 1000 characters; `getRun` has it whole. */
  reason?: string;
  backfillId?: string;
  claimedAt: string;
  startedAt?: string;
  /** When the latest record of this attempt was written. */
  updated: string;
}

export interface RunRecord extends PartitionStatus {
  pipeline: string;
  partition: string;
}

export interface RunDetails extends RunRecord {
  params?: Record<string, unknown>;
  force: boolean;
  /** The execution named by the claim, if it named one. */
  execution?: string;
}

export interface RunEventRecord {
  at: string;
  type: string;
  message?: string;
  data?: unknown;
}

export interface BackfillInput {
  backfillId: string;
  pipeline: string;
  request: unknown;
  plan: unknown;
  state?: BackfillState;
}

export interface BackfillSummary {
  backfillId: string;
  pipeline: string;
  state: BackfillState;
  reason?: string;
  createdAt: string;
  updated: string;
}

export interface BackfillRecord extends BackfillSummary {
  request: unknown;
  plan: unknown;
}

export interface LedgerOptions {
  /** Name prefix inside the bucket (default `ledger`). */
  root?: string;
  now?: () => Date;
}

export interface Ledger {
  claim(request: ClaimRequest): Promise<ClaimResult>;
  markRunning(run: RunKey): Promise<void>;
  succeed(run: RunKey): Promise<void>;
  fail(run: RunKey, reason: unknown): Promise<void>;
  cancel(run: RunKey, reason?: string): Promise<void>;
  /** The latest attempt's state of every partition that has one, from one listing. */
  partitionStates(pipeline: string): Promise<Map<string, PartitionStatus>>;
  /** One partition's latest state; undefined when it never ran. */
  partitionState(pipeline: string, partition: string): Promise<PartitionStatus | undefined>;
  /** Every attempt (not only the latest) matching the filter, newest first. One listing. */
  listRuns(filter?: {
    pipeline?: string;
    state?: RunState;
    backfillId?: string;
    since?: string | Date;
  }): Promise<RunRecord[]>;
  getRun(run: RunKey): Promise<RunDetails | undefined>;
  appendEvent(run: RunKey, event: { type: string; message?: string; data?: unknown }): Promise<void>;
  events(run: RunKey): Promise<RunEventRecord[]>;
  /** Create-only: a second request with the same backfill id is reported, not stored. */
  putBackfill(
    input: BackfillInput,
  ): Promise<{ created: true } | { created: false; existing: BackfillRecord }>;
  /**
   * Record a backfill's state. A terminal state (succeeded, failed, cancelled) is written create-only as the
   * backfill's one `end.json`: the first terminal state wins and stays. A later call (a redelivered driver
   * end, a cancel after the end, a stale `running`) changes nothing and gets `recorded: false` with the state
   * that holds.
   */
  setBackfillState(
    backfillId: string,
    state: BackfillState,
    reason?: string,
  ): Promise<{ recorded: boolean; state: BackfillState; reason?: string }>;
  getBackfill(backfillId: string): Promise<BackfillRecord | undefined>;
  listBackfills(filter?: { pipeline?: string; state?: BackfillState }): Promise<BackfillSummary[]>;
}

const REASON_IN_METADATA = 1000;
const TERMINAL = new Set<string>(["succeeded", "failed", "cancelled"]);
/** A backfill's one terminal record, create-only; it outranks every `state-*.json`. */
const BACKFILL_END = "end.json";
const BACKFILL_STATES = new Set<string>(["planned", "running", "succeeded", "failed", "cancelled"]);

export function createLedger(store: ObjectStore, options: LedgerOptions = {}): Ledger {
  const layout: Layout = layoutOf(options.root ?? "ledger");
  const now = options.now ?? (() => new Date());
  let sequence = 0;
  /** A name part that sorts by time, then by write order within this process. */
  const timeKey = () => {
    const t = now();
    return `${t.toISOString().replace(/[-:.]/g, "")}-${(sequence++ % 0xffff).toString(16).padStart(4, "0")}-${randomBytes(3).toString("hex")}`;
  };

  const json = (value: unknown) => JSON.stringify(value, null, 2);

  async function attemptsOf(pipeline: string, partition: string): Promise<Map<number, Attempt>> {
    return groupAttempts(layout, await store.list(layout.partitionPrefix(pipeline, partition)));
  }

  async function transition(
    run: RunKey,
    kind: "running" | "end",
    state: RunState,
    reason?: string,
  ): Promise<void> {
    checkRun(run);
    const attempts = await attemptsOf(run.pipeline, run.partition);
    const current = attempts.get(run.attempt);
    const where = `${run.pipeline} ${run.partition} ${attemptLabel(run.attempt)}`;
    if (!current?.claim) {
      throw new NonRetriableError(`run ${where} was never claimed; cannot mark it ${state}`, {
        field: "attempt",
        fix: "claim the run first and pass the attempt number the claim returned",
      });
    }
    const ended = current.end?.metadata?.state;
    if (kind === "running") {
      if (ended)
        throw new NonRetriableError(`run ${where} already ${ended}; it cannot start again`, {
          field: "attempt",
        });
      if (current.running) return;
    } else if (ended) {
      if (ended === state) return;
      throw new NonRetriableError(`run ${where} already ${ended}; it cannot become ${state}`, {
        field: "attempt",
      });
    }
    const metadata: Record<string, string> = { state };
    const runId = current.claim.metadata?.runId;
    if (runId) metadata.runId = runId;
    const backfillId = current.claim.metadata?.backfillId;
    if (backfillId) metadata.backfillId = backfillId;
    if (reason) metadata.reason = reason.slice(0, REASON_IN_METADATA);
    const body = { state, at: now().toISOString(), ...(reason ? { reason } : {}), runId };
    try {
      await store.put(layout.record(run.pipeline, run.partition, run.attempt, kind), json(body), {
        ifNotExists: true,
        contentType: "application/json",
        metadata,
      });
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      if (kind === "running") return;
      // Another writer ended this attempt between our listing and our write: same state is fine.
      const again = (await attemptsOf(run.pipeline, run.partition)).get(run.attempt);
      const other = again?.end?.metadata?.state;
      if (other !== state) {
        throw new NonRetriableError(`run ${where} already ${other ?? "ended"}; it cannot become ${state}`, {
          field: "attempt",
        });
      }
    }
  }

  async function readBackfill(backfillId: string): Promise<BackfillRecord | undefined> {
    const infos = await store.list(layout.backfillPrefix(backfillId));
    const found = summarizeBackfills(layout, infos).get(backfillId);
    if (!found) return undefined;
    const { ended: _ended, ...summary } = found;
    const body = JSON.parse(
      (await store.get(`${layout.backfillPrefix(backfillId)}request.json`)).toString("utf8"),
    ) as {
      request: unknown;
      plan: unknown;
    };
    return { ...summary, request: body.request, plan: body.plan };
  }

  return {
    async claim(request) {
      const pipeline = checkPipeline(request.pipeline);
      const partition = checkPartition(request.partition);
      if (typeof request.runId !== "string" || request.runId.length === 0) {
        throw new NonRetriableError("claim needs a runId", { field: "runId" });
      }
      if (request.backfillId !== undefined) checkBackfillId(request.backfillId);
      const attempts = await attemptsOf(pipeline, partition);
      const latest = latestOf(attempts);
      if (latest) {
        const status = statusOf(latest);
        // A running attempt is never taken over (cancel it first): duplicate forced requests must not pile up
        // attempts. `force` reruns a succeeded partition.
        if (status.state === "running" || (status.state === "succeeded" && !request.force)) {
          return {
            claimed: false,
            state: status.state,
            attempt: latest.attempt,
            runId: status.runId,
            reason:
              status.state === "running"
                ? `${pipeline} ${partition} is running (attempt ${latest.attempt}${status.runId ? `, run ${status.runId}` : ""}); cancel it first to run it again`
                : `${pipeline} ${partition} already succeeded (attempt ${latest.attempt}); pass force to run it again`,
          };
        }
      }
      const attempt = (latest?.attempt ?? 0) + 1;
      const metadata: Record<string, string> = { state: "running", runId: request.runId };
      if (request.backfillId) metadata.backfillId = request.backfillId;
      if (request.force) metadata.force = "true";
      const body = {
        pipeline,
        partition,
        attempt,
        runId: request.runId,
        claimedAt: now().toISOString(),
        force: request.force === true,
        ...(request.backfillId ? { backfillId: request.backfillId } : {}),
        ...(request.params ? { params: request.params } : {}),
        ...(request.execution ? { execution: request.execution } : {}),
      };
      try {
        await store.put(layout.record(pipeline, partition, attempt, "claim"), json(body), {
          ifNotExists: true,
          contentType: "application/json",
          metadata,
        });
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        const winner = (await attemptsOf(pipeline, partition)).get(attempt);
        const status = winner ? statusOf(winner) : undefined;
        return {
          claimed: false,
          state: status?.state ?? "running",
          attempt,
          runId: status?.runId,
          reason: `${pipeline} ${partition} attempt ${attempt} was claimed by another run${status?.runId ? ` (${status.runId})` : ""}`,
        };
      }
      return { claimed: true, attempt, run: { pipeline, partition, attempt } };
    },

    markRunning: (run) => transition(run, "running", "running"),
    succeed: (run) => transition(run, "end", "succeeded"),
    fail: (run, reason) => transition(run, "end", "failed", reasonOf(reason) || "failed without a reason"),
    cancel: (run, reason) => transition(run, "end", "cancelled", reason ?? "cancelled"),

    async partitionStates(pipeline) {
      const out = new Map<string, PartitionStatus>();
      const byPartition = new Map<string, Map<number, Attempt>>();
      for (const info of await store.list(layout.runsPrefix(pipeline))) {
        const rec = layout.parseRecord(info.name);
        if (!rec || rec.pipeline !== pipeline) continue;
        let attempts = byPartition.get(rec.partition);
        if (!attempts) {
          attempts = new Map();
          byPartition.set(rec.partition, attempts);
        }
        addRecord(attempts, rec.attempt, rec.kind, info);
      }
      for (const [partition, attempts] of byPartition) {
        const latest = latestOf(attempts);
        if (latest) out.set(partition, statusOf(latest));
      }
      return out;
    },

    async partitionState(pipeline, partition) {
      const latest = latestOf(await attemptsOf(checkPipeline(pipeline), partition));
      return latest ? statusOf(latest) : undefined;
    },

    async listRuns(filter = {}) {
      const since = filter.since === undefined ? undefined : new Date(filter.since).getTime();
      if (since !== undefined && Number.isNaN(since)) {
        throw new NonRetriableError(`since "${String(filter.since)}" is not a time`, { field: "since" });
      }
      const groups = new Map<
        string,
        { pipeline: string; partition: string; attempts: Map<number, Attempt> }
      >();
      for (const info of await store.list(layout.runsPrefix(filter.pipeline))) {
        const rec = layout.parseRecord(info.name);
        if (!rec) continue;
        const key = `${rec.pipeline}\u0000${rec.partition}`;
        let group = groups.get(key);
        if (!group) {
          group = { pipeline: rec.pipeline, partition: rec.partition, attempts: new Map() };
          groups.set(key, group);
        }
        addRecord(group.attempts, rec.attempt, rec.kind, info);
      }
      const runs: RunRecord[] = [];
      for (const g of groups.values()) {
        for (const a of g.attempts.values()) {
          if (!a.claim) continue;
          const r: RunRecord = { pipeline: g.pipeline, partition: g.partition, ...statusOf(a) };
          if (filter.state && r.state !== filter.state) continue;
          if (filter.backfillId && r.backfillId !== filter.backfillId) continue;
          if (since !== undefined && Date.parse(r.updated) < since) continue;
          runs.push(r);
        }
      }
      return runs.sort((x, y) => y.updated.localeCompare(x.updated) || y.attempt - x.attempt);
    },

    async getRun(run) {
      checkRun(run);
      const a = (await attemptsOf(run.pipeline, run.partition)).get(run.attempt);
      if (!a?.claim) return undefined;
      const claim = JSON.parse(
        (await store.get(layout.record(run.pipeline, run.partition, run.attempt, "claim"))).toString("utf8"),
      ) as { params?: Record<string, unknown>; force?: boolean; execution?: unknown };
      const details: RunDetails = {
        pipeline: run.pipeline,
        partition: run.partition,
        ...statusOf(a),
        force: claim.force === true,
      };
      if (claim.params) details.params = claim.params;
      if (typeof claim.execution === "string") details.execution = claim.execution;
      if (a.end && TERMINAL.has(String(a.end.metadata?.state)) && details.state !== "succeeded") {
        const end = JSON.parse(
          (await store.get(layout.record(run.pipeline, run.partition, run.attempt, "end"))).toString("utf8"),
        ) as { reason?: string };
        if (end.reason) details.reason = end.reason;
      }
      return details;
    },

    async appendEvent(run, event) {
      checkRun(run);
      if (typeof event.type !== "string" || event.type.length === 0) {
        throw new NonRetriableError("a run event needs a type", { field: "type" });
      }
      const record: RunEventRecord = { at: now().toISOString(), type: event.type };
      if (event.message !== undefined) record.message = event.message;
      if (event.data !== undefined) record.data = event.data;
      const name = `${layout.eventsPrefix(run.pipeline, run.partition, run.attempt)}${timeKey()}.json`;
      await store.put(name, JSON.stringify(record), { ifNotExists: true, contentType: "application/json" });
    },

    async events(run) {
      checkRun(run);
      const infos = await store.list(layout.eventsPrefix(run.pipeline, run.partition, run.attempt));
      const out: RunEventRecord[] = [];
      for (const info of infos)
        out.push(JSON.parse((await store.get(info.name)).toString("utf8")) as RunEventRecord);
      return out;
    },

    async putBackfill(input) {
      const id = checkBackfillId(input.backfillId);
      checkPipeline(input.pipeline);
      const state = input.state ?? "planned";
      checkBackfillState(state);
      const createdAt = now().toISOString();
      try {
        await store.put(
          `${layout.backfillPrefix(id)}request.json`,
          json({
            backfillId: id,
            pipeline: input.pipeline,
            createdAt,
            request: input.request,
            plan: input.plan,
          }),
          {
            ifNotExists: true,
            contentType: "application/json",
            metadata: { pipeline: input.pipeline, state, createdAt },
          },
        );
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        const existing = await readBackfill(id);
        if (!existing) throw err;
        return { created: false, existing };
      }
      return { created: true };
    },

    async setBackfillState(backfillId, state, reason) {
      const id = checkBackfillId(backfillId);
      checkBackfillState(state);
      const prefix = layout.backfillPrefix(id);
      const current = summarizeBackfills(layout, await store.list(prefix)).get(id);
      if (!current) {
        throw new NonRetriableError(`backfill ${id} does not exist`, {
          field: "backfillId",
          fix: "put the backfill first",
        });
      }
      if (TERMINAL.has(current.state) && current.ended)
        return { recorded: false, state: current.state, reason: current.reason };
      const metadata: Record<string, string> = { state };
      if (reason) metadata.reason = reason.slice(0, REASON_IN_METADATA);
      const body = json({ state, at: now().toISOString(), reason });
      if (!TERMINAL.has(state)) {
        await store.put(`${prefix}state-${timeKey()}.json`, body, {
          ifNotExists: true,
          contentType: "application/json",
          metadata,
        });
        return { recorded: true, state, reason };
      }
      try {
        await store.put(`${prefix}${BACKFILL_END}`, body, {
          ifNotExists: true,
          contentType: "application/json",
          metadata,
        });
        return { recorded: true, state, reason };
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        // Another writer ended it between our listing and our write: its end holds.
        const ended = summarizeBackfills(layout, await store.list(prefix)).get(id) as BackfillSummary;
        return { recorded: false, state: ended.state, reason: ended.reason };
      }
    },

    getBackfill: (backfillId) => readBackfill(checkBackfillId(backfillId)),

    async listBackfills(filter = {}) {
      const all = summarizeBackfills(layout, await store.list(layout.backfillsPrefix()));
      return [...all.values()]
        .filter(
          (b) =>
            (!filter.pipeline || b.pipeline === filter.pipeline) &&
            (!filter.state || b.state === filter.state),
        )
        .map(({ ended: _ended, ...summary }): BackfillSummary => summary)
        .sort((x, y) => y.createdAt.localeCompare(x.createdAt));
    },
  };
}

// ---------------------------------------------------------------- deriving states from listings

interface Attempt {
  attempt: number;
  claim?: ObjectInfo;
  running?: ObjectInfo;
  end?: ObjectInfo;
}

function addRecord(
  attempts: Map<number, Attempt>,
  attempt: number,
  kind: RecordKind,
  info: ObjectInfo,
): void {
  let a = attempts.get(attempt);
  if (!a) {
    a = { attempt };
    attempts.set(attempt, a);
  }
  a[kind] = info;
}

function groupAttempts(layout: Layout, infos: ObjectInfo[]): Map<number, Attempt> {
  const attempts = new Map<number, Attempt>();
  for (const info of infos) {
    const rec = layout.parseRecord(info.name);
    if (rec) addRecord(attempts, rec.attempt, rec.kind, info);
  }
  return attempts;
}

/** The highest claimed attempt. */
function latestOf(attempts: Map<number, Attempt>): Attempt | undefined {
  let latest: Attempt | undefined;
  for (const a of attempts.values()) if (a.claim && (!latest || a.attempt > latest.attempt)) latest = a;
  return latest;
}

function statusOf(a: Attempt): PartitionStatus {
  const claim = a.claim as ObjectInfo;
  const endState = a.end?.metadata?.state;
  const state: RunState = endState && TERMINAL.has(endState) ? (endState as TerminalState) : "running";
  const updated = [claim, a.running, a.end]
    .filter((x): x is ObjectInfo => x !== undefined)
    .map((x) => x.updated);
  const status: PartitionStatus = {
    state,
    attempt: a.attempt,
    claimedAt: claim.updated,
    updated: updated.sort().at(-1) as string,
  };
  if (claim.metadata?.runId) status.runId = claim.metadata.runId;
  if (claim.metadata?.backfillId) status.backfillId = claim.metadata.backfillId;
  if (a.running) status.startedAt = a.running.updated;
  if (a.end?.metadata?.reason && state !== "succeeded") status.reason = a.end.metadata.reason;
  return status;
}

function summarizeBackfills(
  layout: Layout,
  infos: ObjectInfo[],
): Map<string, BackfillSummary & { ended: boolean }> {
  const base = layout.backfillsPrefix();
  const requests = new Map<string, ObjectInfo>();
  const states = new Map<string, ObjectInfo>();
  const ends = new Map<string, ObjectInfo>();
  for (const info of infos) {
    if (!info.name.startsWith(base)) continue;
    const [id, file, extra] = info.name.slice(base.length).split("/");
    if (extra !== undefined || !id || !file) continue;
    if (file === "request.json") requests.set(id, info);
    else if (file === BACKFILL_END) ends.set(id, info);
    else if (file.startsWith("state-")) {
      const prev = states.get(id);
      if (!prev || prev.name < info.name) states.set(id, info);
    }
  }
  const out = new Map<string, BackfillSummary & { ended: boolean }>();
  for (const [id, req] of requests) {
    // The terminal record wins over any state change written after it (e.g. a late `running`).
    const latest = ends.get(id) ?? states.get(id);
    const source = latest ?? req;
    const summary: BackfillSummary & { ended: boolean } = {
      backfillId: id,
      pipeline: req.metadata?.pipeline ?? "",
      state: (source.metadata?.state as BackfillState | undefined) ?? "planned",
      createdAt: req.metadata?.createdAt ?? req.updated,
      updated: source.updated,
      ended: ends.has(id),
    };
    if (latest?.metadata?.reason) summary.reason = latest.metadata.reason;
    out.set(id, summary);
  }
  return out;
}

function checkRun(run: RunKey): void {
  checkPipeline(run.pipeline);
  checkPartition(run.partition);
  if (!Number.isInteger(run.attempt) || run.attempt < 1) {
    throw new NonRetriableError(`attempt must be a positive integer, got ${String(run.attempt)}`, {
      field: "attempt",
    });
  }
}

function checkBackfillState(state: string): void {
  if (!BACKFILL_STATES.has(state)) {
    throw new NonRetriableError(
      `backfill state "${state}" is not one of ${[...BACKFILL_STATES].join(", ")}`,
      {
        field: "state",
      },
    );
  }
}
