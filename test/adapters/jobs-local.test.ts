import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { TimeoutError } from "../../shared/adapters/local/job-rules.ts";
import { createLocalJobs, type LocalJobSpec } from "../../shared/adapters/local/jobs.ts";
import { NotFoundError } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { waitFor } from "../helpers/wait.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const base = mkdtempSync(join(tmpdir(), "tessera-jobs-"));
afterAll(() => {
  // A failed test may leave a hanging task behind: kill every process group still recorded as running, by PID.
  for (const state of readdirSync(base).filter((d) => d.startsWith("state-"))) {
    const dir = join(base, state, "jobs", "probe");
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
      const record = JSON.parse(readFileSync(join(dir, file), "utf8")) as { tasks: { pid?: number }[] };
      for (const task of record.tasks) {
        if (!task.pid) continue;
        try {
          process.kill(-task.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
  }
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
function setup(spec: Partial<LocalJobSpec>, env: Record<string, string> = {}) {
  n += 1;
  const out = join(base, `out-${n}`);
  const stateDir = join(base, `state-${n}`);
  const catalog = {
    probe: {
      entrypoint: "test/adapters/jobs-fixtures/task.ts",
      taskCount: 1,
      maxRetries: 0,
      env: { OUT_DIR: out, FROM_CATALOG: "catalog", ...env },
      ...spec,
    },
  };
  const jobs = createLocalJobs({
    catalog,
    stateDir,
    root: repo,
    killGraceSeconds: 1,
    pollMs: { initial: 20, max: 200 },
  });
  const records = (execution: string) =>
    (existsSync(out) ? readdirSync(out) : [])
      .filter((f) => /^task-\d+-\d+\.json$/.test(f))
      .map((f) => JSON.parse(readFileSync(join(out, f), "utf8")))
      .filter((r) => execution.endsWith(`/${r.execution}`));
  return { jobs, out, stateDir, catalog, records };
}

// Independent executions in separate directories: run concurrently to keep the suite short.
describe.concurrent("local jobs (child processes)", () => {
  it("runs every task with Cloud Run's env, the overrides and at most `parallelism` at once", async () => {
    const { jobs, out, records } = setup({ taskCount: 2, parallelism: 2, nodeFlags: ["--stack-size=900"] });
    const started = await jobs.run({
      job: "probe",
      taskCount: 5,
      args: ["--partition", "2026-01-01"],
      env: { FROM_OVERRIDE: "override", MODE: "ok" },
      labels: { pipeline: "taar" },
    });
    expect(started.name).toMatch(
      /^projects\/local\/locations\/local\/jobs\/probe\/executions\/probe-\d{14}-[0-9a-f]{6}$/,
    );
    expect(started.taskCount).toBe(5);
    const done = await jobs.wait(started.name);
    expect(done).toMatchObject({ state: "SUCCEEDED", taskCount: 5, succeededCount: 5, failedCount: 0 });
    expect(done.labels).toEqual({ pipeline: "taar" });
    expect(done.completionTime).toBeDefined();
    const seen = records(started.name).sort((a, b) => a.index - b.index);
    expect(seen.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    for (const r of seen) {
      // The job's node flags come first on the command line, before tsx's loader.
      expect(r.execArgv.slice(0, 2)).toEqual(["--stack-size=900", "--import"]);
      expect(r).toMatchObject({
        job: "probe",
        count: 5,
        attempt: 0,
        argv: ["--partition", "2026-01-01"],
        fromCatalog: "catalog",
        fromOverride: "override",
        cwd: repo,
      });
    }
    const concurrency = readFileSync(join(out, "concurrency.log"), "utf8").trim().split("\n").map(Number);
    expect(Math.max(...concurrency)).toBeLessThanOrEqual(2);
  });

  it("retries a failed task and reports its attempts", async () => {
    const { jobs, records } = setup({ taskCount: 2, maxRetries: 2 }, { MODE: "flaky" });
    const { name } = await jobs.run({ job: "probe" });
    const done = await jobs.wait(name);
    expect(done.state).toBe("SUCCEEDED");
    expect(done.tasks?.find((t) => t.index === 1)).toMatchObject({
      state: "SUCCEEDED",
      attempt: 1,
      exitCode: 0,
    });
    expect(
      records(name)
        .filter((r) => r.index === 1)
        .map((r) => r.attempt)
        .sort(),
    ).toEqual([0, 1]);
  });

  it("fails the execution with the task's exit code and log tail, after running the other tasks", async () => {
    const { jobs } = setup({ taskCount: 3, parallelism: 2, maxRetries: 1 }, { MODE: "broken" });
    const { name } = await jobs.run({ job: "probe" });
    const done = await jobs.wait(name);
    expect(done).toMatchObject({ state: "FAILED", succeededCount: 2, failedCount: 1 });
    const task0 = done.tasks?.[0];
    expect(task0).toMatchObject({ state: "FAILED", attempt: 1, exitCode: 3 });
    expect(task0?.logTail).toContain("boom: partition 2026-01-01 has no rows");
    expect(task0?.logTail).not.toContain("line 5\n");
    expect(done.failureReason).toMatch(/^Task 0 failed after 2 attempt\(s\): exited with code 3/);
  });

  it("kills a task at its timeout (even one ignoring SIGTERM) and another process can read the record", async () => {
    const { jobs, stateDir, catalog, records } = setup({ maxRetries: 0 }, { MODE: "hang", HOLD_MS: "0" });
    const { name } = await jobs.run({ job: "probe", timeoutSeconds: 2 });
    const done = await jobs.wait(name, { timeoutSeconds: 30 });
    expect(done.state).toBe("FAILED");
    // Killed by SIGKILL after the grace period when the task got to install its SIGTERM handler (it wrote its
    // record after doing so); by SIGTERM when the timeout hit while tsx was still loading.
    const started = records(name).length === 1;
    expect(done.tasks?.[0].exitCode).toBe(started ? 128 + 9 : 128 + 15);
    expect(done.failureReason).toContain("timed out after 2 s");
    const other = createLocalJobs({ catalog, stateDir, root: repo });
    expect(await other.get(name)).toEqual(done);
  });

  it("cancels running and pending tasks, also from another runner instance", async () => {
    const { jobs, stateDir, catalog, records } = setup(
      { taskCount: 3, parallelism: 1 },
      { MODE: "hang", HOLD_MS: "0" },
    );
    const { name } = await jobs.run({ job: "probe" });
    await waitFor(() => records(name).length === 1, "the first task to start");
    const other = createLocalJobs({ catalog, stateDir, root: repo, pollMs: { initial: 20, max: 100 } });
    await expect(other.wait(name, { timeoutSeconds: 0.2 })).rejects.toBeInstanceOf(TimeoutError);
    await other.cancel(name);
    const done = await jobs.wait(name, { timeoutSeconds: 30 });
    expect(done).toMatchObject({ state: "CANCELLED", cancelledCount: 3, succeededCount: 0 });
    expect(records(name)).toHaveLength(1);
    expect(existsSync(stateDir)).toBe(true);
  });

  it("rejects unknown jobs, bad overrides and unknown executions", async () => {
    const { jobs } = setup({});
    await expect(jobs.run({ job: "nope" })).rejects.toBeInstanceOf(NotFoundError);
    await expect(jobs.run({ job: "probe", taskCount: 0 })).rejects.toBeInstanceOf(NonRetriableError);
    await expect(jobs.run({ job: "probe", env: { CLOUD_RUN_TASK_INDEX: "3" } })).rejects.toThrow(/reserved/);
    await expect(
      jobs.get("projects/local/locations/local/jobs/probe/executions/none"),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(jobs.get("garbage")).rejects.toBeInstanceOf(NotFoundError);
  });
});
