import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { AlreadyExistsError, type ObjectStore } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { type JobConfig, parseJobConfig } from "./jobconfig.ts";
import { type RunStatus, readRunRecord, readStatus, runRecordName, trialsDone } from "./runrecord.ts";

/**
 * The training API behind `functions/mmm` (`mmm-api`): train / status / metadata in the original app's envelope,
 * and the training queue. Each queue trains one run at a time in FIFO order: `train` writes the run's own
 * request (`mmm/runs/<id>/request.json`, create-only) and, unless the queue is idle (then the run takes the
 * lease and starts at once), a queue item named by enqueue time; `pump` (called on every train and status
 * request, as the original's scheduler tick) holds `mmm/queue/<queue>/lease.json`, created create-only and
 * released only by the holder that still sees the generation it created, once its run's status.json is
 * terminal; then the oldest item is leased and started.
 */

export interface Envelope<T = unknown> {
  status: "success" | "error";
  timestamp: string;
  data: T | null;
  message: string;
}

export interface ApiDeps {
  store: ObjectStore;
  /** Starts the run's workflow (publishes its tick). */
  start(runId: string, config: JobConfig): Promise<void>;
  /** The execution's state from the run ledger, when known. */
  executionState?(runId: string): Promise<string | undefined>;
  now?: () => Date;
}

interface Request {
  runId: string;
  queue: string;
  queuedAt: string;
  config: JobConfig;
}

interface Lease {
  runId: string;
  acquiredAt: string;
}

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "SKIPPED"]);
const requestName = (runId: string) => `mmm/runs/${runId}/request.json`;
const queuePrefix = (q: string) => `mmm/queue/${q}/items/`;
const leaseName = (q: string) => `mmm/queue/${q}/lease.json`;

let counter = 0;

export class NotFound extends NonRetriableError {}

/**
 * Locally, the state directory of the twin whose state bucket this is: a local bucket is the directory
 * `<stateDir>/objects/<bucket>/`. Lets functions hosted by a twin on another directory than `.tessera` follow it.
 */
export function localStateDirOf(state: Pick<ObjectStore, "uri">): string | undefined {
  try {
    const uri = state.uri("probe");
    if (!uri.startsWith("file:")) return undefined;
    return /^(.*)[\\/]objects[\\/][^\\/]+[\\/]probe$/.exec(fileURLToPath(uri))?.[1];
  } catch {
    return undefined;
  }
}

export function envelope<T>(data: T | null, message: string, now: Date, ok = true): Envelope<T> {
  return { status: ok ? "success" : "error", timestamp: now.toISOString(), data, message };
}

async function readJson<T>(store: ObjectStore, name: string): Promise<T> {
  return JSON.parse((await store.get(name)).toString("utf8")) as T;
}

/**
 * The run's status: status.json in its artifact prefix (or the early-failure one), else QUEUED.
 * `known`: the run's request as the caller has just written it (train), not read back; the reads that do not
 * depend on each other then go out together.
 */
export async function runStatus(
  deps: ApiDeps,
  runId: string,
  known?: Request,
): Promise<RunStatus & { execution?: string }> {
  const { store } = deps;
  let execution: string | undefined;
  let recorded: boolean;
  let queued: Promise<{ name: string }[]> | undefined;
  if (known) {
    queued = store.list(queuePrefix(known.queue));
    queued.catch(() => undefined);
    [execution, recorded] = await Promise.all([
      deps.executionState?.(runId),
      store.exists(runRecordName(runId)),
    ]);
  } else {
    if (!(await store.exists(requestName(runId))) && !(await store.exists(runRecordName(runId))))
      throw new NotFound(`no run "${runId}"`, { field: "job_id", fix: "use the job_id train returned" });
    execution = await deps.executionState?.(runId);
    recorded = await store.exists(runRecordName(runId));
  }
  if (recorded) {
    const rec = await readRunRecord(store, runId);
    const s = (await readStatus(store, rec.prefix)) ?? (await readStatus(store, `mmm/runs/${runId}/`));
    if (s) {
      const out = {
        ...s,
        execution,
        prefix: store.uri(`${rec.prefix}status.json`).replace(/status\.json$/, ""),
      };
      if (s.state === "RUNNING" && s.step === "trials" && rec.config?.trials) {
        const done = await trialsDone(store, rec.prefix);
        out.progress = 0.1 + (0.7 * done) / rec.config.trials;
        out.message = `${done}/${rec.config.trials} trials done`;
      }
      // A workflow that ended without the job recording it (killed, timed out, cancelled) is reported as failed.
      if (s.state === "RUNNING" && (execution === "failed" || execution === "cancelled"))
        return { ...out, state: "FAILED", message: `the run's execution ${execution}` };
      return out;
    }
  }
  const req = known ?? (await readJson<Request>(store, requestName(runId)));
  const items = (await (queued ?? store.list(queuePrefix(req.queue)))).map((o) => o.name);
  const position = items.findIndex((n) => n.endsWith(`-${runId}.json`));
  return {
    state: "QUEUED",
    run_id: runId,
    progress: 0,
    message: position >= 0 ? `position ${position + 1} in queue ${req.queue}` : "starting",
    updated_at: req.queuedAt,
    execution,
  };
}

/**
 * One scheduler tick of a queue: release a finished lease, lease and start the oldest waiting run.
 * `known`: a request the caller has just written (train), not read back when its item is the oldest.
 */
export async function pump(deps: ApiDeps, queue: string, known?: Request): Promise<string | undefined> {
  const { store } = deps;
  const now = (deps.now ?? (() => new Date()))();
  const lease = leaseName(queue);
  // The queue is listed while the lease is checked (one round trip instead of two); that listing is used only
  // when there is no lease to release, else the queue is listed again after the release.
  const listed = store.list(queuePrefix(queue));
  listed.catch(() => undefined);
  let items: Awaited<typeof listed> | undefined;
  if (!(await store.exists(lease))) {
    items = await listed;
  } else {
    const info = await store.stat(lease);
    const held = await readJson<Lease>(store, lease);
    const s = await runStatus(deps, held.runId).catch(() => undefined);
    if (s && !TERMINAL.has(s.state)) return undefined;
    // Release only the lease this tick read: a different generation means another tick already moved on.
    const again = await store.stat(lease).catch(() => undefined);
    if (!again || again.generation !== info.generation) return undefined;
    await store.delete(lease, { ignoreMissing: true });
  }
  items ??= await store.list(queuePrefix(queue));
  if (items.length === 0) return undefined;
  const next = items[0].name;
  const req =
    known && next.endsWith(`-${known.runId}.json`)
      ? known
      : await readJson<Request>(store, requestName((await readJson<{ runId: string }>(store, next)).runId));
  if (!(await takeLease(store, lease, req.runId, now))) return undefined;
  await store.delete(next, { ignoreMissing: true });
  await deps.start(req.runId, req.config);
  return req.runId;
}

/**
 * The queue's reaction to a run ending (a run event of the mmm pipeline): advance the queue the run was
 * trained from, so the next run starts when one finishes, not at the next API call. Runs not started by the
 * queue (e.g. the demo tick) have no request and are ignored. Returns the run started, if any.
 */
export async function advanceOnRunEnd(
  deps: ApiDeps,
  event: { type?: string; pipeline?: string; partition?: string },
): Promise<string | undefined> {
  if (event.pipeline !== "mmm" || !event.partition || event.type === "run.started") return undefined;
  const name = requestName(event.partition);
  if (!(await deps.store.exists(name))) return undefined;
  const req = await readJson<Request>(deps.store, name);
  return pump(deps, req.queue);
}

/**
 * Writes the run's request and, when its queue is idle (no lease, no waiting item), leases the queue for it
 * and starts it without an item: what enqueue-then-pump would do, in 3 round trips instead of 6 (the request
 * write and both checks go out together). Returns false, with the request written and nothing else done, when
 * the queue is not idle or another request took the lease first: the caller enqueues as usual. A run started
 * here is ordered as if it had been enqueued when the lease was taken.
 */
async function startIfIdle(deps: ApiDeps, req: Request): Promise<boolean> {
  const { store } = deps;
  const now = (deps.now ?? (() => new Date()))();
  const lease = leaseName(req.queue);
  const [, leased, items] = await Promise.all([
    store.put(requestName(req.runId), JSON.stringify(req), { ifNotExists: true }),
    store.exists(lease),
    store.list(queuePrefix(req.queue)),
  ]);
  if (leased || items.length > 0 || !(await takeLease(store, lease, req.runId, now))) return false;
  await deps.start(req.runId, req.config);
  return true;
}

/** Creates the queue's lease for `runId` (create-only); false when another holder created it first. */
async function takeLease(store: ObjectStore, lease: string, runId: string, now: Date): Promise<boolean> {
  try {
    await store.put(lease, JSON.stringify({ runId, acquiredAt: now.toISOString() } satisfies Lease), {
      ifNotExists: true,
    });
    return true;
  } catch (err) {
    if (err instanceof AlreadyExistsError) return false;
    throw err;
  }
}

/** `train`: validate (as the original: required fields, iterations 1-10,000, trials 1-20, dates), enqueue, pump. */
export async function train(
  deps: ApiDeps,
  input: unknown,
): Promise<{ job_id: string; state: string; queue: string; config: JobConfig }> {
  const now = (deps.now ?? (() => new Date()))();
  const config = parseJobConfig(input, "train");
  const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const runId = `api-job-${config.country}-${stamp}-${randomBytes(3).toString("hex")}`;
  const req: Request = { runId, queue: config.queue, queuedAt: now.toISOString(), config };
  if (!(await startIfIdle(deps, req))) {
    // Item names sort in enqueue order: milliseconds, then a per-process counter for the same millisecond.
    const seq = `${String(now.getTime()).padStart(15, "0")}${String(counter++ % 10_000).padStart(4, "0")}`;
    await deps.store.put(`${queuePrefix(config.queue)}${seq}-${runId}.json`, JSON.stringify({ runId }), {
      ifNotExists: true,
    });
    await pump(deps, config.queue, req);
  }
  const s = await runStatus(deps, runId, req);
  return { job_id: runId, state: s.state, queue: config.queue, config };
}

/** `status`: the run's state and progress; advances its queue first. */
export async function status(deps: ApiDeps, runId: string): Promise<RunStatus & { execution?: string }> {
  if (!runId) throw new NonRetriableError("job_id is required", { field: "job_id" });
  if (await deps.store.exists(requestName(runId))) {
    const req = await readJson<Request>(deps.store, requestName(runId));
    await pump(deps, req.queue);
  }
  return runStatus(deps, runId);
}

/** `metadata`: a country's variable mapping and latest model summary (`version=latest` or a timestamp). */
export async function metadata(
  deps: ApiDeps,
  country: string,
  version = "latest",
): Promise<Record<string, unknown>> {
  if (!/^[A-Za-z]{2}$/.test(country ?? ""))
    throw new NonRetriableError("country must be a two-letter code", { field: "country" });
  const c = country.toLowerCase();
  const name = `model_summary/${c}/summary.json`;
  if (!(await deps.store.exists(name)))
    throw new NotFound(`no model for country "${c}"`, { field: "country" });
  const agg = await readJson<{ runs: Record<string, unknown>[] }>(deps.store, name);
  const runs = [...agg.runs].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
  const run = version === "latest" ? runs[runs.length - 1] : runs.find((r) => r.timestamp === version);
  if (!run) throw new NotFound(`no run "${version}" for country "${c}"`, { field: "version" });
  return {
    country: c,
    version: run.timestamp,
    mapping: run.input_metadata,
    model_summary: run,
    total_runs: runs.length,
  };
}
