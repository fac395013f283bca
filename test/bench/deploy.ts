import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { type Bundle, buildFunctions, writeLauncher } from "../../scripts/build.ts";
import { registry } from "../../shared/pipelines/index.ts";
import { PLATFORM_FUNCTIONS } from "../../shared/pipelines/platform.ts";

/**
 * Deployment bench: each function bundle's size and its cold start, from process start to the first
 * answered request on 127.0.0.1 (a Pub/Sub CloudEvent for event functions, a POST for HTTP ones), served
 * by the bundle through the functions framework as Cloud Run would load it. Targets from issue #5:
 * bundle < 1 MB, cold start < 300 ms. The fixture `echo` function (framework + zod + contracts only) runs
 * side by side as the floor.
 *
 * Offline there is no cloud to reach, so the platform functions answer with their "no context" error: the
 * figure covers process start, module loading (bundle and its installed dependencies), framework setup and
 * one request, which is what a cold start costs before any cloud call.
 *
 * `npx tsx test/bench/deploy.ts` (BENCH_QUICK=1: one start per function instead of 7).
 */
const REPO = join(import.meta.dirname, "..", "..");
const OUT = join(REPO, "node_modules", ".cache", `tessera-bench-deploy-${process.pid}`);
const RUNS = process.env.BENCH_QUICK ? 1 : 7;
const SIZE_TARGET = 1024 * 1024;
const COLD_TARGET_MS = 300;

interface Start {
  listeningMs: number;
  answeredMs: number;
  /** CPU time (user + system) the process used until it answered: less sensitive to a loaded machine. */
  cpuMs: number;
  status: number;
}

/** CPU milliseconds a process has used so far (Linux /proc, clock ticks of 10 ms); NaN elsewhere. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

function pubsubEvent(): { headers: Record<string, string>; body: string } {
  return {
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": "bench-1",
      "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "ce-source": "//pubsub.googleapis.com/projects/p/topics/tessera-schedule-ticks",
    },
    body: JSON.stringify({
      message: { data: Buffer.from('{"pipeline":"bench"}').toString("base64"), messageId: "bench-1" },
    }),
  };
}

async function coldStart(launcher: string, bundle: Bundle, target: string, http: boolean): Promise<Start> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [launcher, join(bundle.dir, "index.js"), target, "0"], {
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, TESSERA_MODE: "local" },
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on("exit", (code) => reject(new Error(`${bundle.name} exited ${code} before listening`)));
    });
    const listeningMs = performance.now() - t0;
    const e = http ? { headers: { "content-type": "application/json" }, body: "{}" } : pubsubEvent();
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: "POST",
      headers: e.headers,
      body: e.body,
    });
    await res.arrayBuffer();
    const answeredMs = performance.now() - t0;
    return { listeningMs, answeredMs, cpuMs: cpuMsOf(child.pid!), status: res.status };
  } finally {
    if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGTERM");
    await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  try {
    const launcher = writeLauncher(OUT);
    const bundles = [
      ...(await buildFunctions(join(REPO, "functions"), join(OUT, "functions"))),
      ...(await buildFunctions(join(REPO, "test", "build", "fixtures", "functions"), join(OUT, "fixtures"))),
    ];
    const lines = [
      "## Deploy: function bundles and cold starts",
      "",
      `Bundles by \`scripts/build.ts\` (esbuild, minified ESM; Google Cloud clients, DuckDB and the functions framework installed from package.json). Cold start = process start to the first answered request on 127.0.0.1, median of ${RUNS}.`,
      "",
      "| function | bundle | vs 1 MB | to listening | cold start | vs 300 ms | CPU used | status | installed deps |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ];
    let worst = 0;
    for (const b of bundles) {
      const platform =
        PLATFORM_FUNCTIONS.find((f) => f.source === b.name) ??
        registry
          .list()
          .flatMap((d) => d.functions)
          .find((f) => f.source === b.name);
      const target = platform?.target ?? b.name;
      const http = platform?.trigger.kind === "http";
      const starts: Start[] = [];
      for (let i = 0; i < RUNS; i++) starts.push(await coldStart(launcher, b, target, http));
      const cold = median(starts.map((s) => s.answeredMs));
      worst = Math.max(worst, cold);
      lines.push(
        `| ${b.name}${platform ? "" : " (fixture floor)"} | ${(b.bytes / 1024).toFixed(0)} KiB | ${(b.bytes / SIZE_TARGET).toFixed(2)} | ` +
          `${median(starts.map((s) => s.listeningMs)).toFixed(0)} ms | ${cold.toFixed(0)} ms | ${(cold / COLD_TARGET_MS).toFixed(2)} | ` +
          `${median(starts.map((s) => s.cpuMs)).toFixed(0)} ms | ` +
          `${starts[0].status} | ${Object.keys(b.dependencies).length} |`,
      );
    }
    const over = bundles.filter((b) => b.bytes >= SIZE_TARGET).map((b) => b.name);
    lines.push(
      "",
      `Sizes: ${over.length ? `over 1 MB: ${over.join(", ")}` : "every bundle under 1 MB"}. Slowest cold start ${worst.toFixed(0)} ms ` +
        `(${(worst / COLD_TARGET_MS).toFixed(2)} of the 300 ms target) with a load average of ${loadavg()[0].toFixed(1)} on ${cpus().length} cores; ` +
        "the CPU column is the process's own user+system time until it answered.",
      "",
    );
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    if (existsSync(OUT)) rmSync(OUT, { recursive: true, force: true });
  }
}

await main();
