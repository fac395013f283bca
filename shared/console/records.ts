import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { JobState } from "../adapters/ports.ts";
import { NonRetriableError } from "../core/errors.ts";
import type { ExecutionRecord, LogEntry } from "../engine/engine.ts";
import type { PipelineDefinition } from "../pipelines/types.ts";

/**
 * What the console shows of a workflow execution beyond its state: the step history (with retries: a step
 * entered again), `sys.log` entries, and the Cloud Run job executions it started with their tasks. On the local
 * twin these come from the engine's and the job runner's records under the state directory; deployed, only
 * the execution's state and error are read (the Workflows step-entries API is not wired yet).
 */

export interface StepView {
  step: string;
  routine: string;
  line: number;
  at: string;
  /** How many times this step had been entered by then (1 for the first; more means a retry or a loop). */
  entry: number;
}

export interface TaskView {
  index: number;
  attempt: number;
  state: JobState;
  exitCode?: number;
  logTail?: string;
}

export interface JobView {
  name: string;
  job: string;
  state: JobState;
  startTime: string;
  completionTime?: string;
  taskCount: number;
  failureReason?: string;
  tasks: TaskView[];
}

export interface ExecutionView {
  name: string;
  workflow: string;
  state: string;
  startTime: string;
  endTime?: string;
  error?: unknown;
  steps: StepView[];
  /** Total steps entered (the history shown is cut to the last MAX_STEPS). */
  stepCount?: number;
  logs: LogEntry[];
  jobs: JobView[];
}

export interface ExecutionRecords {
  /** Step history, logs and jobs of an execution whose state is known; undefined when there is no record. */
  detail(
    execution: Pick<ExecutionView, "name" | "startTime" | "endTime">,
    def: Pick<PipelineDefinition, "id" | "jobs">,
  ): Promise<Pick<ExecutionView, "steps" | "stepCount" | "logs" | "jobs"> | undefined>;
  /** The whole output of one job task attempt (the last 256 KB). */
  taskLog(jobExecution: string, task: number, attempt: number): Promise<string>;
}

export const MAX_STEPS = 400;
const LOG_BYTES = 256 * 1024;
const JOB_NAME = /^projects\/[^/]+\/locations\/[^/]+\/jobs\/([a-z0-9-]+)\/executions\/([A-Za-z0-9-]+)$/;

/** A local job execution id is `<job>-<YYYYMMDDHHMMSS>-<hex>`: its start second, readable from the name alone. */
function stampOf(id: string, job: string): string | undefined {
  const m = /^(\d{14})-[0-9a-f]+$/.exec(id.slice(job.length + 1));
  return m?.[1];
}

function stamp(iso: string, shiftSeconds: number): string {
  return new Date(Date.parse(iso) + shiftSeconds * 1000).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

export function stepsOf(history: ExecutionRecord["history"]): StepView[] {
  const seen = new Map<string, number>();
  const steps = history.map((h) => {
    const key = `${h.routine}/${h.step}`;
    const entry = (seen.get(key) ?? 0) + 1;
    seen.set(key, entry);
    return { step: h.step, routine: h.routine, line: h.line, at: h.at, entry };
  });
  return steps.slice(-MAX_STEPS);
}

/**
 * The local twin's records. `getExecution` reads an engine record by id (the live engine's view when the
 * console runs inside the twin); job executions are found by listing the pipeline's job folders and opening
 * only those whose name says they started while the workflow execution ran.
 */
export function createLocalRecords(options: {
  stateDir: string;
  getExecution: (id: string) => ExecutionRecord | undefined;
}): ExecutionRecords {
  const jobsDir = join(options.stateDir, "jobs");
  return {
    async detail(execution, def) {
      const id = execution.name.split("/").pop() ?? execution.name;
      const record = options.getExecution(id);
      if (!record) return undefined;
      const from = stamp(execution.startTime, -1);
      const to = execution.endTime ? stamp(execution.endTime, 1) : "99999999999999";
      const jobs: JobView[] = [];
      for (const j of def.jobs) {
        const job = `${def.id}-${j.name}`;
        const dir = join(jobsDir, job);
        if (!existsSync(dir)) continue;
        for (const file of readdirSync(dir)) {
          if (!file.endsWith(".json")) continue;
          const jobId = file.slice(0, -5);
          const at = stampOf(jobId, job);
          if (!at || at < from || at > to) continue;
          let rec: JobView & { labels?: Record<string, string> };
          try {
            rec = JSON.parse(readFileSync(join(dir, file), "utf8"));
          } catch {
            continue; // being replaced right now; the next read has it
          }
          if (rec.labels?.["workflow-execution"] !== id) continue;
          jobs.push({
            name: rec.name,
            job: rec.job,
            state: rec.state,
            startTime: rec.startTime,
            completionTime: rec.completionTime,
            taskCount: rec.taskCount,
            failureReason: rec.failureReason,
            tasks: (rec.tasks ?? []).map((t) => ({
              index: t.index,
              attempt: t.attempt,
              state: t.state,
              exitCode: t.exitCode,
              logTail: t.logTail,
            })),
          });
        }
      }
      jobs.sort((a, b) => a.startTime.localeCompare(b.startTime));
      return {
        steps: stepsOf(record.history ?? []),
        stepCount: record.history?.length ?? 0,
        logs: (record.logs ?? []).slice(-MAX_STEPS),
        jobs,
      };
    },

    async taskLog(jobExecution, task, attempt) {
      const m = JOB_NAME.exec(jobExecution);
      if (!m || !Number.isInteger(task) || task < 0 || !Number.isInteger(attempt) || attempt < 0)
        throw new NonRetriableError(`no task log ${jobExecution} task ${task} attempt ${attempt}`, {
          field: "execution",
          fix: "use a job execution name from the run's timeline and a task index and attempt it lists",
        });
      const file = join(jobsDir, m[1], m[2], `task-${task}-${attempt}.log`);
      if (!existsSync(file)) return "";
      const size = statSync(file).size;
      const length = Math.min(size, LOG_BYTES);
      const buf = Buffer.alloc(length);
      const fd = openSync(file, "r");
      try {
        readSync(fd, buf, 0, length, size - length);
      } finally {
        closeSync(fd);
      }
      return (size > length ? "[...]\n" : "") + buf.toString("utf8");
    },
  };
}
