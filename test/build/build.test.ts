import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildFunctions,
  buildJobs,
  checkDockerfiles,
  dockerfileSources,
  jobsByImage,
  renderDockerfile,
  writeDockerfiles,
  writeLauncher,
} from "../../scripts/build.ts";
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
  jobs: [{ ...fxDaily.jobs[0], name: "check", entrypoint: "containers/fx-job/main.ts", image: "fx-job" }],
};

const children: ChildProcess[] = [];

beforeAll(() => mkdirSync(OUT, { recursive: true }));
afterAll(() => {
  for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGTERM");
  rmSync(OUT, { recursive: true, force: true });
});

function serve(bundleDir: string, target: string): Promise<{ port: number; child: ChildProcess }> {
  const launcher = writeLauncher(OUT);
  const child = spawn(process.execPath, [launcher, join(bundleDir, "index.js"), target, "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => {
      err += d;
    });
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.on("exit", (code) => reject(new Error(`launcher exited ${code}: ${err}`)));
  });
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
      main: "index.js",
      engines: { node: "22" },
      dependencies: { "@google-cloud/functions-framework": "^5.0.5" },
    });
    expect(echo.bytes).toBeGreaterThan(1000);
    // zod and the contracts are inside the bundle: nothing else is imported from outside it.
    expect(readFileSync(join(echo.dir, "index.js"), "utf8")).not.toMatch(/from"zod"|from"\.\.?\//);
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

  it("renders one non-root node:22-slim Dockerfile per image that copies only the built job bundles", () => {
    const images = jobsByImage([fxDaily, fxModels, fxJob]);
    expect([...images]).toEqual([
      ["fx-daily", ["fx-daily-aggregate"]],
      ["fx-models", ["fx-models-search", "fx-models-summarize"]],
      ["fx-job", ["fx-job-check"]],
    ]);
    const text = renderDockerfile("fx-models", images.get("fx-models")!);
    expect(text).toMatch(/^FROM node:22-slim$/m);
    expect(text).toMatch(/^USER node$/m);
    expect(text.indexOf("USER node")).toBeGreaterThan(text.lastIndexOf("RUN "));
    expect(dockerfileSources(text)).toEqual([
      "dist/jobs/fx-models-search/",
      "dist/jobs/fx-models-summarize/",
    ]);
    expect(text).toMatch(/^CMD \["node", "\/app\/fx-models-search\/index.js"\]$/m);
  });

  it("every COPY source of a generated Dockerfile is a folder the build produced, with the CMD's index.js", () => {
    const text = renderDockerfile("fx-job", ["fx-job-check"]);
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
        `${renderDockerfile("fx-job", ["fx-job-check"])}COPY shared/ /app/shared/\n`,
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
