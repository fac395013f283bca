import { randomUUID } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { NonRetriableError } from "../core/errors.ts";
import { type Clock, realClock, virtualClock } from "./clock.ts";
import {
  type ChildExecution,
  type ConnectorContext,
  type ConnectorHost,
  callConnector,
  callHttp,
  type StubOutcome,
  stubResult,
} from "./connectors.ts";
import { type HistoryEntry, Interpreter, type Limits, type RunHost } from "./interpreter.ts";
import { compileProgram, type Finding, type Program } from "./program.ts";
import { createLibrary } from "./stdlib.ts";
import { validateProgram } from "./validate.ts";
import {
  CancelledSignal,
  Double,
  fromPlain,
  isMap,
  isNumber,
  num,
  parseJsonValue,
  sizeOf,
  toJson,
  typeName,
  type Value,
  type WfMap,
  WorkflowError,
  wfError,
} from "./values.ts";

/**
 * Executions of workflows on the local interpreter: start (with the argument exactly as `gcloud workflows execute
 * --data` passes it), labels, state, result or error, step history, `sys.log` entries, requested sleeps, cancellation
 * (which reaches child executions and running jobs). With a `stateDir`, every execution is a JSON file under
 * `<stateDir>/executions/<workflow>/<id>.json` plus one line per state change in `index.jsonl` next to it, so that
 * `status` can read them after the process ends and listing never opens the large records.
 */

export type ExecutionState = "ACTIVE" | "SUCCEEDED" | "FAILED" | "CANCELLED";

export interface LogEntry {
  time: string;
  severity: string;
  text?: string;
  json?: unknown;
  step: string;
}

export interface ExecutionRecord {
  /** `projects/P/locations/L/workflows/W/executions/ID`. */
  name: string;
  id: string;
  workflow: string;
  file: string;
  state: ExecutionState;
  argument: unknown;
  result: unknown;
  /** The raised value (a map such as `{message, tags}`, or a string for `raise: "text"`). */
  error: unknown;
  labels: Record<string, string>;
  startTime: string;
  endTime: string | null;
  parent: string | null;
  stepCount: number;
  history: HistoryEntry[];
  logs: LogEntry[];
  /** Every delay the execution asked for, in order (sleep, retry backoff, polling), in seconds. */
  sleeps: number[];
}

export type ExecutionSummary = Pick<
  ExecutionRecord,
  "id" | "name" | "workflow" | "state" | "labels" | "startTime" | "endTime" | "parent"
>;

export interface EngineOptions {
  host?: ConnectorHost;
  /** Persist executions here (`<stateDir>/executions/...`); in memory only when absent. */
  stateDir?: string;
  /** A clock; or `virtualClock: true` for one that never waits. Real by default. */
  clock?: Clock;
  virtualClock?: boolean;
  /** User-defined environment variables returned by `sys.get_env` (the GOOGLE_CLOUD_* built-ins are added). */
  env?: Record<string, string>;
  project?: string;
  location?: string;
  /** Replace calls by name (connector methods, `http.*`) with finished operations. */
  stubs?: Record<string, StubOutcome>;
  limits?: Partial<Limits>;
  /** Receives every `sys.log` entry. */
  onLog?: (entry: LogEntry & { execution: string; workflow: string }) => void;
}

export interface StartOptions {
  /** The workflow id (defaults to the file name without `.workflows.yaml`/`.yaml`). */
  workflowId?: string;
  /** The argument as a JSON value (`main`'s one parameter). */
  argument?: unknown;
  /** The argument as JSON text, exactly as `--data` / the Executions API `argument` field carry it. */
  argumentJson?: string;
  labels?: Record<string, string>;
  parent?: string;
  executionId?: string;
}

export interface ExecutionHandle {
  id: string;
  name: string;
  workflow: string;
  /** Resolves when the execution ends, whatever its state (never rejects). */
  done: Promise<ExecutionRecord>;
  cancel(): Promise<void>;
}

export class WorkflowValidationError extends NonRetriableError {
  readonly findings: Finding[];
  constructor(findings: Finding[]) {
    super(
      `workflow does not validate:\n${findings.map((f) => `  ${f.file}:${f.line}: ${f.message}`).join("\n")}`,
      { fix: "fix the listed lines (tessera workflow validate FILE)" },
    );
    this.name = "WorkflowValidationError";
    this.findings = findings;
  }
}

export function workflowIdOf(file: string): string {
  return basename(file).replace(/\.workflows\.ya?ml$|\.ya?ml$|\.json$/i, "");
}

/** Compile a source; throws ParseError (unreadable) or WorkflowValidationError (deployment would reject it). */
export function loadProgram(text: string, file: string): Program {
  const program = compileProgram(text, file);
  const findings = validateProgram(program);
  if (findings.length > 0) throw new WorkflowValidationError(findings);
  return program;
}

interface Live {
  record: ExecutionRecord;
  interpreter: Interpreter | undefined;
  abort: AbortController;
  cancelHooks: Set<() => unknown>;
  children: Set<string>;
  done: Promise<ExecutionRecord>;
}

export class WorkflowEngine {
  readonly host: ConnectorHost;
  readonly clock: Clock;
  readonly project: string;
  readonly location: string;
  private readonly options: EngineOptions;
  private readonly live = new Map<string, Live>();
  private readonly finished = new Map<string, ExecutionRecord>();
  private readonly programs = new Map<string, Program>();

  constructor(options: EngineOptions = {}) {
    this.options = options;
    this.host = options.host ?? {};
    this.clock = options.clock ?? (options.virtualClock ? virtualClock() : realClock());
    this.project = options.project ?? options.env?.GOOGLE_CLOUD_PROJECT_ID ?? "local-project";
    this.location = options.location ?? options.env?.GOOGLE_CLOUD_LOCATION ?? "us-central1";
  }

  /** Compile (and cache by file and text) a workflow source. */
  compile(text: string, file: string): Program {
    const key = `${file}\0${text}`;
    let p = this.programs.get(key);
    if (!p) {
      p = loadProgram(text, file);
      this.programs.set(key, p);
    }
    return p;
  }

  loadFile(file: string): Program {
    return this.compile(readFileSync(file, "utf8"), file);
  }

  /** Start an execution of a compiled program; returns at once. */
  start(program: Program, options: StartOptions = {}): ExecutionHandle {
    const workflow = options.workflowId ?? workflowIdOf(program.file);
    const id = options.executionId ?? randomUUID();
    const name = `projects/${this.project}/locations/${this.location}/workflows/${workflow}/executions/${id}`;
    const record: ExecutionRecord = {
      name,
      id,
      workflow,
      file: program.file,
      state: "ACTIVE",
      argument: null,
      result: null,
      error: null,
      labels: { ...(options.labels ?? {}) },
      startTime: new Date(this.clock.nowMs()).toISOString(),
      endTime: null,
      parent: options.parent ?? null,
      stepCount: 0,
      history: [],
      logs: [],
      sleeps: [],
    };
    const abort = new AbortController();
    const live: Live = {
      record,
      interpreter: undefined,
      abort,
      cancelHooks: new Set(),
      children: new Set(),
      done: Promise.resolve(record),
    };
    this.live.set(id, live);
    let argument: Value = null;
    let startError: WorkflowError | undefined;
    try {
      argument =
        options.argumentJson !== undefined && options.argumentJson !== ""
          ? parseJsonValue(options.argumentJson)
          : fromPlain(options.argument ?? null);
      record.argument = toJson(argument);
      if (sizeOf(argument) > 512 * 1024)
        startError = wfError("ResourceLimitError", "the execution argument exceeds 512 KB");
    } catch (err) {
      startError =
        err instanceof WorkflowError
          ? err
          : wfError("ValueError", `the execution argument is not valid JSON: ${(err as Error).message}`);
    }
    this.persist(record);
    live.done = this.execute(program, live, argument, startError);
    return { id, name, workflow, done: live.done, cancel: () => this.cancel(id) };
  }

  /** Start and wait. */
  run(program: Program, options: StartOptions = {}): Promise<ExecutionRecord> {
    return this.start(program, options).done;
  }

  /** Start an execution of a workflow by id, resolved through `ConnectorHost.resolveWorkflow`. */
  async startById(
    workflowId: string,
    options: Omit<StartOptions, "workflowId"> = {},
  ): Promise<ExecutionHandle> {
    const src = await this.host.resolveWorkflow?.(workflowId);
    if (!src)
      throw new NonRetriableError(`workflow "${workflowId}" is not known to this engine`, {
        field: "workflowId",
        fix: "deploy it (add workflows-yaml/<id>.workflows.yaml) or pass ConnectorHost.resolveWorkflow",
      });
    return this.start(this.compile(src.text, src.file), { ...options, workflowId });
  }

  private async execute(
    program: Program,
    live: Live,
    argument: Value,
    startError: WorkflowError | undefined,
  ): Promise<ExecutionRecord> {
    const record = live.record;
    const env: Record<string, string> = {
      ...(this.options.env ?? {}),
      GOOGLE_CLOUD_PROJECT_ID: this.project,
      GOOGLE_CLOUD_PROJECT_NUMBER: this.options.env?.GOOGLE_CLOUD_PROJECT_NUMBER ?? "000000000000",
      GOOGLE_CLOUD_LOCATION: this.location,
      GOOGLE_CLOUD_WORKFLOW_ID: record.workflow,
      GOOGLE_CLOUD_WORKFLOW_REVISION_ID: "000001-local",
      GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID: record.id,
    };
    const lib = createLibrary({ env: (n) => env[n], nowMs: () => this.clock.nowMs() });
    const interp = new Interpreter(program, lib, this.runHost(live), this.options.limits);
    live.interpreter = interp;
    try {
      // Start returns before the first step, as the Executions API answers `create` with an ACTIVE execution.
      await null;
      if (startError) throw startError;
      const result = await interp.runMain(argument);
      record.result = toJson(result);
      record.state = "SUCCEEDED";
    } catch (err) {
      if (err instanceof CancelledSignal || live.abort.signal.aborted) {
        record.state = "CANCELLED";
        record.error = { message: "execution cancelled", tags: ["CancelledError"] };
      } else {
        record.state = "FAILED";
        const e =
          err instanceof WorkflowError
            ? err.value
            : wfError("SystemError", err instanceof Error ? err.message : String(err)).value;
        try {
          record.error = toJson(e);
        } catch {
          record.error = { message: String(err), tags: ["SystemError"] };
        }
      }
      record.result = null;
    }
    record.endTime = new Date(this.clock.nowMs()).toISOString();
    record.stepCount = interp.steps;
    record.history = interp.history;
    this.persist(record);
    this.live.delete(record.id);
    this.finished.set(record.id, record);
    // With a state directory the files are the record; keep only the newest in memory.
    if (this.options.stateDir && this.finished.size > 1000)
      this.finished.delete(this.finished.keys().next().value as string);
    return record;
  }

  private runHost(live: Live): RunHost {
    const record = live.record;
    const signal = live.abort.signal;
    const stubs = this.options.stubs ?? {};
    const sleep = (seconds: number): undefined | Promise<void> => {
      record.sleeps.push(seconds);
      return this.clock.sleep(seconds, signal);
    };
    const ctx: ConnectorContext = {
      host: this.host,
      workflow: record.workflow,
      executionId: record.id,
      project: this.project,
      location: this.location,
      signal,
      sleep,
      onCancel: (fn) => {
        live.cancelHooks.add(fn);
        return () => live.cancelHooks.delete(fn);
      },
      startChild: (workflowId, argument, labels) => this.startChild(live, workflowId, argument, labels),
      getExecution: async (name) => {
        const r = this.get(name.split("/").pop() ?? name);
        return r ? this.resource(r) : undefined;
      },
    };
    return {
      nowMs: () => this.clock.nowMs(),
      sleep,
      call: (name, args, stepName) => {
        const stub = stubs[name];
        if (stub !== undefined) return stubResult(name, stub);
        switch (name) {
          case "sys.sleep": {
            const s = args.seconds;
            if (!isNumber(s) || num(s) < 0)
              throw wfError(
                "TypeError",
                `sys.sleep: seconds must be a non-negative number, got ${typeName(s ?? null)}`,
              );
            return then(sleep(num(s)), () => null);
          }
          case "sys.sleep_until": {
            const t = args.time;
            if (typeof t !== "string" || Number.isNaN(Date.parse(t)))
              throw wfError("ValueError", "sys.sleep_until: time must be an RFC 3339 timestamp");
            return then(sleep(Math.max(0, (Date.parse(t) - this.clock.nowMs()) / 1000)), () => null);
          }
          case "sys.log": {
            const entry: LogEntry = {
              time: new Date(this.clock.nowMs()).toISOString(),
              severity: typeof args.severity === "string" ? args.severity : "DEFAULT",
              step: stepName,
            };
            const data = args.data ?? args.text ?? args.json;
            if (args.json !== undefined || (data !== undefined && typeof data !== "string"))
              entry.json = toJson((args.json ?? data) as Value);
            else entry.text = data === undefined ? "" : (data as string);
            record.logs.push(entry);
            this.options.onLog?.({ ...entry, execution: record.id, workflow: record.workflow });
            return null;
          }
        }
        if (name.startsWith("http.")) return raceAbort(callHttp(name, args, this.host, ctx), signal);
        if (name.startsWith("googleapis.") || this.host.connectors?.[name])
          return raceAbort(callConnector(name, args, this.host, ctx), signal);
        throw wfError(
          "SystemError",
          `${name} is not available in the local twin; stub it with --connector-stub`,
        );
      },
    };
  }

  private async startChild(
    parent: Live,
    workflowId: string,
    argument: Value,
    labels?: Record<string, string>,
  ): Promise<ChildExecution> {
    const src = await this.host.resolveWorkflow?.(workflowId);
    if (!src)
      throw wfError("HttpError", `workflow ${workflowId} not found (ConnectorHost.resolveWorkflow)`, {
        code: 404,
        headers: {},
        body: null,
      });
    let program: Program;
    try {
      program = this.compile(src.text, src.file);
    } catch (err) {
      throw wfError("HttpError", `workflow ${workflowId} does not compile: ${(err as Error).message}`, {
        code: 400,
        headers: {},
        body: null,
      });
    }
    const h = this.start(program, {
      workflowId,
      argument: toJson(argument),
      labels: { ...(labels ?? {}) },
      parent: parent.record.name,
    });
    parent.children.add(h.id);
    return {
      name: h.name,
      initial: this.resource(this.get(h.id) as ExecutionRecord),
      done: h.done.then((r) => this.resource(r)),
    };
  }

  /** The Executions API view: `argument`/`result` as JSON strings, `error` as {payload, context}. */
  resource(r: ExecutionRecord): WfMap {
    return fromPlain({
      name: r.name,
      state: r.state,
      argument: JSON.stringify(r.argument),
      result: r.state === "SUCCEEDED" ? JSON.stringify(r.result) : undefined,
      error:
        r.state === "FAILED"
          ? {
              payload: typeof r.error === "string" ? r.error : JSON.stringify(r.error),
              context: `in ${r.workflow}`,
            }
          : undefined,
      startTime: r.startTime,
      endTime: r.endTime ?? undefined,
      labels: r.labels,
      workflowRevisionId: "000001-local",
    }) as WfMap;
  }

  /** Cancel an ACTIVE execution, its child executions and its running jobs. */
  async cancel(id: string): Promise<void> {
    const live = this.live.get(id);
    if (!live) return;
    if (live.interpreter) live.interpreter.cancelled = true;
    live.abort.abort();
    const hooks = [...live.cancelHooks];
    live.cancelHooks.clear();
    await Promise.allSettled([
      ...hooks.map(async (h) => h()),
      ...[...live.children].map((c) => this.cancel(c)),
    ]);
    await live.done;
  }

  /** Whether this engine is running the execution now (as opposed to a record left by another process). */
  isLive(id: string): boolean {
    return this.live.has(id);
  }

  /** Resolve with the record when a live execution of this engine ends; at once for any other. */
  async wait(id: string): Promise<ExecutionRecord | undefined> {
    const live = this.live.get(id);
    return live ? live.done : this.get(id);
  }

  /**
   * Record as FAILED an execution that a stopped process left ACTIVE in the state directory (the local twin
   * calls this at start when no other twin process is alive). No-op for live or ended executions.
   */
  markInterrupted(id: string, error: unknown): void {
    if (this.live.has(id)) return;
    const r = this.get(id);
    if (r?.state !== "ACTIVE") return;
    this.persist({ ...r, state: "FAILED", error, endTime: new Date(this.clock.nowMs()).toISOString() });
  }

  /** An execution by id: live, finished in this process, or from the state directory. */
  get(id: string): ExecutionRecord | undefined {
    const live = this.live.get(id);
    if (live)
      return {
        ...live.record,
        stepCount: live.interpreter?.steps ?? 0,
        history: live.interpreter?.history ?? [],
      };
    const done = this.finished.get(id);
    if (done) return done;
    const dir = this.executionsDir();
    if (!dir || !existsSync(dir)) return undefined;
    for (const wf of readdirSync(dir)) {
      const f = join(dir, wf, `${id}.json`);
      if (existsSync(f)) return JSON.parse(readFileSync(f, "utf8")) as ExecutionRecord;
    }
    return undefined;
  }

  /** Executions, newest first, by workflow and/or labels; reads only the index files. */
  list(
    filter: { workflow?: string; labels?: Record<string, string>; state?: ExecutionState } = {},
  ): ExecutionSummary[] {
    const byId = new Map<string, ExecutionSummary>();
    const dir = this.executionsDir();
    if (dir && existsSync(dir)) {
      const wfs = filter.workflow ? [filter.workflow] : readdirSync(dir);
      for (const wf of wfs) {
        const idx = join(dir, wf, "index.jsonl");
        if (!existsSync(idx)) continue;
        for (const line of readFileSync(idx, "utf8").split("\n")) {
          if (!line) continue;
          try {
            const s = JSON.parse(line) as ExecutionSummary;
            byId.set(s.id, s);
          } catch {
            // a torn last line from a crash: the record file is still authoritative
          }
        }
      }
    }
    for (const r of [...this.finished.values(), ...[...this.live.values()].map((l) => l.record)])
      byId.set(r.id, summaryOf(r));
    return [...byId.values()]
      .filter(
        (s) =>
          (!filter.workflow || s.workflow === filter.workflow) &&
          (!filter.state || s.state === filter.state) &&
          Object.entries(filter.labels ?? {}).every(([k, v]) => s.labels?.[k] === v),
      )
      .sort((a, b) => (a.startTime < b.startTime ? 1 : a.startTime > b.startTime ? -1 : 0));
  }

  private executionsDir(): string | undefined {
    return this.options.stateDir ? join(this.options.stateDir, "executions") : undefined;
  }

  private persist(r: ExecutionRecord): void {
    const dir = this.executionsDir();
    if (!dir) return;
    const wfDir = join(dir, r.workflow);
    mkdirSync(wfDir, { recursive: true });
    const file = join(wfDir, `${r.id}.json`);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(r));
    renameSync(tmp, file);
    appendFileSync(join(wfDir, "index.jsonl"), `${JSON.stringify(summaryOf(r))}\n`);
  }
}

function summaryOf(r: ExecutionRecord): ExecutionSummary {
  return {
    id: r.id,
    name: r.name,
    workflow: r.workflow,
    state: r.state,
    labels: r.labels,
    startTime: r.startTime,
    endTime: r.endTime,
    parent: r.parent,
  };
}

function then<T, R>(x: T | Promise<T>, f: (v: T) => R): R | Promise<R> {
  return x instanceof Promise ? x.then(f) : f(x as T);
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new CancelledSignal());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CancelledSignal());
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

export { Double, isMap };
