import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionState, WorkflowExecution, Workflows } from "../adapters/ports.ts";
import type { ExecutionRecord, ExecutionSummary, WorkflowEngine } from "../engine/index.ts";

/**
 * The workflows port on the local interpreter. Executions live in the process that started them (the local
 * twin inside `tessera run`, `tessera backfill` or `npm start`), and their records in the state directory, so
 * another process can list them, read them and ask for a cancel:
 *
 * - every twin process announces itself in `<stateDir>/twins/<pid>.json` while it lives;
 * - a cancel of an execution this process does not run becomes `<stateDir>/cancel-requests/<id>`, which the
 *   owning twin picks up within a poll;
 * - an ACTIVE record whose owner is gone (the process was killed) reads as FAILED "interrupted", and
 *   `reconcile()` writes that down when no other twin is alive.
 */
export interface LocalWorkflows extends Workflows {
  /** Mark executions left ACTIVE by a dead process as FAILED (interrupted). Returns their names. */
  reconcile(): string[];
  close(): void;
}

const INTERRUPTED = "interrupted: the local twin process that ran this execution stopped before it ended";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function idOf(name: string): string {
  return name.split("/").pop() ?? name;
}

export function createLocalWorkflows(
  engine: WorkflowEngine,
  stateDir: string,
  options: { pollMs?: number } = {},
): LocalWorkflows {
  const twins = join(stateDir, "twins");
  const requests = join(stateDir, "cancel-requests");
  mkdirSync(twins, { recursive: true });
  mkdirSync(requests, { recursive: true });
  const me = join(twins, `${process.pid}.json`);
  writeFileSync(me, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }));

  const otherTwinsAlive = (): boolean =>
    readdirSync(twins).some((f) => {
      const pid = Number(f.replace(/\.json$/, ""));
      if (pid === process.pid) return false;
      if (alive(pid)) return true;
      rmSync(join(twins, f), { force: true });
      return false;
    });

  const view = (r: ExecutionRecord | ExecutionSummary, full?: ExecutionRecord): WorkflowExecution => {
    let state: ExecutionState = r.state;
    let error = full?.error ?? undefined;
    if (state === "ACTIVE" && !engine.isLive(r.id) && !otherTwinsAlive()) {
      state = "FAILED";
      error = { message: INTERRUPTED, tags: ["InterruptedError"] };
    }
    return {
      name: r.name,
      workflow: r.workflow,
      state,
      argument: full?.argument,
      result: full && state === "SUCCEEDED" ? full.result : undefined,
      error: state === "FAILED" || state === "CANCELLED" ? (error ?? undefined) : undefined,
      labels: { ...(r.labels ?? {}) },
      startTime: r.startTime,
      endTime: r.endTime ?? undefined,
    };
  };

  const get = async (name: string): Promise<WorkflowExecution> => {
    const r = engine.get(idOf(name));
    if (!r) throw new Error(`execution ${name} not found`);
    return view(r, r);
  };

  const poll = setInterval(() => {
    for (const id of readdirSync(requests)) {
      if (engine.isLive(id)) {
        rmSync(join(requests, id), { force: true });
        void engine.cancel(id);
      }
    }
  }, options.pollMs ?? 200);
  poll.unref();

  return {
    async execute(workflow, argument, opts = {}) {
      const handle = await engine.startById(workflow, { argument, labels: opts.labels });
      return get(handle.name);
    },
    get,
    async wait(name) {
      const id = idOf(name);
      for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
        const e = await get(name);
        if (e.state !== "ACTIVE") return e;
        if (engine.isLive(id)) {
          await engine.wait(id);
          return get(name);
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    },
    async cancel(name) {
      const id = idOf(name);
      if (engine.isLive(id)) return engine.cancel(id);
      const r = engine.get(id);
      if (r?.state !== "ACTIVE") return;
      if (otherTwinsAlive()) writeFileSync(join(requests, id), new Date().toISOString());
    },
    async list(filter = {}) {
      return engine.list(filter).map((s) => view(s));
    },
    reconcile() {
      if (otherTwinsAlive()) return [];
      const out: string[] = [];
      for (const s of engine.list({ state: "ACTIVE" })) {
        if (engine.isLive(s.id)) continue;
        engine.markInterrupted(s.id, { message: INTERRUPTED, tags: ["InterruptedError"] });
        out.push(s.name);
      }
      for (const f of existsSync(requests) ? readdirSync(requests) : [])
        rmSync(join(requests, f), { force: true });
      return out;
    },
    close() {
      clearInterval(poll);
      rmSync(me, { force: true });
    },
  };
}
