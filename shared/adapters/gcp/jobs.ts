import { type protos, v2 } from "@google-cloud/run";
import { pollUntilDone, validateRunRequest } from "../local/job-rules.ts";
import {
  type JobExecution,
  type JobRunner,
  type JobRunRequest,
  type JobState,
  NotFoundError,
} from "../ports.ts";

/**
 * Cloud Run Jobs (@google-cloud/run v2). `run` calls `JobsClient.runJob` with `overrides` (args and env of the
 * job's single container, task count, per-task timeout) and returns as soon as the execution exists (the
 * long-running operation's metadata is the Execution). `get` and `cancel` use `ExecutionsClient`; `wait` polls
 * `get` with a growing interval. Cloud Run has no per-execution labels: `labels` in a request are not sent.
 */

type IExecution = protos.google.cloud.run.v2.IExecution;
type IRunJobRequest = protos.google.cloud.run.v2.IRunJobRequest;

/** The slice of the clients this adapter calls (a fake in tests). */
export interface RunJobsApi {
  runJob(request: IRunJobRequest): Promise<[{ name?: string | null; metadata?: unknown }, ...unknown[]]>;
}
export interface ExecutionsApi {
  getExecution(request: { name: string }): Promise<[IExecution, ...unknown[]]>;
  cancelExecution(request: { name: string }): Promise<unknown>;
}

export interface GcpJobsOptions {
  projectId: string;
  region: string;
  /** Cloud Run job name for a registry job id. Default: the same name. */
  jobName?: (job: string) => string;
  /** `wait` polling interval bounds in ms. Default 1000..15000. */
  pollMs?: { initial: number; max: number };
  jobsClient?: RunJobsApi;
  executionsClient?: ExecutionsApi;
}

export function createGcpJobs(options: GcpJobsOptions): JobRunner {
  const jobs: RunJobsApi = options.jobsClient ?? (new v2.JobsClient() as unknown as RunJobsApi);
  const executions: ExecutionsApi =
    options.executionsClient ?? (new v2.ExecutionsClient() as unknown as ExecutionsApi);
  const jobName = options.jobName ?? ((job: string) => job);
  const poll = options.pollMs ?? { initial: 1000, max: 15_000 };
  const parent = `projects/${options.projectId}/locations/${options.region}`;

  const runner: JobRunner = {
    async run(request) {
      validateRunRequest(request);
      const name = `${parent}/jobs/${jobName(request.job)}`;
      let operation: { name?: string | null; metadata?: unknown };
      try {
        [operation] = await jobs.runJob(runJobRequest(name, request));
      } catch (err) {
        if (grpcCode(err) === NOT_FOUND) throw new NotFoundError(`job ${name}`);
        throw err;
      }
      const execution = operation.metadata as IExecution | undefined;
      if (!execution?.name) {
        throw new Error(
          `runJob for ${name} returned operation ${operation.name ?? "?"} without an execution`,
        );
      }
      return toJobExecution(execution, request.job);
    },

    async get(name) {
      try {
        const [execution] = await executions.getExecution({ name });
        return toJobExecution(execution);
      } catch (err) {
        if (grpcCode(err) === NOT_FOUND) throw new NotFoundError(`execution ${name}`);
        throw err;
      }
    },

    async wait(name, waitOptions = {}) {
      return await pollUntilDone(name, (n) => runner.get(n), {
        timeoutSeconds: waitOptions.timeoutSeconds,
        initialMs: poll.initial,
        maxMs: poll.max,
      });
    },

    async cancel(name) {
      try {
        await executions.cancelExecution({ name });
      } catch (err) {
        // Cancelling an execution that already ended is not an error for the port.
        if (grpcCode(err) === FAILED_PRECONDITION) return;
        if (grpcCode(err) === NOT_FOUND) throw new NotFoundError(`execution ${name}`);
        throw err;
      }
    },
  };
  return runner;
}

/** The RunJobRequest for a port request (exported for tests). */
export function runJobRequest(name: string, request: JobRunRequest): IRunJobRequest {
  const overrides: protos.google.cloud.run.v2.RunJobRequest.IOverrides = {};
  const container: protos.google.cloud.run.v2.RunJobRequest.Overrides.IContainerOverride = {};
  if (request.args !== undefined) {
    // An empty args list means "no override" to Cloud Run; clearing needs clearArgs.
    if (request.args.length === 0) container.clearArgs = true;
    else container.args = [...request.args];
  }
  if (request.env && Object.keys(request.env).length > 0) {
    container.env = Object.entries(request.env)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([envName, value]) => ({ name: envName, value }));
  }
  if (Object.keys(container).length > 0) overrides.containerOverrides = [container];
  if (request.taskCount !== undefined) overrides.taskCount = request.taskCount;
  if (request.timeoutSeconds !== undefined) {
    const seconds = Math.floor(request.timeoutSeconds);
    const nanos = Math.round((request.timeoutSeconds - seconds) * 1e9);
    overrides.timeout = nanos ? { seconds, nanos } : { seconds };
  }
  return Object.keys(overrides).length > 0 ? { name, overrides } : { name };
}

/** Map a Cloud Run Execution to the port's shape; the state comes from the `Completed` condition. */
export function toJobExecution(execution: IExecution, job?: string): JobExecution {
  const name = execution.name ?? "";
  const completed = (execution.conditions ?? []).find((c) => c.type === "Completed");
  const conditionState = String(completed?.state ?? "");
  const failed = Number(execution.failedCount ?? 0);
  const cancelled = Number(execution.cancelledCount ?? 0);
  let state: JobState;
  if (conditionState === "CONDITION_SUCCEEDED" || conditionState === "4") state = "SUCCEEDED";
  else if (conditionState === "CONDITION_FAILED" || conditionState === "3") {
    state = cancelled > 0 && failed === 0 ? "CANCELLED" : "FAILED";
  } else if (execution.startTime || Number(execution.runningCount ?? 0) > 0) state = "RUNNING";
  else state = "PENDING";
  const result: JobExecution = {
    name,
    job: job ?? lastSegment(execution.job) ?? /\/jobs\/([^/]+)\//.exec(name)?.[1] ?? "",
    state,
    taskCount: Number(execution.taskCount ?? 0),
    succeededCount: Number(execution.succeededCount ?? 0),
    failedCount: failed,
    cancelledCount: cancelled,
    startTime: timestamp(execution.startTime) ?? timestamp(execution.createTime) ?? "",
  };
  const completion = timestamp(execution.completionTime);
  if (completion) result.completionTime = completion;
  if (state === "FAILED" && completed?.message) result.failureReason = completed.message;
  if (execution.labels && Object.keys(execution.labels).length > 0) result.labels = { ...execution.labels };
  return result;
}

function lastSegment(path: string | null | undefined): string | undefined {
  return path ? path.split("/").pop() : undefined;
}

function timestamp(ts: protos.google.protobuf.ITimestamp | null | undefined): string | undefined {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return undefined;
  const ms = Number(String(ts.seconds)) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
}

const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;

function grpcCode(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "code" in err
    ? Number((err as { code: unknown }).code)
    : undefined;
}
