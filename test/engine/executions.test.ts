import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WorkflowEngine, WorkflowValidationError } from "../../shared/engine/engine.ts";
import { ParseError } from "../../shared/engine/parse.ts";
import { MemoryJobs } from "./memory-ports.ts";

const ECHO = `
main:
  params: [args]
  steps:
    - log:
        call: sys.log
        args:
          data: \${args}
          severity: WARNING
    - r:
        return: \${args}
`;

describe("executions", () => {
  it("records state, result, times, history and sys.log entries, persisted as JSON under the state directory", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "tessera-engine-"));
    const engine = new WorkflowEngine({ stateDir, virtualClock: true });
    const program = engine.compile(ECHO, "workflows-yaml/echo.workflows.yaml");
    const r = await engine.run(program, {
      argumentJson: '{"x": 1.0, "y": [1, 2]}',
      labels: { backfill_id: "b1" },
    });
    expect(r.workflow).toBe("echo");
    expect(r.state).toBe("SUCCEEDED");
    expect(r.result).toEqual({ x: 1, y: [1, 2] });
    expect(r.history.map((h) => h.step)).toEqual(["log", "r"]);
    expect(r.history[0].line).toBe(5);
    expect(r.logs).toEqual([
      expect.objectContaining({ severity: "WARNING", json: { x: 1, y: [1, 2] }, step: "log" }),
    ]);
    expect(r.endTime).not.toBeNull();
    const file = join(stateDir, "executions", "echo", `${r.id}.json`);
    expect(existsSync(file)).toBe(true);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({
      state: "SUCCEEDED",
      labels: { backfill_id: "b1" },
    });

    const reader = new WorkflowEngine({ stateDir });
    expect(reader.get(r.id)?.result).toEqual({ x: 1, y: [1, 2] });
    expect(reader.list({ workflow: "echo" }).map((s) => s.state)).toEqual(["SUCCEEDED"]);
    expect(reader.list({ labels: { backfill_id: "b1" } })).toHaveLength(1);
    expect(reader.list({ labels: { backfill_id: "other" } })).toHaveLength(0);
  });

  it("keeps 1.0 in --data a double", async () => {
    const engine = new WorkflowEngine({ virtualClock: true });
    const p = engine.compile(
      "main:\n  params: [a]\n  steps:\n    - r:\n        return: ${[get_type(a.d), get_type(a.i)]}\n",
      "t.yaml",
    );
    expect((await engine.run(p, { argumentJson: '{"d": 1.0, "i": 1}' })).result).toEqual([
      "double",
      "integer",
    ]);
  });

  it("fails an execution whose argument is over 512 KB", async () => {
    const engine = new WorkflowEngine({ virtualClock: true });
    const p = engine.compile(ECHO, "echo.yaml");
    const r = await engine.run(p, { argument: { big: "x".repeat(600 * 1024) } });
    expect(r.state).toBe("FAILED");
    expect(r.error).toMatchObject({ tags: ["ResourceLimitError"] });
  });

  it("cancels an execution with its running jobs and child executions", async () => {
    const jobs = new MemoryJobs();
    jobs.script = () => ({ outcome: "HANG" });
    const child = "- s:\n    call: sys.sleep\n    args: {seconds: 3600}\n";
    const engine = new WorkflowEngine({
      host: { jobs, resolveWorkflow: () => ({ file: "child.yaml", text: child }) },
    });
    const p = engine.compile(
      `
- par:
    parallel:
      branches:
        - job:
            steps:
              - j:
                  call: googleapis.run.v2.projects.locations.jobs.run
                  args: {name: projects/p/locations/l/jobs/heavy}
        - sub:
            steps:
              - c:
                  call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
                  args: {workflow_id: child}
`,
      "parent.yaml",
    );
    const h = engine.start(p);
    for (
      let i = 0;
      i < 50 && (jobs.runs.length === 0 || engine.list({ workflow: "child", state: "ACTIVE" }).length === 0);
      i++
    )
      await new Promise((r) => setTimeout(r, 5));
    expect(engine.get(h.id)?.state).toBe("ACTIVE");
    await h.cancel();
    const r = await h.done;
    expect(r.state).toBe("CANCELLED");
    expect(jobs.cancelled).toHaveLength(1);
    expect(engine.list({ workflow: "child" }).map((s) => s.state)).toEqual(["CANCELLED"]);
  });

  it("sleeps really wait on the real clock and not on the virtual one; both record them", async () => {
    const yaml = "- s:\n    call: sys.sleep\n    args: {seconds: 0.05}\n- r:\n    return: ${sys.now()}\n";
    const real = new WorkflowEngine();
    const t0 = Date.now();
    const r1 = await real.run(real.compile(yaml, "s.yaml"));
    expect((r1.result as number) * 1000).toBeGreaterThanOrEqual(t0 + 40);
    expect(r1.sleeps).toEqual([0.05]);
    const virtual = new WorkflowEngine({ virtualClock: true });
    const r2 = await virtual.run(
      virtual.compile(
        "- s:\n    call: sys.sleep\n    args: {seconds: 86400}\n- r:\n    return: ok\n",
        "s.yaml",
      ),
    );
    expect(r2.sleeps).toEqual([86400]);
    expect(r2.result).toBe("ok");
  });

  it("refuses to compile what deployment rejects, naming file and line", () => {
    const engine = new WorkflowEngine();
    expect(() => engine.compile("- a:\n    next: nowhere\n", "bad.yaml")).toThrow(WorkflowValidationError);
    expect(() => engine.compile("- a:\n    next: nowhere\n", "bad.yaml")).toThrow(/bad\.yaml:1: .*nowhere/);
    expect(() => engine.compile("- a: [\n", "broken.yaml")).toThrow(ParseError);
  });

  it("limits are configurable (steps per execution)", async () => {
    const engine = new WorkflowEngine({ virtualClock: true, limits: { maxSteps: 10 } });
    const r = await engine.run(
      engine.compile(
        "- l:\n    for:\n      value: i\n      range: [1, 20]\n      steps:\n        - a:\n            assign:\n              - x: ${i}\n",
        "l.yaml",
      ),
    );
    expect(r.error).toMatchObject({ tags: ["ResourceLimitError"] });
    expect(r.stepCount).toBe(11);
  });

  it("isLive, wait and markInterrupted serve the local twin's cross-process view", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "tessera-engine-"));
    const owner = new WorkflowEngine({ stateDir });
    const h = owner.start(
      owner.compile("- s:\n    call: sys.sleep\n    args: {seconds: 3600}\n", "napper.yaml"),
    );
    expect(owner.isLive(h.id)).toBe(true);
    const other = new WorkflowEngine({ stateDir });
    expect(other.isLive(h.id)).toBe(false);
    expect(other.get(h.id)?.state).toBe("ACTIVE");
    other.markInterrupted(h.id, { message: "interrupted", tags: ["InterruptedError"] });
    expect(new WorkflowEngine({ stateDir }).get(h.id)).toMatchObject({
      state: "FAILED",
      error: { tags: ["InterruptedError"] },
    });
    owner.markInterrupted(h.id, { message: "ignored for a live execution" });
    expect(owner.get(h.id)?.state).toBe("ACTIVE");
    await owner.cancel(h.id);
    expect((await owner.wait(h.id))?.state).toBe("CANCELLED");
    expect(owner.isLive(h.id)).toBe(false);
  });
});
