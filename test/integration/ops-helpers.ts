import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { startTwin, type Twin } from "../../shared/runtime/twin.ts";
import { registry, root } from "../fixtures/twin/registry.ts";

export interface JobEvent {
  at: number;
  pid: number;
  what: "start" | "end" | "fail";
  partition: string;
}

/** The demo job's event log: one line per start, end and failure. */
export function jobEvents(dir: string): JobEvent[] {
  const file = join(dir, "events.log");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [at, pid, what, partition] = l.split(" ");
      return { at: Number(at), pid: Number(pid), what: what as JobEvent["what"], partition };
    });
}

/** The most jobs that ever ran at once, from start/end(or fail) pairs per process. */
export function maxOverlap(events: JobEvent[]): number {
  let running = 0;
  let max = 0;
  for (const e of [...events].sort((a, b) => a.at - b.at || (a.what === "start" ? 1 : -1))) {
    running += e.what === "start" ? 1 : -1;
    max = Math.max(max, running);
  }
  return max;
}

export function countBy<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

export interface DemoTwin extends Twin {
  stateDir: string;
  demoDir: string;
  logs: ReturnType<typeof memorySink>;
}

/** A twin over the demo registry in a fresh state directory; jobs log to `demoDir`. */
export async function demoTwin(now = () => new Date("2024-07-01T12:00:00Z")): Promise<DemoTwin> {
  const stateDir = mkdtempSync(join(tmpdir(), "tessera-ops-"));
  const demoDir = join(stateDir, "demo-events");
  const logs = memorySink();
  const twin = await startTwin({
    registry,
    root,
    stateDir,
    log: createLogger({ sink: logs, minSeverity: "DEBUG" }),
    env: { ...process.env, DEMO_DIR: demoDir },
    pollSeconds: 0.05,
    backoffScale: 0.01,
    now,
  });
  return { ...twin, stateDir, demoDir, logs };
}

export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  what = "condition",
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
