import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";
import { NonRetriableError } from "../shared/core/errors.ts";
import { FUNCTION_COMPILE_CACHE } from "../shared/pipelines/platform.ts";
import type { PipelineDefinition } from "../shared/pipelines/types.ts";
import {
  buildVendoredFramework,
  FRAMEWORK_FILES,
  FRAMEWORK_PACKAGE,
  VENDOR_DIR,
  VENDORED_DEPENDENCY,
} from "./vendor-framework.ts";

/**
 * `npm run build`: one self-contained folder per deployable.
 *
 * - `dist/functions/<name>/` for every `functions/<name>/index.ts`: `index.js` (ESM, minified) and a
 *   `package.json` whose dependencies are only what cannot be bundled. The functions framework is one of
 *   them: the runtime's framework loads the bundle and must find the function registered in its own
 *   instance, so a copy inside index.js would register into a registry nobody reads. It is vendored
 *   instead, pre-bundled into one file (`vendor/functions-framework/`, scripts/vendor-framework.ts), and
 *   the package.json depends on it as `file:./vendor/functions-framework`: the runtime's `functions-framework`
 *   CLI and the bundle's import are then that one copy.
 * - `dist/jobs/<pipeline>-<job>/` for every registered job's entrypoint, the same way.
 * - `containers/<image>/Dockerfile` per job image, generated from the registry (`--dockerfiles` writes
 *   them, `--check` fails when a committed one differs from what the registry implies).
 *
 * @example
 * npm run build                         # bundles into dist/
 * npx tsx scripts/build.ts --check      # Dockerfiles match the registry; exit 1 otherwise
 * npx tsx scripts/build.ts --dockerfiles
 */

/**
 * Packages never bundled, installed from the bundle's package.json instead: the framework that hosts the
 * bundle, native addons (DuckDB), AMD-style packages (compressjs), and the Google Cloud client libraries, which read their proto
 * descriptors from files next to their own modules at run time (and would be 1-2 MB each inlined).
 */
export const EXTERNALS = [
  "@google-cloud/*",
  "@duckdb/*",
  "google-gax",
  // The REST layer's credentials off Google Cloud (application-default credentials); loaded only there.
  "google-auth-library",
  "snowflake-sdk",
  "pg-native",
  // Loads its modules through amdefine (`module.require`), which has no meaning inside an ESM bundle.
  "compressjs",
];

const isExternal = (pkg: string) =>
  EXTERNALS.some((e) => (e.endsWith("/*") ? pkg.startsWith(e.slice(0, -1)) : pkg === e));

/**
 * Packages that are external but optional at run time: no dependency is declared for them. esbuild also
 * leaves out unresolvable `require`s inside try/catch (node-fetch's `encoding`); those are optional too.
 */
const OPTIONAL = new Set(["pg-native"]);

/**
 * Keeps the local twin's code out of deployed function bundles. A registry module
 * (`shared/pipelines/<id>.ts`) reaches local-only code (seeders, generators, DuckDB, `describe`) through
 * dynamic `import()` inside its `local` hooks only; the deployed graph never calls those hooks, so here each
 * such import resolves to a module that throws, naming what was left out. Without this, the lazily loaded
 * chunks of one function carried date-holidays' and moment-timezone's data (2.3 MB in all).
 * A function's own local-mode branch is treated alike for the modules in LOCAL_ONLY_MODULES.
 */
/**
 * Local-twin modules that a function reaches only in its local mode (`TESSERA_MODE=local`), through a
 * dynamic `import()`: in deployed bundles they become the same throwing stub. The local warehouse is DuckDB,
 * a native addon (a 68 MB install) that a deployed function never loads (BigQuery); the engine is the local
 * Workflows interpreter (190 KiB with its YAML parser) that the console's local mode reads executions from.
 */
export const LOCAL_ONLY_MODULES = ["shared/adapters/local/warehouse.ts", "shared/engine/index.ts"];

export function localHooksOut(root = ROOT): Plugin {
  const registryDir = join(root, "shared", "pipelines");
  return {
    name: "tessera-local-hooks-out",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind !== "dynamic-import") return undefined;
        const fromRegistry = dirname(args.importer) === registryDir;
        const target = args.path.startsWith(".") ? relative(root, join(args.resolveDir, args.path)) : "";
        if (!fromRegistry && !LOCAL_ONLY_MODULES.includes(target)) return undefined;
        return {
          path: `${relative(root, args.importer)} -> ${args.path}`,
          namespace: "tessera-local-only",
        };
      });
      b.onLoad({ filter: /.*/, namespace: "tessera-local-only" }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`${args.path} is local-twin code (a registry module's local hook or a function's local mode) and is not in deployed bundles`)});`,
        loader: "js",
      }));
    },
  };
}

/**
 * Zod re-exports every locale (`z.locales.*`, 258 KiB of a 490 KiB function bundle); Tessera's messages are
 * English and nothing calls `z.config(z.locales.xx())`, so function and job bundles keep only `en`, the default
 * Zod registers itself.
 */
export function zodEnglishOnly(): Plugin {
  return {
    name: "tessera-zod-english-only",
    setup(b) {
      b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
        if (!/[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir)) return undefined;
        return { path: join(args.resolveDir, "..", "locales", "en.js"), namespace: "tessera-zod-locales" };
      });
      b.onLoad({ filter: /.*/, namespace: "tessera-zod-locales" }, (args) => ({
        contents: `export { default as en } from ${JSON.stringify(args.path)};`,
        loader: "js",
        resolveDir: dirname(args.path),
      }));
    },
  };
}

/**
 * Pipeline code (`containers/`) reached by a deployed function is library code: marked free of side
 * effects, a module whose exports the function never uses is dropped with its imports (the mmm API reads run
 * records through `containers/mmm/run.ts`, which also imports the Prophet baseline and date-holidays' data).
 */
export function containersPure(root = ROOT): Plugin {
  const containers = join(root, "containers") + sep;
  return {
    name: "tessera-containers-pure",
    setup(b) {
      b.onResolve({ filter: /^\.{1,2}\/.*\.ts$/ }, (args) => {
        const path = join(args.resolveDir, args.path);
        return path.startsWith(containers) ? { path, sideEffects: false } : undefined;
      });
    },
  };
}

export interface BundleOptions {
  /** Replace registry modules' local-hook imports with a throwing stub (function bundles). */
  deployedOnly?: boolean;
  /** Repository root whose `containers/` hold the job sources (worker entries). Default: this repository. */
  root?: string;
  /** Minify (default). Off for profiling a bundle by its module and function names. */
  minify?: boolean;
  /**
   * A vendored framework folder (buildVendoredFramework) to copy into the bundle's `vendor/functions-framework`
   * and depend on as `file:./vendor/functions-framework`. Default for function bundles: built for this bundle.
   */
  framework?: string;
}

/** `new URL("./worker.ts", import.meta.url)`: a worker-thread entry module, as the job sources spell it. */
const WORKER_URL = /new URL\(\s*(["'])(\.{1,2}\/[^"']+\.ts)\1\s*,\s*import\.meta\.url\s*\)/g;

/** The bundled name of a worker entry: `containers/forecast/mozaic/worker.ts` -> `worker-forecast-mozaic-worker`. */
export function workerEntryName(file: string, root = ROOT): string {
  const rel = relative(join(root, "containers"), file).replace(/\.ts$/, "");
  return `worker-${rel.replace(/[^A-Za-z0-9]+/g, "-")}`;
}

/**
 * Worker threads in a job bundle. Job sources start workers from their TypeScript files
 * (`new Worker(new URL("./worker.ts", import.meta.url))`, under tsx); in the bundle each such file is its own
 * entry point (`worker-<path>.js`, beside `index.js`; job bundles are flat, so the relative URL holds from
 * any output file) and the URL is rewritten to it. `import.meta.resolve("tsx")` (a worker's `--import` of
 * the TypeScript loader) becomes an empty data: module: the bundle has no TypeScript left to load.
 */
export function workerEntries(found: Map<string, string>, root = ROOT): Plugin {
  const containers = join(root, "containers");
  return {
    name: "tessera-worker-entries",
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        if (!args.path.startsWith(containers)) return undefined;
        const text = readFileSync(args.path, "utf8");
        if (!text.includes("import.meta.url") && !text.includes('import.meta.resolve("tsx")'))
          return undefined;
        const contents = text
          .replace(WORKER_URL, (_m, _q, spec: string) => {
            const file = join(dirname(args.path), spec);
            const name = workerEntryName(file, root);
            found.set(name, file);
            return `new URL(${JSON.stringify(`./${name}.js`)}, import.meta.url)`;
          })
          .replaceAll('import.meta.resolve("tsx")', '"data:text/javascript,"');
        return { contents, loader: "ts" };
      });
    },
  };
}

export interface Bundle {
  name: string;
  dir: string;
  /** Bytes of the code: `index.js` and its chunks. */
  bytes: number;
  /** Bytes of prebuilt static assets in the bundle (the console's client), when it has any. */
  assets?: number;
  /** Worker-thread entry files beside `index.js` (job bundles). */
  workers: string[];
  /** Bytes of the vendored functions framework's JavaScript (function bundles). */
  framework?: number;
  dependencies: Record<string, string>;
}

const ROOT = join(import.meta.dirname, "..");

function rootVersions(root: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<
    string,
    Record<string, string>
  >;
  return { ...pkg.devDependencies, ...pkg.dependencies };
}

function installedVersion(pkg: string, root = ROOT): string | undefined {
  const file = join(root, "node_modules", pkg, "package.json");
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version
    : undefined;
}

/** The package name of an import path: `@scope/pkg/sub` -> `@scope/pkg`, `pkg/sub` -> `pkg`. */
export function packageOf(path: string): string {
  const parts = path.split("/");
  return path.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function externalImports(meta: Metafile): string[] {
  const builtins = new Set(builtinModules);
  const found = new Set<string>();
  for (const out of Object.values(meta.outputs)) {
    for (const imp of out.imports) {
      if (!imp.external || imp.path.startsWith("node:") || builtins.has(imp.path)) continue;
      found.add(packageOf(imp.path));
    }
  }
  return [...found].sort();
}

/**
 * Bundle one entrypoint into `outDir` (emptied first): `index.js` + `package.json`. The bundle is ESM with a
 * `require` shim, because some bundled CommonJS dependencies call `require` for Node built-ins.
 */
export async function bundle(
  entry: string,
  outDir: string,
  name: string,
  options: BundleOptions = {},
): Promise<Bundle> {
  if (!existsSync(entry)) {
    throw new NonRetriableError(`${entry} does not exist`, { field: name, fix: "check the entrypoint path" });
  }
  // Loading the registry validates every definition (definePipeline): a bad one fails the build here.
  if (options.deployedOnly) await import("../shared/pipelines/index.ts");
  // A job bundle is flat (chunks beside index.js) so that worker URLs resolve from any output file; its
  // worker entries are known once the sources are read, so it is built again when new ones turn up.
  const job = !options.deployedOnly;
  const workers = new Map<string, string>();
  let result: Awaited<ReturnType<typeof build<{ metafile: true }>>>;
  for (;;) {
    const before = workers.size;
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    result = await build({
      entryPoints: { index: entry, ...Object.fromEntries(workers) },
      outdir: outDir,
      // Code behind a dynamic import (a client library used by one path only, a pipeline's local hooks) goes
      // to its own chunk, with its external imports: a function's cold start loads only what it uses.
      splitting: true,
      chunkNames: job ? "[name]-[hash]" : "chunks/[name]-[hash]",
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      minify: options.minify ?? true,
      sourcemap: false,
      legalComments: "none",
      metafile: true,
      external: EXTERNALS,
      plugins: options.deployedOnly
        ? [localHooksOut(), zodEnglishOnly(), containersPure()]
        : [workerEntries(workers, options.root), zodEnglishOnly()],
      inject: options.deployedOnly ? [join(ROOT, "scripts", "zod-jitless.ts")] : [],
      // The registry is validated here, at build time (registryValidated), so a deployed function does not
      // validate it again at every cold start (definePipeline's checks: ~15-25 ms of CPU).
      define: options.deployedOnly ? { TESSERA_REGISTRY_VALIDATED: "true" } : {},
      logLevel: "silent",
      banner: {
        js: "import{createRequire as __tesseraRequire}from'node:module';const require=__tesseraRequire(import.meta.url);",
      },
    });
    if (workers.size === before) break;
  }
  const versions = rootVersions(ROOT);
  const dependencies: Record<string, string> = {};
  for (const dep of externalImports(result.metafile)) {
    if (OPTIONAL.has(dep) || !isExternal(dep)) continue;
    // A transitive package used directly (google-gax, beside the clients) is pinned to the installed version.
    const version = versions[dep] ?? installedVersion(dep);
    if (!version) {
      throw new NonRetriableError(`${name} imports ${dep}, which is external but not in package.json`, {
        field: name,
        fix: `npm install ${dep}, or stop marking it external in scripts/build.ts`,
      });
    }
    dependencies[dep] = version;
  }
  let frameworkBytes: number | undefined;
  if (options.deployedOnly && dependencies[FRAMEWORK_PACKAGE]) {
    const dest = join(outDir, VENDOR_DIR);
    if (options.framework) cpSync(options.framework, dest, { recursive: true });
    else await buildVendoredFramework(dest);
    dependencies[FRAMEWORK_PACKAGE] = VENDORED_DEPENDENCY;
    frameworkBytes = FRAMEWORK_FILES.reduce((sum, f) => sum + statSync(join(dest, f)).size, 0);
  }
  const pkg = {
    name: `tessera-${name}`,
    private: true,
    type: "module",
    main: options.deployedOnly ? FUNCTION_MAIN : "index.js",
    engines: { node: "22" },
    ...(options.deployedOnly ? { scripts: { "gcp-build": `node ${WARM_CACHE_FILE}` } } : {}),
    dependencies,
  };
  if (options.deployedOnly) {
    writeFileSync(join(outDir, WARM_CACHE_FILE), WARM_CACHE);
    writeFileSync(join(outDir, FUNCTION_MAIN), FUNCTION_MAIN_SOURCE);
  } else writeFileSync(join(outDir, WARM_CACHE_FILE), JOB_WARM_CACHE);
  writeFileSync(join(outDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  const bytes = Object.keys(result.metafile.outputs).reduce((sum, file) => sum + statSync(file).size, 0);
  return {
    name,
    dir: outDir,
    bytes,
    dependencies,
    workers: [...workers.keys()].sort().map((w) => `${w}.js`),
    ...(frameworkBytes ? { framework: frameworkBytes } : {}),
  };
}

export const WARM_CACHE_FILE = "warm-cache.mjs";

/**
 * A function bundle's `main`: `index.mjs`, re-exporting `index.js`. The framework's loader decides whether the
 * user's module is ESM from its extension first; only for `.js` does it look up the nearest package.json
 * with read-package-up, whose modules (read-pkg, normalize-package-data, semver, parse-json, ...) cost a
 * cold start ~20-30 ms of CPU to load. With `.mjs` the answer is the same (ESM) without them.
 */
export const FUNCTION_MAIN = "index.mjs";
const FUNCTION_MAIN_SOURCE = `export * from "./index.js";\n`;

/**
 * The build step of a function bundle (`gcp-build`, which Cloud Build runs after installing the bundle's
 * dependencies, in the runtime's own Node): load the framework's server modules, the bundle and each of its
 * chunks once with the compile cache on, so that instances start from cached V8 code
 * (`NODE_COMPILE_CACHE=/workspace/.compile-cache`, set by Pulumi). Loading a module only runs its top level:
 * functions register, nothing is served or called. A module that fails to load is reported and skipped.
 */
export const WARM_CACHE = `import module, { createRequire } from "node:module";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
const here = import.meta.dirname;
const cache = module.enableCompileCache?.(join(here, ${JSON.stringify(FUNCTION_COMPILE_CACHE)}));
// Where the vendored framework's loader keeps its own cache: the same folder, as at run time.
process.env.NODE_COMPILE_CACHE = (cache && cache.directory) || join(here, ${JSON.stringify(FUNCTION_COMPILE_CACHE)});
const require = createRequire(import.meta.url);
const load = async (file) => {
  try {
    await import(pathToFileURL(file).href);
  } catch (err) {
    // A local-hook stub (see localHooksOut) refuses to load by design; anything else is worth a line.
    if (!String(err && err.message).includes("is local-twin code"))
      process.stderr.write("warm-cache: " + file + ": " + (err && err.message) + "\\n");
  }
};
// The framework as the bundle resolves it (the vendored one, linked by npm install): its entries load
// framework.js, the one file with the whole framework. (A registry copy's modules are loaded one by one.)
const framework = dirname(require.resolve("@google-cloud/functions-framework"));
for (const m of ["index", "testing", "options", "loader", "invoker", "server", "logger"])
  if (existsSync(join(framework, m + ".js"))) await load(join(framework, m + ".js"));
await load(join(here, "index.js"));
if (existsSync(join(here, "index.mjs"))) await load(join(here, "index.mjs"));
const chunks = join(here, "chunks");
if (existsSync(chunks)) for (const f of readdirSync(chunks).sort()) await load(join(chunks, f));
module.flushCompileCache?.();
// The vendored framework (scripts/vendor-framework.ts) caches its code after it has run: serve one request of
// each kind (a binary CloudEvent, a Pub/Sub push, JSON to an HTTP function) to functions registered here only,
// on 127.0.0.1, so that the request path is compiled too, then save the cache.
if (existsSync(join(framework, "load.js"))) {
  const vendored = require(join(framework, "load.js"));
  const { http, cloudEvent } = vendored.framework.index;
  const { getTestServer } = vendored.framework.testing;
  http("tessera-warm-cache-http", (req, res) => res.status(204).send(""));
  cloudEvent("tessera-warm-cache-event", () => undefined);
  // The CLI's loader path too: the ES-module check (read-package-up) and the import of index.js (loaded).
  await vendored.framework.loader.getUserFunction(here, "tessera-warm-cache-http", "http");
  const json = { "content-type": "application/json" };
  const push = JSON.stringify({ message: { data: Buffer.from("{}").toString("base64"), messageId: "1" }, subscription: "projects/p/subscriptions/s" });
  const requests = [
    ["tessera-warm-cache-event", "/", { ...json, "ce-specversion": "1.0", "ce-id": "1", "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "ce-source": "//pubsub.googleapis.com/projects/p/topics/t" }, push],
    ["tessera-warm-cache-event", "/projects/p/topics/t", json, push],
    ["tessera-warm-cache-http", "/?warm=1", json, "{}"],
  ];
  for (const [target, path, headers, body] of requests) {
    const server = getTestServer(target);
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const res = await fetch("http://127.0.0.1:" + server.address().port + path, { method: "POST", headers, body });
      await res.arrayBuffer();
    } catch (err) {
      process.stderr.write("warm-cache: request to " + target + ": " + (err && err.message) + "\\n");
    }
    await new Promise((resolve) => server.close(resolve));
  }
  vendored.saveCache();
}
process.stdout.write("warm-cache: compile cache filled\\n");
process.exit(0);
`;

/** Where a job image keeps V8's compile cache of its bundles (`NODE_COMPILE_CACHE`, filled at image build). */
export const JOB_COMPILE_CACHE = "/app/.compile-cache";

/**
 * A job bundle's build step (`node warm-cache.mjs <cache dir>`, run by its image's Dockerfile after the
 * install): fills V8's compile cache for `index.js` and the chunks it loads, by running `node index.js --help`
 * with `NODE_COMPILE_CACHE` (every job entrypoint answers --help without running), and for each worker entry,
 * imported here (a worker module throws outside a worker thread after it has compiled, which is expected and
 * ignored). It never fails the build: a `--help` that does not exit 0 is reported and the rest still cached.
 * Saves a job's start ~30-50 ms of compiling (causemos, measured in test/bench/causemos.ts).
 */
export const JOB_WARM_CACHE = `import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import module from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
const here = import.meta.dirname;
const dir = process.argv[2] || join(here, ".compile-cache");
const help = spawnSync(process.execPath, [join(here, "index.js"), "--help"], {
  env: { ...process.env, NODE_COMPILE_CACHE: dir },
  encoding: "utf8",
});
if (help.status !== 0) process.stderr.write("warm-cache: index.js --help exited " + help.status + "\\n");
module.enableCompileCache?.(dir);
for (const f of readdirSync(here).filter((f) => f.startsWith("worker-") && f.endsWith(".js")).sort()) {
  try {
    await import(pathToFileURL(join(here, f)).href);
  } catch {}
}
module.flushCompileCache?.();
process.stdout.write("warm-cache: compile cache filled\\n");
process.exit(0);
`;

/** Every `<functionsDir>/<name>/index.ts`, bundled into `<outDir>/<name>/`. */
export async function buildFunctions(functionsDir: string, outDir: string): Promise<Bundle[]> {
  if (!existsSync(functionsDir)) return [];
  const names = readdirSync(functionsDir)
    .filter((n) => existsSync(join(functionsDir, n, "index.ts")))
    .sort();
  const out: Bundle[] = [];
  // The vendored framework is built once and copied into each bundle.
  const framework = join(outDir, ".vendored-functions-framework");
  if (names.length > 0) await buildVendoredFramework(framework);
  try {
    for (const n of names) {
      const b = await bundle(join(functionsDir, n, "index.ts"), join(outDir, n), n, {
        deployedOnly: true,
        framework,
      });
      await addStaticAssets(functionsDir, n, b);
      out.push(b);
    }
  } finally {
    rmSync(framework, { recursive: true, force: true });
  }
  return out;
}

/**
 * A function whose folder has `assets.ts` exporting `buildConsoleAssets({ outDir })` (the console) gets its
 * static client built into the bundle at build time, under the folder that module names (`ASSETS_FOLDER`),
 * so the deployed function serves them from disk: no CDN, no build at run time.
 */
async function addStaticAssets(functionsDir: string, name: string, b: Bundle): Promise<void> {
  const file = join(functionsDir, name, "assets.ts");
  if (!existsSync(file)) return;
  const mod = (await import(file)) as {
    ASSETS_FOLDER?: string;
    buildConsoleAssets?: (o: { outDir: string; minify?: boolean }) => Promise<Map<string, unknown>>;
  };
  if (typeof mod.buildConsoleAssets !== "function") return;
  const folder = mod.ASSETS_FOLDER ?? "static";
  const outDir = join(b.dir, folder);
  await mod.buildConsoleAssets({ outDir, minify: true });
  b.assets = readdirSync(outDir).reduce((sum, f) => sum + statSync(join(outDir, f)).size, 0);
}

/** The bundle folder (and Cloud Run Job name) of a job: `<pipeline>-<job>`. */
export const jobBundleName = (pipeline: string, job: string) => `${pipeline}-${job}`;

/** Every registered job's entrypoint (relative to `root`), bundled into `<outDir>/<pipeline>-<job>/`. */
export async function buildJobs(
  pipelines: PipelineDefinition[],
  outDir: string,
  root = ROOT,
): Promise<Bundle[]> {
  const out: Bundle[] = [];
  for (const p of pipelines) {
    for (const j of p.jobs) {
      const name = jobBundleName(p.id, j.name);
      out.push(await bundle(join(root, j.entrypoint), join(outDir, name), name, { root }));
    }
  }
  return out;
}

/** One job image: the job bundles it holds and the Debian packages they need (the union of the registry's). */
export interface ImageSpec {
  jobs: string[];
  packages: string[];
}

/** Jobs per image folder: `containers/<image>/Dockerfile` holds each of them. */
export function jobsByImage(pipelines: PipelineDefinition[]): Map<string, ImageSpec> {
  const images = new Map<string, ImageSpec>();
  for (const p of pipelines) {
    for (const j of p.jobs) {
      const spec = images.get(j.image) ?? { jobs: [], packages: [] };
      spec.jobs = [...spec.jobs, jobBundleName(p.id, j.name)].sort();
      spec.packages = [...new Set([...spec.packages, ...(j.systemPackages ?? [])])].sort();
      images.set(j.image, spec);
    }
  }
  return images;
}

/**
 * The Dockerfile of one image: `node:22-slim` plus the registry's system packages (apt, no recommends, lists
 * removed), the job bundles under `/app/<job>/` (each with its external dependencies installed), run as the
 * unprivileged `node` user. The Cloud Run Job picks its bundle with `command: node [its nodeFlags]
 * /app/<job>/index.js`; the image's default is the first job. Build context: the repository root.
 */
export function renderDockerfile(image: string, spec: ImageSpec): string {
  const lines = [
    `# Generated by scripts/build.ts from the pipeline registry: image "${image}". Do not edit; run`,
    "# `npx tsx scripts/build.ts --dockerfiles` after changing the registry, and build from the repository root",
    "# after `npm run build`.",
    "FROM node:22-slim",
    "ENV NODE_ENV=production",
  ];
  if (spec.packages.length > 0) {
    lines.push(
      "RUN apt-get update \\",
      `  && apt-get install -y --no-install-recommends ${spec.packages.join(" ")} \\`,
      "  && rm -rf /var/lib/apt/lists/*",
    );
  }
  lines.push("WORKDIR /app");
  for (const job of spec.jobs) {
    lines.push(`COPY --chown=node:node dist/jobs/${job}/ /app/${job}/`);
    lines.push(
      `RUN cd /app/${job} && npm install --omit=dev --no-audit --no-fund && npm cache clean --force \\`,
      `  && node ${WARM_CACHE_FILE} ${JOB_COMPILE_CACHE}`,
    );
  }
  // The compile cache filled above, readable by the user the jobs run as.
  lines.push(
    `RUN mkdir -p ${JOB_COMPILE_CACHE} && chown -R node:node ${JOB_COMPILE_CACHE}`,
    `ENV NODE_COMPILE_CACHE=${JOB_COMPILE_CACHE}`,
    "USER node",
    `CMD ["node", "/app/${spec.jobs[0]}/index.js"]`,
    "",
  );
  return lines.join("\n");
}

/** The files and folders a Dockerfile copies from its build context (the sources of its COPY lines). */
export function dockerfileSources(dockerfile: string): string[] {
  const sources: string[] = [];
  for (const line of dockerfile.split("\n")) {
    const m = /^\s*(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    const args = m[2].split(/\s+/).filter((a) => !a.startsWith("--"));
    sources.push(...args.slice(0, -1));
  }
  return sources;
}

/** Problems with the committed Dockerfiles: missing, stale, or copying something the build does not make. */
export function checkDockerfiles(pipelines: PipelineDefinition[], root = ROOT): string[] {
  const problems: string[] = [];
  const produced = new Set(
    pipelines.flatMap((p) => p.jobs.map((j) => `dist/jobs/${jobBundleName(p.id, j.name)}/`)),
  );
  for (const [image, spec] of jobsByImage(pipelines)) {
    const file = join(root, "containers", image, "Dockerfile");
    if (!existsSync(file)) {
      problems.push(
        `containers/${image}/Dockerfile is missing (run \`npx tsx scripts/build.ts --dockerfiles\`)`,
      );
      continue;
    }
    const text = readFileSync(file, "utf8");
    if (text !== renderDockerfile(image, spec)) {
      problems.push(
        `containers/${image}/Dockerfile differs from the registry's (run \`npx tsx scripts/build.ts --dockerfiles\`)`,
      );
    }
    for (const src of dockerfileSources(text)) {
      if (!produced.has(src))
        problems.push(`containers/${image}/Dockerfile copies ${src}, which the build does not produce`);
    }
  }
  return problems;
}

export function writeDockerfiles(pipelines: PipelineDefinition[], root = ROOT): string[] {
  const written: string[] = [];
  for (const [image, spec] of jobsByImage(pipelines)) {
    const file = join(root, "containers", image, "Dockerfile");
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, renderDockerfile(image, spec));
    written.push(relative(root, file));
  }
  return written;
}

/**
 * A launcher that serves one bundled function on 127.0.0.1 (the framework's CLI ignores `--host`):
 * `node serve.mjs <bundle>/index.js <target> <port>`; prints `framework <its testing.js>`, then
 * `listening <port>` when ready. It takes the
 * framework from the copy the bundle resolves (the vendored one once `linkFramework` or `npm install` has
 * linked it into the bundle's node_modules) and loads the bundle through that framework's loader, as its CLI
 * does (`getUserFunction`: the ES-module check, then the import of the package's `main`).
 */
export const LAUNCHER = `import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
const [bundle, target, port = "0"] = process.argv.slice(2);
// The framework the bundle itself resolves (its node_modules: the vendored copy), so one function registry.
const require = createRequire(bundle);
const testing = require.resolve("@google-cloud/functions-framework/testing");
const { getTestServer } = require(testing);
process.stdout.write("framework " + testing + "\\n");
// The bundle is loaded as the CLI loads it: the framework's loader (ES-module check, import of package.json main).
const dir = dirname(require.resolve("@google-cloud/functions-framework"));
const loader = existsSync(join(dir, "load.js")) ? require(join(dir, "load.js")).framework.loader : require(join(dir, "loader.js"));
if (!(await loader.getUserFunction(dirname(bundle), target, "http"))) process.exit(1);
const server = getTestServer(target);
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("listening " + server.address().port + "\\n"));
for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => server.close(() => process.exit(0)));
`;

export function writeLauncher(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "serve.mjs");
  writeFileSync(file, LAUNCHER);
  return file;
}

async function main(argv: string[]): Promise<number> {
  const { registry } = await import("../shared/pipelines/index.ts");
  const pipelines = registry.list();
  if (argv.includes("--dockerfiles")) {
    for (const f of writeDockerfiles(pipelines)) process.stdout.write(`wrote ${f}\n`);
    return 0;
  }
  if (argv.includes("--check")) {
    const problems = checkDockerfiles(pipelines);
    for (const p of problems) process.stderr.write(`${p}\n`);
    if (problems.length === 0)
      process.stdout.write(`Dockerfiles match the registry (${jobsByImage(pipelines).size} images)\n`);
    return problems.length ? 1 : 0;
  }
  const dist = join(ROOT, "dist");
  const functions = await buildFunctions(join(ROOT, "functions"), join(dist, "functions"));
  const jobs = await buildJobs(pipelines, join(dist, "jobs"));
  for (const b of [...functions, ...jobs]) {
    const deps = Object.keys(b.dependencies).join(", ") || "none";
    const extra = [
      b.assets ? `static assets ${(b.assets / 1024).toFixed(1)} KiB` : "",
      b.framework ? `vendored framework ${(b.framework / 1024).toFixed(1)} KiB` : "",
      b.workers.length ? `workers: ${b.workers.join(", ")}` : "",
    ].filter(Boolean);
    process.stdout.write(
      `${relative(ROOT, b.dir).padEnd(36)} ${(b.bytes / 1024).toFixed(1).padStart(8)} KiB  deps: ${deps}${extra.map((e) => `; ${e}`).join("")}\n`,
    );
  }
  process.stdout.write(`built ${functions.length} function(s) and ${jobs.length} job(s) into dist/\n`);
  const problems = checkDockerfiles(pipelines);
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  return 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
