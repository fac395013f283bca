import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildFunctions,
  buildJobs,
  checkDockerfiles,
  dockerfileSources,
  JOB_COMPILE_CACHE,
  jobsByImage,
  renderDockerfile,
  WARM_CACHE_FILE,
  writeDockerfiles,
  writeLauncher,
} from "../../scripts/build.ts";
import {
  FRAMEWORK_PACKAGE,
  installedFramework,
  linkFramework,
  VENDOR_DIR,
} from "../../scripts/vendor-framework.ts";
import { FUNCTION_COMPILE_CACHE } from "../../shared/pipelines/platform.ts";
import type { PipelineDefinition } from "../../shared/pipelines/types.ts";
import { fxDaily, fxModels } from "../pulumi/fixtures.ts";

const REPO = join(import.meta.dirname, "..", "..");
const FIXTURES = join(import.meta.dirname, "fixtures");
// Under node_modules so that the bundles' external imports resolve to the repository's packages.
const OUT = join(REPO, "node_modules", ".cache", `tessera-build-test-${process.pid}`);

/** A fixture pipeline whose one job's entrypoint exists under test/build/fixtures/. */
const fxJob: PipelineDefinition = {
  ...fxDaily,
  id: "fx-job",
  jobs: [
    {
      ...fxDaily.jobs[0],
      name: "check",
      entrypoint: "containers/fx-job/main.ts",
      image: "fx-job",
      systemPackages: ["bzip2"],
    },
  ],
};

const children: ChildProcess[] = [];

beforeAll(() => mkdirSync(OUT, { recursive: true }));
afterAll(() => {
  for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGTERM");
  rmSync(OUT, { recursive: true, force: true });
});

/**
 * A preload for running the framework's own CLI in tests: the CLI listens on every interface
 * (`server.listen(port)`), so a numeric-port listen is bound to 127.0.0.1 instead, and the port it got is
 * printed (`PORT=0`).
 */
const LOOPBACK_ONLY = `const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] !== "number" && typeof args[0] !== "string") return listen.apply(this, args);
  const cb = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
  this.once("listening", () => process.stdout.write("listening " + this.address().port + "\\n"));
  return listen.call(this, Number(args[0]), "127.0.0.1", cb);
};
`;

function waitForListening(child: ChildProcess, pattern: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => {
      err += d;
    });
    child.stdout!.on("data", (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
}

/** Serve a bundle as it is deployed: its vendored framework linked into node_modules (what npm install does). */
function serve(bundleDir: string, target: string): Promise<{ port: number; child: ChildProcess }> {
  linkFramework(bundleDir);
  const launcher = writeLauncher(OUT);
  const child = spawn(process.execPath, [launcher, join(bundleDir, "index.js"), target, "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return waitForListening(child, /listening (\d+)/).then((port) => ({ port, child }));
}

function pubsubEvent(payload: unknown): { headers: Record<string, string>; body: string } {
  return {
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": "m-1",
      "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "ce-source": "//pubsub.googleapis.com/projects/p/topics/tessera-schedule-ticks",
    },
    body: JSON.stringify({
      message: { data: Buffer.from(JSON.stringify(payload)).toString("base64"), messageId: "m-1" },
    }),
  };
}

describe("function bundles", () => {
  it("bundles each functions/<name>/index.ts into index.js + a package.json with only the unbundleable deps", async () => {
    const [echo, ...rest] = await buildFunctions(join(FIXTURES, "functions"), join(OUT, "functions"));
    expect(rest).toEqual([]);
    expect(echo.name).toBe("echo");
    expect(JSON.parse(readFileSync(join(echo.dir, "package.json"), "utf8"))).toEqual({
      name: "tessera-echo",
      private: true,
      type: "module",
      main: "index.mjs",
      engines: { node: "22" },
      scripts: { "gcp-build": `node ${WARM_CACHE_FILE}` },
      dependencies: { "@google-cloud/functions-framework": "file:./vendor/functions-framework" },
    });
    expect(echo.bytes).toBeGreaterThan(1000);
    // zod and the contracts are inside the bundle: nothing else is imported from outside it.
    expect(readFileSync(join(echo.dir, "index.js"), "utf8")).not.toMatch(/from"zod"|from"\.\.?\//);
  });

  it("vendor the functions framework as one pre-bundled file: same name, version, entries, CLI and license", () => {
    const dir = join(OUT, "functions", "echo", VENDOR_DIR);
    const installed = JSON.parse(readFileSync(join(installedFramework(), "package.json"), "utf8"));
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pkg).toMatchObject({
      name: FRAMEWORK_PACKAGE,
      version: installed.version,
      license: "Apache-2.0",
      main: "index.js",
      exports: { ".": "./index.js", "./testing": "./testing.js" },
      bin: { "functions-framework": "main.js", "functions-framework-nodejs": "main.js" },
    });
    expect(readFileSync(join(dir, "LICENSE"), "utf8")).toContain("Apache License");
    expect(readFileSync(join(dir, "THIRD-PARTY-NOTICES"), "utf8")).toMatch(/^express@\S+ \(MIT\)$/m);
    // Self-contained: framework.js requires only Node built-ins and the iconv tables beside it, plus debug's
    // optional `try { require("supports-color") }` (colours, when installed; the framework does not depend on it).
    const code = readFileSync(join(dir, "framework.js"), "utf8");
    const requires = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    const builtins = new Set(builtinModules);
    const foreign = requires.filter(
      (r) =>
        !builtins.has(r.replace(/^node:/, "")) && !r.startsWith("./iconv-tables/") && r !== "supports-color",
    );
    expect(foreign).toEqual([]);
    for (const r of requires.filter((x) => x.startsWith("./iconv-tables/")))
      expect(existsSync(join(dir, r)), r).toBe(true);
    // The same named exports as the registry's package, from both entries.
    const req = createRequire(join(dir, "package.json"));
    const theirs = createRequire(join(installedFramework(), "package.json"));
    for (const entry of [".", "./testing"]) {
      const mine = Object.keys(req(join(dir, entry === "." ? "index.js" : "testing.js"))).sort();
      const orig = Object.keys(theirs(`${FRAMEWORK_PACKAGE}${entry === "." ? "" : "/testing"}`)).sort();
      expect(mine, entry).toEqual(orig);
    }
  });

  it("the bundle's functions-framework CLI (the vendored one, as the runtime starts it) serves a CloudEvent", async () => {
    const dir = join(OUT, "functions", "echo");
    linkFramework(dir);
    const preload = join(OUT, "loopback-only.cjs");
    writeFileSync(preload, LOOPBACK_ONLY);
    const help = spawnSync(join(dir, "node_modules", ".bin", "functions-framework"), ["--help"], {
      encoding: "utf8",
    });
    expect(help.stderr).toContain("functions-framework --target=helloWorld");
    const child = spawn(
      join(dir, "node_modules", ".bin", "functions-framework"),
      ["--target=echo", "--signature-type=cloudevent"],
      {
        cwd: dir,
        env: { ...process.env, PORT: "0", NODE_OPTIONS: `--require ${preload}`, NODE_ENV: "" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(child);
    const port = await waitForListening(child, /listening (\d+)/);
    const ok = await fetch(`http://127.0.0.1:${port}/`, {
      method: "POST",
      ...pubsubEvent({ pipeline: "fx-daily", schedule: "daily" }),
    });
    expect(ok.status).toBeLessThan(300);
    const bad = await fetch(`http://127.0.0.1:${port}/`, {
      method: "POST",
      ...pubsubEvent({ pipeline: "NOT VALID" }),
    });
    expect(bad.status).toBeGreaterThanOrEqual(500);
    process.kill(child.pid!, "SIGTERM");
  });

  it("answers a Pub/Sub CloudEvent on loopback, and rejects a bad one", async () => {
    const { port } = await serve(join(OUT, "functions", "echo"), "echo");
    const post = (e: { headers: Record<string, string>; body: string }) =>
      fetch(`http://127.0.0.1:${port}/`, { method: "POST", headers: e.headers, body: e.body });
    const ok = await post(pubsubEvent({ pipeline: "fx-daily", schedule: "daily" }));
    expect(ok.status).toBeLessThan(300);
    const bad = await post(pubsubEvent({ pipeline: "NOT VALID" }));
    expect(bad.status).toBeGreaterThanOrEqual(500);
  });

  it("also answers a raw Pub/Sub push body, as the push subscriptions deliver it", async () => {
    const { port } = await serve(join(OUT, "functions", "echo"), "echo");
    const res = await fetch(`http://127.0.0.1:${port}/projects/p/topics/tessera-schedule-ticks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        subscription: "projects/p/subscriptions/tessera-dispatch-push",
        message: {
          data: Buffer.from(JSON.stringify({ pipeline: "fx-daily" })).toString("base64"),
          messageId: "m-2",
          attributes: {},
        },
      }),
    });
    expect(res.status).toBeLessThan(300);
  });
});

describe("deployed function bundles", () => {
  it("keep the registry's local hooks, unused pipeline code and Zod's other locales out: dispatch and mmm under 1 MB", async () => {
    const dir = join(OUT, "real");
    // dispatch and the mmm API, whose run-record reader sits beside the Prophet baseline (date-holidays).
    for (const name of ["dispatch", "mmm"]) {
      const src = join(dir, "src", name);
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, "index.ts"), `import "../../../../../../functions/${name}/index.ts";\n`);
    }
    const [b, mmm] = await buildFunctions(join(dir, "src"), join(dir, "functions"));
    expect([b.name, mmm.name]).toEqual(["dispatch", "mmm"]);
    expect(b.bytes).toBeLessThan(1024 * 1024);
    expect(mmm.bytes).toBeLessThan(1024 * 1024);
    const mmmCode = [
      join(mmm.dir, "index.js"),
      ...readdirSync(join(mmm.dir, "chunks")).map((f) => join(mmm.dir, "chunks", f)),
    ]
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    expect(mmmCode.includes("Africa/Abidjan")).toBe(false);
    const files = [
      join(b.dir, "index.js"),
      ...readdirSync(join(b.dir, "chunks")).map((f) => join(b.dir, "chunks", f)),
    ];
    const code = files.map((f) => readFileSync(f, "utf8")).join("\n");
    // date-holidays' and moment-timezone's zone data, and Zod's Hebrew locale.
    for (const marker of ["Africa/Abidjan", "\u05E2\u05E8\u05DA"])
      expect(code.includes(marker), marker).toBe(false);
    expect(code).toContain("shared/pipelines/mozaic-daily.ts -> ../../containers/mozaic-daily/generate.ts");
    // A local hook's import now fails loudly, naming what was left out.
    const stub = files.find((f) => readFileSync(f, "utf8").includes("is local-twin code"))!;
    await expect(import(stub)).rejects.toThrow(/shared\/pipelines\/.+ -> .+ is local-twin code/);
  }, 60_000);

  it("keep the console's local mode (DuckDB, the local Workflows engine) and the mmm training steps out: under 1 MB", async () => {
    const dir = join(OUT, "console");
    const src = join(dir, "src", "console");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "index.ts"), `import "../../../../../../functions/console/index.ts";\n`);
    const [b] = await buildFunctions(join(dir, "src"), join(dir, "functions"));
    expect(b.bytes).toBeLessThan(1024 * 1024);
    // Snowflake stays: the workbench previews Snowflake tables when deployed. DuckDB is the local warehouse only.
    expect(Object.keys(b.dependencies)).toContain("snowflake-sdk");
    expect(Object.keys(b.dependencies)).not.toContain("@duckdb/node-api");
    const files = [
      join(b.dir, "index.js"),
      ...readdirSync(join(b.dir, "chunks")).map((f) => join(b.dir, "chunks", f)),
    ];
    const code = files.map((f) => readFileSync(f, "utf8")).join("\n");
    expect(code.includes("Africa/Abidjan")).toBe(false);
    expect(code).toContain(
      "functions/console/workbench/api.ts -> ../../../shared/adapters/local/warehouse.ts",
    );
    expect(code).toContain("functions/console/index.ts -> ../../shared/engine/index.ts");
  }, 60_000);

  it("fill the compile cache in their gcp-build step", () => {
    const dir = join(OUT, "functions", "echo");
    const run = spawnSync(process.execPath, [join(dir, WARM_CACHE_FILE)], { encoding: "utf8" });
    expect([run.status, run.stdout, run.stderr]).toEqual([0, "warm-cache: compile cache filled\n", ""]);
    const cache = join(dir, FUNCTION_COMPILE_CACHE);
    const files = readdirSync(cache, { recursive: true }).filter((f) => !String(f).endsWith("/"));
    expect(files.length).toBeGreaterThan(1);
    // The vendored framework's own cache, taken after it ran and served a request, is there and accepted.
    expect(
      files.filter((f) => /^functions-framework-[0-9a-f]{16}-v[\d.]+-\w+\.v8$/.test(String(f))),
    ).toHaveLength(1);
    linkFramework(dir);
    const used = (env: Record<string, string>) =>
      spawnSync(
        process.execPath,
        ["-p", `require(${JSON.stringify(join(dir, VENDOR_DIR, "load.js"))}).cacheUsed`],
        { encoding: "utf8", env: { ...process.env, ...env } },
      ).stdout.trim();
    expect(used({ NODE_COMPILE_CACHE: cache })).toBe("true");
    expect(used({ NODE_COMPILE_CACHE: "" })).toBe("false");
  });

  it("carry a function's prebuilt static assets (the console's client) in the bundle", async () => {
    const [page] = await buildFunctions(join(FIXTURES, "assets-functions"), join(OUT, "assets"));
    expect(page.assets).toBeGreaterThan(0);
    expect(readFileSync(join(page.dir, "static", "index.html"), "utf8")).toContain("fixture page");
    const { port } = await serve(page.dir, "page");
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toContain("fixture page");
  });
});

describe("job bundles and images", () => {
  it("bundles a registered job's entrypoint into dist/jobs/<pipeline>-<job>/ and the bundle runs --help", async () => {
    const [b] = await buildJobs([fxJob], join(OUT, "jobs"), FIXTURES);
    expect(b.name).toBe("fx-job-check");
    const help = spawnSync(process.execPath, [join(b.dir, "index.js"), "--help"], { encoding: "utf8" });
    expect([help.status, help.stdout]).toEqual([
      0,
      "Usage: fx-job [--tick JSON]\nValidates a schedule tick and exits 0.\n",
    ]);
    const run = spawnSync(process.execPath, [join(b.dir, "index.js"), "--tick", '{"pipeline":"fx-job"}'], {
      encoding: "utf8",
      env: { ...process.env, CLOUD_RUN_TASK_INDEX: "3" },
    });
    expect([run.status, run.stdout]).toEqual([0, "ok fx-job 3\n"]);
  });

  it("bundles worker-thread entries beside index.js and the bundled job runs them without tsx", () => {
    const dir = join(OUT, "jobs", "fx-job-check");
    expect(readdirSync(dir).filter((f) => f.startsWith("worker-"))).toEqual([
      "worker-fx-job-square-worker.js",
    ]);
    const all = readdirSync(dir)
      .filter((f) => f.endsWith(".js"))
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("\n");
    expect(all).not.toMatch(/square-worker\.ts|resolve\("tsx"\)/);
    // The pool is a lazily loaded chunk: the worker's URL must hold from there too. No tsx on the way.
    const run = spawnSync(process.execPath, [join(dir, "index.js"), "--square", "7"], {
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    expect([run.status, run.stdout, run.stderr]).toEqual([0, "squared 49\n", ""]);
  });

  it("fill V8's compile cache with their image's build step (warm-cache.mjs), without running the job", () => {
    const dir = join(OUT, "jobs", "fx-job-check");
    const cache = join(OUT, "job-compile-cache");
    const warm = spawnSync(process.execPath, [join(dir, WARM_CACHE_FILE), cache], { encoding: "utf8" });
    expect([warm.status, warm.stdout, warm.stderr]).toEqual([0, "warm-cache: compile cache filled\n", ""]);
    // index.js (through --help), its chunks and the worker entry: more than one module cached.
    const files = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(1);
    // The job runs from that cache as the image runs it (ENV NODE_COMPILE_CACHE), worker included.
    const run = spawnSync(process.execPath, [join(dir, "index.js"), "--square", "6"], {
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "", NODE_COMPILE_CACHE: cache },
    });
    expect([run.status, run.stdout, run.stderr]).toEqual([0, "squared 36\n", ""]);
    const text = renderDockerfile("fx-job", { jobs: ["fx-job-check"], packages: [] });
    expect(text).toContain(`&& node ${WARM_CACHE_FILE} ${JOB_COMPILE_CACHE}`);
    expect(text).toMatch(new RegExp(`^ENV NODE_COMPILE_CACHE=${JOB_COMPILE_CACHE}$`, "m"));
    expect(text.indexOf("ENV NODE_COMPILE_CACHE")).toBeLessThan(text.indexOf("USER node"));
  });

  it("renders one non-root node:22-slim Dockerfile per image that copies only the built job bundles", () => {
    const images = jobsByImage([fxDaily, fxModels, fxJob]);
    expect([...images]).toEqual([
      ["fx-daily", { jobs: ["fx-daily-aggregate"], packages: [] }],
      ["fx-models", { jobs: ["fx-models-search", "fx-models-summarize"], packages: [] }],
      ["fx-job", { jobs: ["fx-job-check"], packages: ["bzip2"] }],
    ]);
    const text = renderDockerfile("fx-models", images.get("fx-models")!);
    expect(text).not.toMatch(/apt-get/);
    expect(text).toMatch(/^FROM node:22-slim$/m);
    expect(text).toMatch(/^USER node$/m);
    expect(text.indexOf("USER node")).toBeGreaterThan(text.lastIndexOf("RUN "));
    expect(dockerfileSources(text)).toEqual([
      "dist/jobs/fx-models-search/",
      "dist/jobs/fx-models-summarize/",
    ]);
    expect(text).toMatch(/^CMD \["node", "\/app\/fx-models-search\/index.js"\]$/m);
  });

  it("installs the registry's system packages (union per image) before the bundles, as root", () => {
    const both: PipelineDefinition = {
      ...fxJob,
      id: "fx-two",
      jobs: [
        { ...fxJob.jobs[0], name: "a", systemPackages: ["postgresql-client", "bzip2"] },
        { ...fxJob.jobs[0], name: "b", systemPackages: ["bzip2"] },
      ],
    };
    const spec = jobsByImage([both]).get("fx-job")!;
    expect(spec).toEqual({ jobs: ["fx-two-a", "fx-two-b"], packages: ["bzip2", "postgresql-client"] });
    const text = renderDockerfile("fx-job", spec);
    expect(text).toContain(
      "RUN apt-get update \\\n  && apt-get install -y --no-install-recommends bzip2 postgresql-client \\\n  && rm -rf /var/lib/apt/lists/*\n",
    );
    expect(text.indexOf("apt-get")).toBeLessThan(text.indexOf("COPY"));
    expect(text.indexOf("apt-get")).toBeLessThan(text.indexOf("USER node"));
  });

  it("every COPY source of a generated Dockerfile is a folder the build produced, with the CMD's index.js", () => {
    const text = renderDockerfile("fx-job", { jobs: ["fx-job-check"], packages: ["bzip2"] });
    for (const src of dockerfileSources(text)) {
      const built = join(OUT, src.replace(/^dist\//, ""));
      expect(existsSync(join(built, "index.js"))).toBe(true);
      expect(existsSync(join(built, "package.json"))).toBe(true);
    }
  });

  it("checks committed Dockerfiles: missing, stale and foreign COPY sources are reported", () => {
    const root = mkdtempSync(join(tmpdir(), "tessera-docker-"));
    try {
      expect(checkDockerfiles([fxJob], root)).toEqual([
        "containers/fx-job/Dockerfile is missing (run `npx tsx scripts/build.ts --dockerfiles`)",
      ]);
      expect(writeDockerfiles([fxJob], root)).toEqual(["containers/fx-job/Dockerfile"]);
      expect(checkDockerfiles([fxJob], root)).toEqual([]);
      writeFileSync(
        join(root, "containers/fx-job/Dockerfile"),
        `${renderDockerfile("fx-job", { jobs: ["fx-job-check"], packages: ["bzip2"] })}COPY shared/ /app/shared/\n`,
      );
      expect(checkDockerfiles([fxJob], root)).toEqual([
        "containers/fx-job/Dockerfile differs from the registry's (run `npx tsx scripts/build.ts --dockerfiles`)",
        "containers/fx-job/Dockerfile copies shared/, which the build does not produce",
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
