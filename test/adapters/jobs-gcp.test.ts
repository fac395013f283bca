import { describe, expect, it } from "vitest";
import {
  createGcpJobs,
  type ExecutionsApi,
  type RunJobsApi,
  runJobRequest,
  toJobExecution,
} from "../../shared/adapters/gcp/jobs.ts";
import { TimeoutError } from "../../shared/adapters/local/job-rules.ts";
import { NotFoundError } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

/**
 * No Cloud Run emulator exists, so the adapter is tested at the client boundary: a fake JobsClient/ExecutionsClient
 * records the exact requests and plays back Execution resources shaped as the v2 API returns them.
 */

const EXEC = "projects/p1/locations/europe-west1/jobs/taar-profiles/executions/taar-profiles-x7k2p";

function grpcError(code: number, message: string) {
  return Object.assign(new Error(message), { code });
}

function fakeClients(script: object[]) {
  const runRequests: unknown[] = [];
  const getRequests: unknown[] = [];
  const cancelRequests: unknown[] = [];
  const states = [...script];
  const jobsClient: RunJobsApi = {
    async runJob(request) {
      runRequests.push(request);
      if (String(request.name).endsWith("/jobs/missing")) throw grpcError(5, "job not found");
      return [
        {
          name: "projects/p1/locations/europe-west1/operations/op-1",
          metadata: { name: EXEC, job: request.name, taskCount: 4 },
        },
      ];
    },
  };
  const executionsClient: ExecutionsApi = {
    async getExecution(request) {
      getRequests.push(request);
      if (request.name.endsWith("/gone")) throw grpcError(5, "execution not found");
      const next = states.length > 1 ? states.shift() : states[0];
      return [{ name: request.name, ...next }];
    },
    async cancelExecution(request) {
      cancelRequests.push(request);
      if (request.name.endsWith("/done")) throw grpcError(9, "execution already finished");
      return [{}];
    },
  };
  return { jobsClient, executionsClient, runRequests, getRequests, cancelRequests };
}

describe("Cloud Run Jobs adapter", () => {
  it("sends runJob with the overrides Cloud Run expects", async () => {
    const fake = fakeClients([]);
    const jobs = createGcpJobs({ projectId: "p1", region: "europe-west1", ...fake });
    const started = await jobs.run({
      job: "taar-profiles",
      args: ["--date", "2026-01-02"],
      env: { RUN_ID: "r-1", PARTITION: "2026-01-02" },
      taskCount: 4,
      timeoutSeconds: 1800,
      labels: { pipeline: "taar" },
    });
    expect(fake.runRequests).toEqual([
      {
        name: "projects/p1/locations/europe-west1/jobs/taar-profiles",
        overrides: {
          containerOverrides: [
            {
              args: ["--date", "2026-01-02"],
              env: [
                { name: "PARTITION", value: "2026-01-02" },
                { name: "RUN_ID", value: "r-1" },
              ],
            },
          ],
          taskCount: 4,
          timeout: { seconds: 1800 },
        },
      },
    ]);
    expect(started).toMatchObject({ name: EXEC, job: "taar-profiles", state: "PENDING", taskCount: 4 });
  });

  it("sends no overrides when none are asked for, clearArgs for an empty args list, and maps job names", async () => {
    expect(runJobRequest("projects/p/locations/r/jobs/j", { job: "j" })).toEqual({
      name: "projects/p/locations/r/jobs/j",
    });
    expect(runJobRequest("n", { job: "j", args: [], timeoutSeconds: 1.5 })).toEqual({
      name: "n",
      overrides: { containerOverrides: [{ clearArgs: true }], timeout: { seconds: 1, nanos: 500_000_000 } },
    });
    const fake = fakeClients([]);
    const jobs = createGcpJobs({ projectId: "p1", region: "r1", jobName: (j) => `tessera-${j}`, ...fake });
    await jobs.run({ job: "mmm-train" });
    expect(fake.runRequests).toEqual([{ name: "projects/p1/locations/r1/jobs/tessera-mmm-train" }]);
  });

  it("rejects bad requests before calling Cloud Run and maps NOT_FOUND", async () => {
    const fake = fakeClients([]);
    const jobs = createGcpJobs({ projectId: "p1", region: "r1", ...fake });
    await expect(jobs.run({ job: "j", taskCount: 0 })).rejects.toBeInstanceOf(NonRetriableError);
    await expect(jobs.run({ job: "j", env: { "BAD-NAME": "x" } })).rejects.toBeInstanceOf(NonRetriableError);
    expect(fake.runRequests).toEqual([]);
    await expect(jobs.run({ job: "missing" })).rejects.toBeInstanceOf(NotFoundError);
    await expect(jobs.get(`${EXEC}/gone`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("waits by polling getExecution until the Completed condition settles", async () => {
    const fake = fakeClients([
      { taskCount: 4, createTime: { seconds: 1767225600 } },
      { taskCount: 4, runningCount: 4, startTime: { seconds: 1767225601, nanos: 500_000_000 } },
      {
        taskCount: 4,
        succeededCount: 3,
        failedCount: 1,
        startTime: { seconds: 1767225601 },
        completionTime: { seconds: 1767225700 },
        conditions: [
          { type: "Ready", state: "CONDITION_FAILED" },
          {
            type: "Completed",
            state: "CONDITION_FAILED",
            message:
              "Task taar-profiles-x7k2p-task2 failed with message: The container exited with an exit code of 3.",
          },
        ],
      },
    ]);
    const jobs = createGcpJobs({
      projectId: "p1",
      region: "europe-west1",
      pollMs: { initial: 1, max: 5 },
      ...fake,
    });
    expect((await jobs.get(EXEC)).state).toBe("PENDING");
    expect(await jobs.get(EXEC)).toMatchObject({ state: "RUNNING", startTime: "2026-01-01T00:00:01.500Z" });
    const done = await jobs.wait(EXEC);
    expect(done).toEqual({
      name: EXEC,
      job: "taar-profiles",
      state: "FAILED",
      taskCount: 4,
      succeededCount: 3,
      failedCount: 1,
      cancelledCount: 0,
      startTime: "2026-01-01T00:00:01.000Z",
      completionTime: "2026-01-01T00:01:40.000Z",
      failureReason:
        "Task taar-profiles-x7k2p-task2 failed with message: The container exited with an exit code of 3.",
    });
    expect(fake.getRequests.every((r) => JSON.stringify(r) === JSON.stringify({ name: EXEC }))).toBe(true);
  });

  it("times out a wait and cancels with cancelExecution", async () => {
    const fake = fakeClients([{ taskCount: 1, runningCount: 1, startTime: { seconds: 1 } }]);
    const jobs = createGcpJobs({ projectId: "p1", region: "r1", pollMs: { initial: 5, max: 10 }, ...fake });
    await expect(jobs.wait(EXEC, { timeoutSeconds: 0.05 })).rejects.toBeInstanceOf(TimeoutError);
    await jobs.cancel(EXEC);
    await jobs.cancel(`${EXEC}/done`);
    expect(fake.cancelRequests).toEqual([{ name: EXEC }, { name: `${EXEC}/done` }]);
  });

  it("maps succeeded and cancelled executions", () => {
    expect(
      toJobExecution({
        name: EXEC,
        taskCount: 2,
        succeededCount: 2,
        conditions: [{ type: "Completed", state: "CONDITION_SUCCEEDED" }],
        labels: { pipeline: "taar" },
      }),
    ).toMatchObject({ state: "SUCCEEDED", job: "taar-profiles", labels: { pipeline: "taar" } });
    expect(
      toJobExecution({
        name: EXEC,
        taskCount: 2,
        cancelledCount: 2,
        conditions: [{ type: "Completed", state: "CONDITION_FAILED", message: "cancelled" }],
      }).state,
    ).toBe("CANCELLED");
  });
});
