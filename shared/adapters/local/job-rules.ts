import { NonRetriableError } from "../../core/errors.ts";
import type { JobExecution, JobRunRequest, JobState } from "../ports.ts";

/** Rules shared by the local job runner and the Cloud Run Jobs adapter. */

/** `wait` gave up before the execution ended (the execution keeps running). */
export class TimeoutError extends Error {
  readonly execution: string;
  constructor(execution: string, seconds: number) {
    super(`execution ${execution} did not finish within ${seconds} s`);
    this.name = "TimeoutError";
    this.execution = execution;
  }
}

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

export function isTerminal(execution: JobExecution): boolean {
  return TERMINAL_STATES.has(execution.state);
}

/** Cloud Run's limits on the overrides: 1..10000 tasks, a positive timeout of at most 7 days. */
export function validateRunRequest(request: JobRunRequest): void {
  if (!request.job || typeof request.job !== "string") {
    throw new NonRetriableError("job is missing", { field: "job", fix: "name a job from the registry" });
  }
  if (
    request.taskCount !== undefined &&
    !(Number.isInteger(request.taskCount) && request.taskCount >= 1 && request.taskCount <= 10_000)
  ) {
    throw new NonRetriableError(`taskCount ${request.taskCount} is not an integer in 1..10000`, {
      field: "taskCount",
    });
  }
  if (
    request.timeoutSeconds !== undefined &&
    !(
      Number.isFinite(request.timeoutSeconds) &&
      request.timeoutSeconds > 0 &&
      request.timeoutSeconds <= 7 * 86400
    )
  ) {
    throw new NonRetriableError(`timeoutSeconds ${request.timeoutSeconds} is not in (0, 604800]`, {
      field: "timeoutSeconds",
    });
  }
  for (const [name, value] of Object.entries(request.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || typeof value !== "string") {
      throw new NonRetriableError(`env ${name} is not a NAME=string pair`, { field: `env.${name}` });
    }
    if (name.startsWith("CLOUD_RUN_")) {
      throw new NonRetriableError(`env ${name} is reserved by Cloud Run`, {
        field: `env.${name}`,
        fix: "pick another variable name",
      });
    }
  }
}

/** Poll `get` with a growing interval until the execution ends or `timeoutSeconds` pass. */
export async function pollUntilDone(
  execution: string,
  get: (name: string) => Promise<JobExecution>,
  options: { timeoutSeconds?: number; initialMs: number; maxMs: number },
): Promise<JobExecution> {
  const deadline =
    options.timeoutSeconds === undefined
      ? Number.POSITIVE_INFINITY
      : Date.now() + options.timeoutSeconds * 1000;
  let delay = options.initialMs;
  for (;;) {
    const current = await get(execution);
    if (isTerminal(current)) return current;
    const left = deadline - Date.now();
    if (left <= 0) throw new TimeoutError(execution, options.timeoutSeconds ?? 0);
    await new Promise((r) => setTimeout(r, Math.min(delay, left)));
    delay = Math.min(options.maxMs, Math.ceil(delay * 1.5));
  }
}
