import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bundle, buildFunctions, bundle, writeLauncher } from "../../scripts/build.ts";
import { linkFramework, VENDOR_DIR } from "../../scripts/vendor-framework.ts";
import { registry } from "../../shared/pipelines/index.ts";
import { PLATFORM_FUNCTIONS } from "../../shared/pipelines/platform.ts";
import { type FakeGcs, startFakeGcs } from "../adapters/objects-fake-gcs.ts";
import { firstRequest } from "./first-requests.ts";
import { type GoogleStandIn, standInEnv, startGoogleStandIn } from "./google-standin.ts";

const REPO = join(import.meta.dirname, "..", "..");
// Under node_modules so that the bundles' external imports resolve to the repository's packages.
const OUT = join(REPO, "node_modules", ".cache", `tessera-deploy-test-${process.pid}`);

/**
 * A module-resolution hook (`node --import`) that refuses every Google Cloud client library but the functions
 * framework: a bundle that loads one fails its request.
 */
const NO_CLIENTS = `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(
  "export async function resolve(s, c, next) {" +
  "  if (/^@google-cloud\\\\/(?!functions-framework)/.test(s) || s === 'google-gax' || s === 'google-auth-library')" +
  "    throw new Error('client library loaded: ' + s);" +
  "  return next(s, c);" +
  "}"));
`;

let google: GoogleStandIn;
let gcs: FakeGcs;
let functions: Bundle[];
let launcher: string;
let hook: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  [google, gcs] = await Promise.all([startGoogleStandIn(), startFakeGcs()]);
  launcher = writeLauncher(OUT);
  hook = join(OUT, "no-clients.mjs");
  writeFileSync(hook, NO_CLIENTS);
  functions = await buildFunctions(join(REPO, "functions"), join(OUT, "functions"));
  // What Cloud Build's npm install does: the bundles run their vendored framework.
  for (const f of functions) linkFramework(f.dir);
});

afterAll(async () => {
  for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGTERM");
  await Promise.all([google?.close(), gcs?.close()]);
  rmSync(OUT, { recursive: true, force: true });
});

function serve(
  b: Bundle,
  target: string,
  env: Record<string, string>,
): Promise<{ port: number; stderr: () => string; framework: string }> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  delete childEnv.PUBSUB_EMULATOR_HOST;
  const child = spawn(process.execPath, ["--import", hook, launcher, join(b.dir, "index.js"), target, "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: childEnv,
  });
  children.push(child);
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      const f = /^framework (.*)$/m.exec(out);
      if (m && f) resolve({ port: Number(m[1]), stderr: () => err, framework: f[1] });
    });
    child.on("exit", (code) => reject(new Error(`launcher exited ${code}: ${err}`)));
  });
}

const targetOf = (name: string) =>
  (
    PLATFORM_FUNCTIONS.find((f) => f.source === name) ??
    registry
      .list()
      .flatMap((d) => d.functions)
      .find((f) => f.source === name)
  )?.target ?? name;

describe("deployed function bundles on the REST layer", () => {
  it("the resolution hook does refuse a client library (the control for the tests below)", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", hook, "--input-type=module", "-e", 'await import("@google-cloud/storage")'],
      {
        cwd: REPO,
        encoding: "utf8",
      },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("client library loaded: @google-cloud/storage");
  });

  for (const name of ["dispatch", "backfill", "runs", "mmm"]) {
    it(`${name}: in gcp mode, the first request does its work against the stand-ins (2xx) without loading a client library`, async () => {
      const b = functions.find((f) => f.name === name);
      expect(b, `functions/${name} bundle`).toBeDefined();
      gcs.objects.clear();
      google.executions.length = 0;
      google.published.length = 0;
      const request = firstRequest(name, targetOf(name));
      const { port, stderr, framework } = await serve(b!, targetOf(name), {
        TESSERA_MODE: "gcp",
        GOOGLE_CLOUD_PROJECT: "deploy-test",
        ...standInEnv(google, gcs.url),
      });
      const res = await fetch(`http://127.0.0.1:${port}${request.path}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
      });
      const text = await res.text();
      expect(res.status, `${text}\n${stderr()}`).toBeLessThan(300);
      expect(request.check?.(google)).toBeUndefined();
      expect(stderr()).not.toContain("client library loaded");
      // The framework that served it is the bundle's vendored one (one registry: the function was found).
      expect(realpathSync(framework)).toBe(realpathSync(join(b!.dir, VENDOR_DIR, "testing.js")));
      expect(google.unexpected).toEqual([]);
      expect(gcs.unexpected).toEqual([]);
      // The ledger's records went to the state bucket, the calls carried the metadata server's token.
      expect(
        [...gcs.objects.values()].some((o) => o.bucket === "tessera-state" || o.bucket === "tessera-data"),
      ).toBe(true);
      expect(google.requests.at(-1)!.headers.authorization).toBe(`Bearer ${google.token}`);
    });
  }
});

describe("job bundles", () => {
  it("every registered job entrypoint, bundled, answers --help with its usage and exit 0", async () => {
    const entries = [...new Set(registry.list().flatMap((p) => p.jobs.map((j) => j.entrypoint)))].sort();
    expect(entries.length).toBeGreaterThanOrEqual(5);
    for (const entry of entries) {
      const name = entry.replace(/[^a-z0-9]+/gi, "-");
      const b = await bundle(join(REPO, entry), join(OUT, "jobs", name), name);
      const help = spawnSync(process.execPath, [join(b.dir, "index.js"), "--help"], {
        encoding: "utf8",
        env: { ...process.env, TESSERA_MODE: "local", TESSERA_STATE_DIR: join(OUT, "state") },
        timeout: 30_000,
      });
      expect([entry, help.status, help.stdout.split("\n")[0]]).toEqual([
        entry,
        0,
        expect.stringMatching(/^Usage: /),
      ]);
      expect(help.stdout).toMatch(/Exit 0 on success/);
    }
  });
});
