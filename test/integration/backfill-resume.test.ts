import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLedger } from "../../shared/ledger/ledger.ts";
import { repoRoot } from "../../shared/pipelines/types.ts";
import { countBy, jobEvents, until } from "./ops-helpers.ts";

const root = repoRoot();

function cli(
  args: string[],
  env: Record<string, string | undefined>,
): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ["--import", "tsx", "shared/cli/main.ts", ...args], {
    cwd: root,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

describe("a backfill whose process is killed", () => {
  it("resumes with --reprocess missing: the rest runs, nothing that succeeded runs twice, the ledger ends complete", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "tessera-resume-"));
    const demoDir = join(stateDir, "demo-events");
    const env = {
      ...process.env,
      TESSERA_STATE_DIR: stateDir,
      TESSERA_REGISTRY_MODULE: "test/fixtures/twin/registry.ts",
      DEMO_DIR: demoDir,
      TESSERA_LOG_FORMAT: "json",
    };
    const ledger = createLedger(
      createLocalObjects({ root: join(stateDir, "objects") }).bucket("tessera-state"),
    );
    const succeeded = async () =>
      [...(await ledger.partitionStates("demo"))].filter(([, s]) => s.state === "succeeded").map(([p]) => p);

    const first = cli(
      ["backfill", "demo", "2024-06-01", "2024-06-10", "--max-concurrent", "2", "--param", "sleepMs=300"],
      env,
    );
    await until(async () => (await succeeded()).length >= 3, 120_000, "three partitions to succeed");
    const before = new Set(await succeeded());
    process.kill(-first.child.pid!, "SIGKILL");
    await first.done;
    // The jobs run in process groups of their own, as Cloud Run tasks would; stop the orphans too.
    const events = jobEvents(demoDir);
    const ended = new Set(events.filter((e) => e.what !== "start").map((e) => e.pid));
    for (const e of events)
      if (e.what === "start" && !ended.has(e.pid))
        try {
          process.kill(e.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
    expect(before.size).toBeLessThan(10);

    const second = cli(
      [
        "backfill",
        "demo",
        "2024-06-01",
        "2024-06-10",
        "--max-concurrent",
        "3",
        "--reprocess",
        "missing",
        "--param",
        "sleepMs=10",
      ],
      env,
    );
    const result = await second.done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stdout).toMatch(/skip/);

    const states = await ledger.partitionStates("demo");
    expect([...states.values()].map((s) => s.state)).toEqual(Array(10).fill("succeeded"));
    const ends = countBy(
      jobEvents(demoDir).filter((e) => e.what === "end"),
      (e) => e.partition,
    );
    for (const p of before)
      expect(ends[p], `partition ${p} succeeded before the kill and must not run again`).toBe(1);
    expect(Object.keys(ends)).toHaveLength(10);
  }, 300_000);
});
