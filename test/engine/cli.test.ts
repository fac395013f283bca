import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeIo, workflowVerb } from "./harness.ts";

/** The `tessera workflow` contract, through spawned processes (`node --import tsx`) and the verb directly. */
const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "tessera-engine-cli-"));

function spawnCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", join(root, "test/engine/cli-runner.ts"), ...args],
      { cwd: root, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const jobWf = file(
  "job.yaml",
  `main:
  params: [args]
  steps:
    - run:
        try:
          call: googleapis.run.v2.projects.locations.jobs.run
          args:
            name: \${"projects/p/locations/l/jobs/" + args.job}
          result: ex
        retry: \${http.default_retry_non_idempotent}
    - wait:
        call: sys.sleep
        args: {seconds: 30}
    - r:
        return: \${[ex.name, sys.get_env("STAGE")]}
`,
);
const okStub = file(
  "ok.json",
  JSON.stringify({
    "googleapis.run.v2.projects.locations.jobs.run": { done: true, response: { name: "executions/e1" } },
  }),
);
const failStub = file(
  "fail.json",
  JSON.stringify({
    "googleapis.run.v2.projects.locations.jobs.run": {
      done: true,
      error: { code: 9, message: "job failed" },
    },
  }),
);

describe("tessera workflow (spawned processes)", () => {
  it("run: SUCCEEDED prints the contract object and exits 0; FAILED exits 1; bad input exits 2", async () => {
    const [ok, failed, badData, validate] = await Promise.all([
      spawnCli([
        "run",
        jobWf,
        "--data",
        '{"job": "forecast"}',
        "--env",
        "STAGE=test",
        "--connector-stub",
        okStub,
        "--virtual-clock",
      ]),
      spawnCli([
        "run",
        jobWf,
        "--data",
        '{"job": "forecast"}',
        "--connector-stub",
        failStub,
        "--virtual-clock",
      ]),
      spawnCli(["run", jobWf, "--data", "{nope"]),
      spawnCli(["validate", file("invalid.yaml", "- a:\n    next: nowhere\n- a:\n    return: 1\n"), jobWf]),
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({
      state: "SUCCEEDED",
      result: ["executions/e1", "test"],
      error: null,
      sleeps: [30],
    });
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      state: "FAILED",
      result: null,
      error: { tags: ["OperationError"], operation: { error: { message: "job failed" } } },
      sleeps: [],
    });
    expect(badData.code).toBe(2);
    expect(badData.stdout).toBe("");
    expect(badData.stderr).toContain("--data");
    expect(validate.code).toBe(1);
    expect(validate.stdout).toMatch(/invalid\.yaml:1: .*nowhere/);
    expect(validate.stdout).toMatch(/invalid\.yaml:3: duplicate step name "a"/);
    expect(validate.stdout).toContain(`ok  ${jobWf}`);
  }, 60_000);
});

describe("tessera workflow (verb)", () => {
  it("a parse error or a malformed stub file exits 2 naming the file", async () => {
    const parse = fakeIo(dir);
    expect(await workflowVerb.run(["run", file("broken.yaml", "- a: [\n")], parse)).toBe(2);
    expect(parse.err()).toMatch(/broken\.yaml:\d+/);
    expect(parse.out()).toBe("");
    const stub = fakeIo(dir);
    expect(
      await workflowVerb.run(
        ["run", jobWf, "--connector-stub", file("bad-stub.json", '{"x": {"response": 1}}')],
        stub,
      ),
    ).toBe(2);
    expect(stub.err()).toContain("bad-stub.json");
  });
  it("validate exits 0 when nothing is found", async () => {
    const io = fakeIo(dir);
    expect(await workflowVerb.run(["validate", jobWf], io)).toBe(0);
  });
  it("usage errors exit 2 with the message on stderr", async () => {
    for (const argv of [
      [],
      ["frobnicate"],
      ["run"],
      ["run", "a.yaml", "b.yaml"],
      ["run", jobWf, "--env", "NOEQUALS"],
      ["validate"],
    ]) {
      const io = fakeIo(dir);
      expect(await workflowVerb.run(argv, io)).toBe(2);
      expect(io.err()).not.toBe("");
      expect(io.out()).toBe("");
    }
  });
  it("a raised string is reported as a string error", async () => {
    const io = fakeIo(dir);
    expect(await workflowVerb.run(["run", file("raise.yaml", "- r:\n    raise: plain\n")], io)).toBe(1);
    expect(JSON.parse(io.out())).toEqual({ state: "FAILED", result: null, error: "plain", sleeps: [] });
  });
});
