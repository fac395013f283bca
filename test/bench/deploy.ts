import { type ChildProcessByStdio, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { type Bundle, buildFunctions, WARM_CACHE_FILE } from "../../scripts/build.ts";
import { installedFramework, linkFramework } from "../../scripts/vendor-framework.ts";
import { registry } from "../../shared/pipelines/index.ts";
import { FUNCTION_COMPILE_CACHE, PLATFORM_FUNCTIONS } from "../../shared/pipelines/platform.ts";
import { MALLOC_TUNABLES } from "../../shared/runtime/malloc.ts";
import { startFakeGcs } from "../adapters/objects-fake-gcs.ts";
import { type FirstRequest, firstRequest } from "../deploy/first-requests.ts";
import { type GoogleStandIn, standInEnv, startGoogleStandIn } from "../deploy/google-standin.ts";

/**
 * Deployment bench: each function bundle's size and its cold start, from process start to the first
 * answered request on 127.0.0.1 (a Pub/Sub CloudEvent for event functions, a GET for HTTP ones), served by
 * the bundle through the functions framework as Cloud Run loads it. The listening socket is bound to 127.0.0.1
 * by the bench and handed to the process as fd 3: it listens without resolving a host, as the framework's CLI
 * does on Cloud Run (`listen(PORT)`), where `listen(port, "127.0.0.1")` would cost ~10-15 ms of CPU more (a dns
 * lookup and node:net's IPv6 regex). Every start has the environment Pulumi gives every function: the compile
 * cache (in the "with cache" mode) and `GLIBC_TUNABLES` (shared/runtime/malloc.ts). Targets from issue #5: bundle < 1 MB,
 * cold start < 300 ms.
 *
 * Every bundle runs the functions framework it carries (`vendor/functions-framework`, pre-bundled into one
 * file, scripts/vendor-framework.ts), linked into its own node_modules as Cloud Build's `npm install` links
 * it, and resolved from the bundle's folder as the runtime resolves it.
 *
 * Side by side in the same run, interleaved start by start: `bare`, a function that is nothing but the
 * functions framework (the floor no bundle can go under), the same with the registry's installed framework
 * (`bare-installed`: what the vendoring saves), and `echo` (framework + zod + contracts). Each is
 * started without and with the V8 compile cache that the bundle's `gcp-build` step fills in the cloud
 * (`node warm-cache.mjs`, then `NODE_COMPILE_CACHE=<bundle>/.compile-cache`, as Pulumi sets it).
 *
 * Each function runs as deployed (`TESSERA_MODE=gcp`) and its first request does its real work to a 2xx
 * answer, with the Google APIs it calls played by loopback servers on 127.0.0.1: the metadata server's token,
 * Workflows executions and Pub/Sub publish (`test/deploy/google-standin.ts`) and Cloud Storage
 * (`test/adapters/objects-fake-gcs.ts`), emptied before every start so that each start does the same work. A
 * start counts only when the answer is 2xx and the calls it made reached the stand-ins (an execution started,
 * a message published, as the function's request implies). The console runs in local mode (its deployed
 * mode needs a signed IAP token): its first request serves the page from the bundle. The CPU column (the
 * process's user+system time until it answered, 10 ms ticks) is what a loaded machine distorts least.
 *
 * Beside them, what loading the Google Cloud client libraries costs on its own (a process importing
 * `@google-cloud/storage`, `pubsub`, `workflows`): what the REST layer (`shared/adapters/gcp/rest.ts`) keeps
 * out of a cold start.
 *
 * `npx tsx test/bench/deploy.ts` (7 starts per function and mode); `BENCH_QUICK=1` (2 starts, the compile
 * cache measured for both `bare` floors and dispatch only); `BENCH_RUNS=N` starts; `BENCH_ONLY=dispatch,runs` only those
 * functions beside the floors.
 */
const REPO = join(import.meta.dirname, "..", "..");
const OUT = join(REPO, "node_modules", ".cache", `tessera-bench-deploy-${process.pid}`);
const QUICK = Boolean(process.env.BENCH_QUICK);
const RUNS = Number(process.env.BENCH_RUNS) || (QUICK ? 2 : 7);
/** `BENCH_ONLY=dispatch,runs`: only these functions (beside the floors). */
const ONLY = process.env.BENCH_ONLY?.split(",").filter(Boolean);
const SIZE_TARGET = 1024 * 1024;
const COLD_TARGET_MS = 300;

interface Start {
  answeredMs: number;
  cpuMs: number;
  status: number;
  /** The process's own CPU milliseconds (process.cpuUsage, 1 µs) per stage: Node's boot, loading the
   * functions framework, loading the bundle, serving the first request. */
  stages: { boot: number; framework: number; bundle: number; request: number };
}

/**
 * The launcher (as scripts/build.ts's LAUNCHER: the bundle loaded by the framework's loader as its CLI loads
 * it, and served by the framework's own server on 127.0.0.1), which also reports the CPU its stages took:
 * the framework first (the bundle imports it anyway), then the bundle; when the first response has gone out
 * it prints the marks.
 */
const STAGES_LAUNCHER = `const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const marks = { boot: cpu() };
// Built-ins taken after the boot mark, without ESM facades (static imports would run before it).
const { existsSync } = process.getBuiltinModule("node:fs");
const { createRequire } = process.getBuiltinModule("node:module");
const { dirname, join } = process.getBuiltinModule("node:path");
const [bundle, target, port = "0"] = process.argv.slice(2);
// The framework as the bundle resolves it from its own folder (node_modules linked as npm install does).
const require = createRequire(bundle);
const dir = dirname(require.resolve("@google-cloud/functions-framework"));
const vendored = existsSync(join(dir, "load.js"));
const { getTestServer } = require("@google-cloud/functions-framework/testing");
const loader = vendored ? require(join(dir, "load.js")).framework.loader : require(join(dir, "loader.js"));
marks.framework = cpu();
// The bundle as the CLI loads it: the framework's loader (ES-module check, then import of package.json main).
if (!(await loader.getUserFunction(dirname(bundle), target, "http"))) process.exit(1);
marks.bundle = cpu();
const server = getTestServer(target);
server.once("request", (req, res) => res.once("finish", () => {
  marks.request = cpu();
  process.stdout.write("stages " + JSON.stringify(marks) + "\\n");
}));
// The socket comes bound to 127.0.0.1 from the bench (fd 3): listening on it costs what Cloud Run's \`listen(PORT)\`
// costs, without the host lookup of \`listen(port, "127.0.0.1")\` (dns, and isIPv6's regex: ~10-15 ms of CPU).
const ready = () => process.stdout.write("listening " + server.address().port + "\\n");
if (port === "fd") server.listen({ fd: 3 }, ready);
else server.listen(Number(port), "127.0.0.1", ready);
for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => server.close(() => process.exit(0)));
`;

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

interface Subject {
  bundle: Bundle;
  target: string;
  floor?: string;
  /** Whether the compile-cache mode is measured for it. */
  cached: boolean;
  request: FirstRequest;
}

interface StandIns {
  google: GoogleStandIn;
  gcs: Awaited<ReturnType<typeof startFakeGcs>>;
  env: Record<string, string>;
}

async function coldStart(launcher: string, s: Subject, cache: boolean, stand: StandIns): Promise<Start> {
  // Every start begins from empty stand-ins, so that each does the same work.
  stand.gcs.objects.clear();
  stand.google.executions.length = 0;
  stand.google.published.length = 0;
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of ["NODE_COMPILE_CACHE", "PUBSUB_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"])
    delete env[k];
  Object.assign(
    env,
    s.request.local
      ? { TESSERA_MODE: "local", TESSERA_STATE_DIR: join(OUT, "state") }
      : { TESSERA_MODE: "gcp", GOOGLE_CLOUD_PROJECT: "bench-project", ...stand.env },
  );
  if (cache) env.NODE_COMPILE_CACHE = join(s.bundle.dir, FUNCTION_COMPILE_CACHE);
  // As Pulumi deploys every function (pulumi/components/function.ts): malloc on transparent huge pages.
  env.GLIBC_TUNABLES = MALLOC_TUNABLES;
  // The listening socket, bound to 127.0.0.1 here and handed to the child as fd 3, as Cloud Run hands an
  // instance its port: the child listens on it without resolving a host.
  const socket = createServer();
  await new Promise<void>((resolve) => socket.listen(0, "127.0.0.1", resolve));
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  const t0 = performance.now();
  const child = spawn(process.execPath, [launcher, join(s.bundle.dir, "index.js"), s.target, "fd"], {
    stdio: ["ignore", "pipe", "pipe", fd],
    env,
  }) as ChildProcessByStdio<null, Readable, Readable>;
  socket.close();
  let stdout = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-2000);
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on("data", () => {
        const m = /listening (\d+)/.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      child.on("exit", (code) =>
        reject(new Error(`${s.bundle.name} exited ${code} before listening: ${stderr}`)),
      );
    });
    const res = await fetch(`http://127.0.0.1:${port}${s.request.path}`, {
      method: s.request.method,
      headers: s.request.headers,
      body: s.request.body,
    });
    const text = await res.text();
    const answeredMs = performance.now() - t0;
    const cpuMs = cpuMsOf(child.pid!);
    const failed =
      res.status >= 300 ? `answered ${res.status}: ${text.slice(0, 300)}` : s.request.check?.(stand.google);
    if (failed || stand.google.unexpected.length > 0 || stand.gcs.unexpected.length > 0) {
      throw new Error(
        `${s.bundle.name}: the first request did not do its work: ${failed ?? "unexpected Google API calls"}\n${stderr}`,
      );
    }
    for (let i = 0; i < 100 && !stdout.includes("stages "); i++) await new Promise((r) => setTimeout(r, 10));
    const marks = JSON.parse(/stages (.*)/.exec(stdout)?.[1] ?? "null") as Record<string, number> | null;
    if (!marks) throw new Error(`${s.bundle.name}: the launcher reported no stages`);
    const stages = {
      boot: marks.boot,
      framework: marks.framework - marks.boot,
      bundle: marks.bundle - marks.framework,
      request: marks.request - marks.bundle,
    };
    return { answeredMs, cpuMs, status: res.status, stages };
  } finally {
    if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGTERM");
    await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
  }
}

/** CPU milliseconds a process spends importing the named client libraries and nothing else. */
function clientLoadCpuMs(pkgs: string[]): number {
  const code = `${pkgs.map((p) => `await import(${JSON.stringify(p)});`).join("")}const u=process.cpuUsage();process.stdout.write(String((u.user+u.system)/1000));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: REPO, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`loading ${pkgs.join(", ")} failed: ${r.stderr}`);
  return Number(r.stdout);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const loadBefore = loadavg()[0];
  const google = await startGoogleStandIn();
  const gcs = await startFakeGcs();
  const stand: StandIns = { google, gcs, env: standInEnv(google, gcs.url) };
  try {
    const launcher = join(OUT, "serve-stages.mjs");
    writeFileSync(launcher, STAGES_LAUNCHER);
    const functions = await buildFunctions(join(REPO, "functions"), join(OUT, "functions"));
    const floors = [
      ...(await buildFunctions(join(REPO, "test", "build", "fixtures", "bare-functions"), join(OUT, "bare"))),
      ...(await buildFunctions(join(REPO, "test", "build", "fixtures", "functions"), join(OUT, "fixtures"))),
    ];
    // Every bundle runs its vendored framework, linked as Cloud Build's npm install links it.
    for (const b of [...floors, ...functions]) linkFramework(b.dir);
    // The floor again with the registry's framework (what bundles depended on before it was vendored).
    const bare = floors.find((b) => b.name === "bare")!;
    const bareInstalled: Bundle = { ...bare, name: "bare-installed", dir: join(OUT, "bare-installed") };
    cpSync(bare.dir, bareInstalled.dir, { recursive: true });
    delete bareInstalled.framework;
    linkFramework(bareInstalled.dir, installedFramework());
    const floorNote: Record<string, string> = {
      "bare-installed": "functions framework only, the registry's package",
      bare: "functions framework only, vendored",
      echo: "framework + zod + contracts",
    };
    const subjects: Subject[] = [
      ...[bareInstalled, ...floors].map((b) => ({
        bundle: b,
        target: b.name === "bare-installed" ? "bare" : b.name,
        floor: floorNote[b.name],
        cached: !QUICK || b.name.startsWith("bare"),
        request: firstRequest(b.name, b.name),
      })),
      ...functions
        .filter((b) => !ONLY || ONLY.includes(b.name))
        .map((b) => {
          const def =
            PLATFORM_FUNCTIONS.find((f) => f.source === b.name) ??
            registry
              .list()
              .flatMap((d) => d.functions)
              .find((f) => f.source === b.name);
          const target = def?.target ?? b.name;
          return {
            bundle: b,
            target,
            cached: !QUICK || b.name === "dispatch",
            request: firstRequest(b.name, target),
          };
        }),
    ];
    // What Cloud Build's gcp-build step does for each deployed bundle.
    for (const s of subjects.filter((x) => x.cached)) {
      const warm = spawnSync(process.execPath, [join(s.bundle.dir, WARM_CACHE_FILE)], { encoding: "utf8" });
      if (warm.status !== 0) throw new Error(`${s.bundle.name}: warm-cache failed: ${warm.stderr}`);
    }
    const starts = new Map<string, Start[]>();
    const clientCpu = new Map<string, number[]>();
    const clientSets: [string, string[]][] = [
      ["@google-cloud/storage", ["@google-cloud/storage"]],
      ["@google-cloud/pubsub", ["@google-cloud/pubsub"]],
      ["@google-cloud/workflows", ["@google-cloud/workflows"]],
      ["all three", ["@google-cloud/storage", "@google-cloud/pubsub", "@google-cloud/workflows"]],
    ];
    const key = (s: Subject, cache: boolean) => `${s.bundle.name}${cache ? "+cache" : ""}`;
    for (let i = 0; i < RUNS; i++) {
      for (const s of subjects) {
        for (const cache of s.cached ? [false, true] : [false]) {
          const k = key(s, cache);
          starts.set(k, [...(starts.get(k) ?? []), await coldStart(launcher, s, cache, stand)]);
        }
      }
      for (const [label, pkgs] of clientSets)
        clientCpu.set(label, [...(clientCpu.get(label) ?? []), clientLoadCpuMs(pkgs)]);
    }
    const med = (s: Subject, cache: boolean, f: (x: Start) => number) => {
      const xs = starts.get(key(s, cache));
      return xs ? median(xs.map(f)) : Number.NaN;
    };
    const bareSubject = subjects.find((s) => s.bundle.name === "bare")!;
    // Deployed functions start with the compile cache, which takes the bundle's parse and compile out of the
    // bundle stage: both splits are shown.
    const stageCpu = (s: Subject, cache: boolean) =>
      starts.has(key(s, cache))
        ? `${(["boot", "framework", "bundle", "request"] as const).map((k) => med(s, cache, (x) => x.stages[k]).toFixed(0)).join(" / ")} ms`
        : "-";
    const lines = [
      "## Deploy: function bundles and cold starts",
      "",
      `Bundles by \`scripts/build.ts\` (esbuild, minified ESM, the registry's local hooks and Zod's non-English locales left out, Zod jitless; the functions framework vendored as one pre-bundled file, the lazily loaded Google Cloud clients installed from package.json). Cold start = process start to the first answered request on 127.0.0.1, median of ${RUNS}, all subjects interleaved start by start; each process listens on a socket the bench bound to 127.0.0.1 and handed over (fd 3), as an instance listens on Cloud Run's port, without the host lookup of \`listen(port, "127.0.0.1")\` (~10-15 ms of CPU before this session, which no deployed instance pays); "cache" = with the V8 compile cache the bundle's gcp-build step fills. Every start has the environment Pulumi gives a function (\`GLIBC_TUNABLES\`: malloc on transparent huge pages, shared/runtime/malloc.ts). Functions run deployed (\`TESSERA_MODE=gcp\`) and their first request does its real work against loopback stand-ins of the metadata server, Cloud Storage, Workflows and Pub/Sub; the console runs locally.`,
      "",
      "| function | first request | code | vs 1 MB | cold start | with cache | vs 300 ms (cache) | vs bare (cache) | CPU | CPU with cache | CPU: boot / framework / bundle / first request | same, with cache | status |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ];
    for (const s of subjects) {
      const cold = med(s, false, (x) => x.answeredMs);
      const cached = med(s, true, (x) => x.answeredMs);
      const best = Number.isNaN(cached) ? cold : cached;
      const vsBare =
        best /
        (Number.isNaN(cached)
          ? med(bareSubject, false, (x) => x.answeredMs)
          : med(bareSubject, true, (x) => x.answeredMs));
      const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(0)} ms`);
      lines.push(
        `| ${s.bundle.name}${s.floor ? ` (floor: ${s.floor})` : ""} | ${s.floor ? "-" : s.request.work} | ${kib(s.bundle.bytes)}${s.bundle.assets ? ` + ${kib(s.bundle.assets)} static` : ""}${s.bundle.framework ? ` + ${kib(s.bundle.framework)} framework` : ""} | ` +
          `${(s.bundle.bytes / SIZE_TARGET).toFixed(2)} | ${ms(cold)} | ${ms(cached)} | ${(best / COLD_TARGET_MS).toFixed(2)} | ` +
          `${vsBare.toFixed(2)} | ${ms(med(s, false, (x) => x.cpuMs))} | ${ms(med(s, true, (x) => x.cpuMs))} | ` +
          `${stageCpu(s, false)} | ${stageCpu(s, true)} | ` +
          `${starts.get(key(s, false))![0].status} |`,
      );
    }
    const over = functions.filter((b) => b.bytes >= SIZE_TARGET).map((b) => b.name);
    const worst = Math.max(
      ...subjects.filter((s) => !s.floor).map((s) => med(s, s.cached, (x) => x.answeredMs)),
    );
    const inst = subjects.find((x) => x.bundle.name === "bare-installed")!;
    const fw = (x: Subject) => med(x, true, (y) => y.stages.framework);
    lines.push(
      "",
      `Vendored framework (one pre-bundled file, \`vendor/functions-framework\`) against the registry's package, the floor with the compile cache: ` +
        `${med(bareSubject, true, (x) => x.answeredMs).toFixed(0)} ms against ${med(inst, true, (x) => x.answeredMs).toFixed(0)} ms to the first answer, ` +
        `framework stage ${fw(bareSubject).toFixed(0)} against ${fw(inst).toFixed(0)} ms of CPU. ` +
        `Sizes (code, without the console's prebuilt static assets and the vendored framework): ${over.length ? `over 1 MB: ${over.join(", ")}` : "every function bundle under 1 MB"}; ` +
        `with the vendored framework's JavaScript: ${functions.map((b) => `${b.name} ${kib(b.bytes + (b.framework ?? 0))}`).join(", ")}. ` +
        `Slowest function cold start ${worst.toFixed(0)} ms (${(worst / COLD_TARGET_MS).toFixed(2)} of the 300 ms target). ` +
        `Not loaded by any of these starts (the REST layer replaces them on the first request), CPU to import on their own, median: ` +
        `${clientSets.map(([label]) => `${label} ${median(clientCpu.get(label)!).toFixed(0)} ms`).join(", ")}. ` +
        `Load average ${loadBefore.toFixed(1)} before and ${loadavg()[0].toFixed(1)} after, on ${cpus().length} cores.`,
      "",
    );
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await google.close();
    await gcs.close();
    if (existsSync(OUT)) rmSync(OUT, { recursive: true, force: true });
  }
}

await main();
