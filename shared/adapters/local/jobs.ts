import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { constants } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import {
  type JobExecution,
  type JobRunner,
  type JobRunRequest,
  NotFoundError,
  type TaskStatus,
} from "../ports.ts";
import { isTerminal, pollUntilDone, validateRunRequest } from "./job-rules.ts";

/**
 * Cloud Run Jobs as child processes. Each task attempt runs the job's TypeScript entrypoint with
 * `node --import tsx <entrypoint> ...args` in its own process group, with the environment Cloud Run gives a task:
 * `CLOUD_RUN_JOB`, `CLOUD_RUN_EXECUTION`, `CLOUD_RUN_TASK_INDEX`, `CLOUD_RUN_TASK_COUNT`, `CLOUD_RUN_TASK_ATTEMPT`
 * (0 on the first attempt), on top of this process's env, the catalog's env and the request's env override.
 *
 * - At most `parallelism` tasks run at once (0 or unset: all of them).
 * - A task attempt that outlives the timeout gets SIGTERM on its process group, SIGKILL after a grace period.
 * - A failed task is retried up to `maxRetries` times; the execution goes on with the other tasks and ends
 *   FAILED if any task failed, with the failed task's exit code and log tail as `failureReason`.
 * - The execution record is `<stateDir>/jobs/<job>/<execution>.json`, rewritten (by rename) on every change, so
 *   another process can `get`, `wait` for or `cancel` it. Task output goes to `<execution>/task-<i>-<attempt>.log`.
 *   `cancel` from another process kills the recorded process groups and leaves a marker the owner honours.
 */

export interface LocalJobSpec {
  /** The entrypoint module, relative to `root` (or absolute). */
  entrypoint: string;
  taskCount?: number;
  /** Tasks running at once; 0 or unset = all. */
  parallelism?: number;
  /** Per task attempt. Default 600 (Cloud Run's default). */
  timeoutSeconds?: number;
  /** Retries per task (Cloud Run default 3). */
  maxRetries?: number;
  args?: string[];
  env?: Record<string, string>;
  /** Node and V8 flags before the entrypoint (the job definition's `nodeFlags`). */
  nodeFlags?: string[];
}

export interface LocalJobsOptions {
  catalog: Record<string, LocalJobSpec>;
  /** Where execution records and task logs live. */
  stateDir: string;
  /** The repository root: the tasks' working directory (node_modules/tsx must resolve from there). */
  root: string;
  /** Seconds between SIGTERM and SIGKILL on timeout or cancel. Default 10 (as Cloud Run). */
  killGraceSeconds?: number;
  /** Lines of output kept as a failed task's `logTail`. Default 20. */
  logTailLines?: number;
  /** `wait` polling interval bounds in ms. Default 50..1000. */
  pollMs?: { initial: number; max: number };
}

interface Record_ extends JobExecution {
  tasks: (TaskStatus & { pid?: number })[];
  ownerPid: number;
}

interface Live {
  record: Record_;
  children: Map<number, ChildProcess>;
  cancelled: boolean;
  done: Promise<void>;
}

const EXECUTION_NAME = /^projects\/[^/]+\/locations\/[^/]+\/jobs\/([^/]+)\/executions\/([^/]+)$/;

export function createLocalJobs(options: LocalJobsOptions): JobRunner {
  const graceMs = (options.killGraceSeconds ?? 10) * 1000;
  const tailLines = options.logTailLines ?? 20;
  const poll = options.pollMs ?? { initial: 50, max: 1000 };
  const live = new Map<string, Live>();

  const paths = (name: string) => {
    const match = EXECUTION_NAME.exec(name);
    if (!match) throw new NotFoundError(`execution ${name}`);
    const dir = join(options.stateDir, "jobs", match[1]);
    return {
      dir,
      record: join(dir, `${match[2]}.json`),
      logs: join(dir, match[2]),
      cancel: join(dir, `${match[2]}.cancel`),
    };
  };

  const save = (record: Record_) => {
    const { record: file } = paths(record.name);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(record, null, 2));
    renameSync(tmp, file);
  };

  const load = (name: string): Record_ => {
    const { record } = paths(name);
    try {
      return JSON.parse(readFileSync(record, "utf8")) as Record_;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new NotFoundError(`execution ${name}`);
      throw err;
    }
  };

  const recount = (record: Record_) => {
    record.succeededCount = record.tasks.filter((t) => t.state === "SUCCEEDED").length;
    record.failedCount = record.tasks.filter((t) => t.state === "FAILED").length;
    record.cancelledCount = record.tasks.filter((t) => t.state === "CANCELLED").length;
  };

  const killGroup = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  };

  const terminate = (child: ChildProcess) => {
    if (child.pid === undefined) return;
    const pid = child.pid;
    killGroup(pid, "SIGTERM");
    const timer = setTimeout(() => killGroup(pid, "SIGKILL"), graceMs);
    timer.unref();
    child.once("close", () => clearTimeout(timer));
  };

  const execute = async (state: Live, spec: LocalJobSpec, request: JobRunRequest, executionId: string) => {
    const record = state.record;
    const { logs, cancel } = paths(record.name);
    mkdirSync(logs, { recursive: true });
    const entry = isAbsolute(spec.entrypoint) ? spec.entrypoint : resolve(options.root, spec.entrypoint);
    const args = request.args ?? spec.args ?? [];
    const timeoutMs = (request.timeoutSeconds ?? spec.timeoutSeconds ?? 600) * 1000;
    const maxRetries = spec.maxRetries ?? 3;
    const parallelism = spec.parallelism && spec.parallelism > 0 ? spec.parallelism : record.taskCount;
    const queue = record.tasks.map((t) => t.index);
    const cancelRequested = () => state.cancelled || existsSync(cancel);

    const runAttempt = (
      index: number,
      attempt: number,
    ): Promise<{ code: number; timedOut: boolean; log: string }> => {
      const log = join(logs, `task-${index}-${attempt}.log`);
      const fd = openSync(log, "w");
      const child = spawn(process.execPath, [...(spec.nodeFlags ?? []), "--import", "tsx", entry, ...args], {
        cwd: options.root,
        detached: true,
        stdio: ["ignore", fd, fd],
        env: {
          ...process.env,
          ...spec.env,
          ...request.env,
          CLOUD_RUN_JOB: record.job,
          CLOUD_RUN_EXECUTION: executionId,
          CLOUD_RUN_TASK_INDEX: String(index),
          CLOUD_RUN_TASK_COUNT: String(record.taskCount),
          CLOUD_RUN_TASK_ATTEMPT: String(attempt),
        },
      });
      closeSync(fd);
      const task = record.tasks[index];
      Object.assign(task, {
        state: "RUNNING",
        attempt,
        pid: child.pid,
        exitCode: undefined,
        logTail: undefined,
      });
      if (child.pid !== undefined) state.children.set(child.pid, child);
      save(record);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        terminate(child);
      }, timeoutMs);
      return new Promise((done) => {
        child.once("error", (err) => {
          writeFileSync(log, `failed to start: ${err.message}\n`, { flag: "a" });
        });
        child.once("close", (code, signal) => {
          clearTimeout(timer);
          if (child.pid !== undefined) state.children.delete(child.pid);
          const exit = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
          done({ code: exit, timedOut, log });
        });
      });
    };

    const runTask = async (index: number) => {
      const task = record.tasks[index];
      for (let attempt = 0; ; attempt++) {
        if (cancelRequested()) {
          Object.assign(task, { state: "CANCELLED", pid: undefined });
          return;
        }
        const result = await runAttempt(index, attempt);
        task.pid = undefined;
        task.exitCode = result.code;
        if (cancelRequested()) {
          task.state = "CANCELLED";
        } else if (result.code === 0) {
          task.state = "SUCCEEDED";
        } else {
          const why = result.timedOut
            ? `timed out after ${timeoutMs / 1000} s`
            : `exited with code ${result.code}`;
          task.logTail = `${why}\n${tail(result.log, tailLines)}`.trim();
          if (attempt < maxRetries) {
            task.state = "PENDING";
            save(record);
            continue;
          }
          task.state = "FAILED";
        }
        recount(record);
        save(record);
        return;
      }
    };

    const worker = async () => {
      while (queue.length > 0) await runTask(queue.shift() as number);
    };
    record.state = "RUNNING";
    save(record);
    // A cancel from another process leaves a marker; the owner stops its own tasks (with SIGKILL escalation).
    const watch = setInterval(() => {
      if (!state.cancelled && existsSync(cancel)) {
        state.cancelled = true;
        for (const child of state.children.values()) terminate(child);
      }
    }, 100);
    try {
      await Promise.all(Array.from({ length: Math.min(parallelism, record.taskCount) }, worker));
    } finally {
      clearInterval(watch);
    }

    recount(record);
    const failed = record.tasks.find((t) => t.state === "FAILED");
    if (cancelRequested()) {
      for (const t of record.tasks) if (t.state === "PENDING" || t.state === "RUNNING") t.state = "CANCELLED";
      recount(record);
      record.state = "CANCELLED";
    } else if (failed) {
      record.state = "FAILED";
      record.failureReason =
        `Task ${failed.index} failed after ${failed.attempt + 1} attempt(s): ${failed.logTail ?? ""}`.trim();
    } else {
      record.state = "SUCCEEDED";
    }
    record.completionTime = new Date().toISOString();
    save(record);
  };

  const runner: JobRunner = {
    async run(request) {
      validateRunRequest(request);
      const spec = options.catalog[request.job];
      if (!spec) throw new NotFoundError(`job ${request.job}`);
      const taskCount = request.taskCount ?? spec.taskCount ?? 1;
      const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
      const executionId = `${request.job}-${stamp}-${randomBytes(3).toString("hex")}`;
      const record: Record_ = {
        name: `projects/local/locations/local/jobs/${request.job}/executions/${executionId}`,
        job: request.job,
        state: "PENDING",
        taskCount,
        succeededCount: 0,
        failedCount: 0,
        cancelledCount: 0,
        startTime: new Date().toISOString(),
        tasks: Array.from({ length: taskCount }, (_, index) => ({
          index,
          attempt: 0,
          state: "PENDING" as const,
        })),
        labels: request.labels ? { ...request.labels } : undefined,
        ownerPid: process.pid,
      };
      mkdirSync(paths(record.name).dir, { recursive: true });
      save(record);
      const state: Live = { record, children: new Map(), cancelled: false, done: Promise.resolve() };
      state.done = execute(state, spec, request, executionId).catch((err) => {
        record.state = "FAILED";
        record.failureReason = `the local job runner failed: ${(err as Error).message}`;
        record.completionTime = new Date().toISOString();
        for (const child of state.children.values()) terminate(child);
        save(record);
      });
      live.set(record.name, state);
      void state.done.finally(() => live.delete(record.name));
      return publicView(record);
    },

    async get(name) {
      const record = load(name);
      if (!isTerminal(record) && !live.has(name) && !alive(record.ownerPid)) {
        record.state = "FAILED";
        record.failureReason = `the process that ran this execution (pid ${record.ownerPid}) is gone`;
      }
      return publicView(record);
    },

    async wait(name, waitOptions = {}) {
      return await pollUntilDone(name, (n) => runner.get(n), {
        timeoutSeconds: waitOptions.timeoutSeconds,
        initialMs: poll.initial,
        maxMs: poll.max,
      });
    },

    async cancel(name) {
      const state = live.get(name);
      if (state) {
        state.cancelled = true;
        for (const child of state.children.values()) terminate(child);
        await state.done;
        return;
      }
      const record = load(name);
      if (isTerminal(record)) return;
      writeFileSync(paths(name).cancel, new Date().toISOString());
      if (alive(record.ownerPid)) return;
      for (const task of record.tasks) if (task.pid) killGroup(task.pid, "SIGKILL");
      for (const task of record.tasks)
        if (!["SUCCEEDED", "FAILED"].includes(task.state)) task.state = "CANCELLED";
      recount(record);
      record.state = "CANCELLED";
      record.completionTime = new Date().toISOString();
      save(record);
    },
  };
  return runner;
}

function publicView(record: Record_): JobExecution {
  const { ownerPid: _owner, tasks, ...rest } = record;
  return {
    ...rest,
    tasks: tasks.map(({ pid: _pid, ...task }) => ({ ...task })),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The last `lines` lines of a file (reading at most its last 16 KiB). */
function tail(file: string, lines: number): string {
  try {
    const size = statSync(file).size;
    const length = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(length);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buf, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buf.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}
