import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { main } from "../../shared/cli/main.ts";
import { createLedger } from "../../shared/ledger/ledger.ts";
import { repoRoot } from "../../shared/pipelines/types.ts";
import { jobEvents, until } from "./ops-helpers.ts";

const root = repoRoot();

function io(env: Record<string, string | undefined>) {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
      env,
      cwd: root,
    },
  };
}

function spawnCli(
  args: string[],
  env: Record<string, string | undefined>,
): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ["--import", "tsx", "shared/cli/main.ts", ...args], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return {
    child,
    done: new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr }))),
  };
}

function fixtureEnv() {
  const stateDir = mkdtempSync(join(tmpdir(), "tessera-cli-"));
  return {
    stateDir,
    demoDir: join(stateDir, "demo-events"),
    env: {
      ...process.env,
      TESSERA_STATE_DIR: stateDir,
      TESSERA_REGISTRY_MODULE: "test/fixtures/twin/registry.ts",
      DEMO_DIR: join(stateDir, "demo-events"),
      TESSERA_LOG_FORMAT: "json",
    },
  };
}

describe("tessera backfill, status and cancel", () => {
  it("prints the plan of a dry run and changes nothing", async () => {
    const { env, stateDir } = fixtureEnv();
    const { out, io: fake } = io(env);
    const code = await main(
      [
        "backfill",
        "demo",
        "2024-06-03",
        "2024-06-16",
        "--weekday",
        "monday",
        "--weekday",
        "fri",
        "--dry-run",
      ],
      fake,
    );
    expect(code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/4 to run, 0 to rerun, 0 skipped/);
    const rows = out.stdout.split("\n").filter((l) => /^2024-/.test(l));
    expect(rows.map((r) => r.split(/\s+/).slice(0, 4).join(" "))).toEqual([
      "2024-06-03 monday missing run",
      "2024-06-07 friday missing run",
      "2024-06-10 monday missing run",
      "2024-06-14 friday missing run",
    ]);
    const ledger = createLedger(
      createLocalObjects({ root: join(stateDir, "objects") }).bucket("tessera-state"),
    );
    expect(await ledger.listBackfills()).toEqual([]);
  });

  it("gives the plan as JSON and rejects a bad request with the field", async () => {
    const { env } = fixtureEnv();
    const a = io(env);
    expect(await main(["backfill", "demo", "2024-06-01", "2024-06-02", "--dry-run", "--json"], a.io)).toBe(0);
    expect(JSON.parse(a.out.stdout).entries).toHaveLength(2);
    const b = io(env);
    expect(await main(["backfill", "demo", "2024-06-09", "2024-06-01", "--dry-run"], b.io)).toBe(1);
    expect(b.out.stderr).toMatch(/from \(2024-06-09\) is after to \(2024-06-01\)/);
    const c = io(env);
    expect(
      await main(["backfill", "demo", "2024-06-01", "--reprocess", "sometimes", "--dry-run"], c.io),
    ).toBe(1);
    expect(c.out.stderr).toMatch(/reprocess/);
    const d = io(env);
    expect(await main(["backfill"], d.io)).toBe(2);
    expect(d.out.stderr).toMatch(/give PIPELINE FROM/);
  });

  it("cancels a running backfill from another process: driver, children and jobs stop, the ledger says cancelled", async () => {
    const { env, stateDir, demoDir } = fixtureEnv();
    const ledger = createLedger(
      createLocalObjects({ root: join(stateDir, "objects") }).bucket("tessera-state"),
    );
    const run = spawnCli(
      ["backfill", "demo", "2024-06-01", "2024-06-20", "--max-concurrent", "2", "--param", "sleepMs=4000"],
      env,
    );
    await until(async () => jobEvents(demoDir).some((e) => e.what === "start"), 120_000, "a job to start");
    const [bf] = await ledger.listBackfills({ pipeline: "demo" });
    const cancel = spawnCli(["cancel", "--backfill", bf.backfillId, "--reason", "wrong params"], env);
    const c = await cancel.done;
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/cancelled \d+ execution\(s\) and \d+ run\(s\)/);
    const r = await run.done;
    expect(r.code).toBe(1);
    expect((await ledger.getBackfill(bf.backfillId))?.state).toBe("cancelled");
    const states = [...(await ledger.partitionStates("demo")).values()];
    expect(states.some((s) => s.state === "running")).toBe(false);
    expect(states.filter((s) => s.state === "cancelled").length).toBeGreaterThan(0);
    const startsAtCancel = jobEvents(demoDir).filter((e) => e.what === "start").length;
    await new Promise((res) => setTimeout(res, 1500));
    expect(jobEvents(demoDir).filter((e) => e.what === "start").length).toBe(startsAtCancel);
    expect(startsAtCancel).toBeLessThan(20);

    const status = io(env);
    expect(await main(["status", "demo", "--backfill", bf.backfillId], status.io)).toBe(0);
    expect(status.out.stdout).toMatch(new RegExp(`backfill ${bf.backfillId} of demo: cancelled`));
    expect(status.out.stdout).toMatch(/wrong params/);
  }, 240_000);
});
