import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative } from "node:path";
import { build, type Metafile } from "esbuild";
import { NonRetriableError } from "../shared/core/errors.ts";
import type { PipelineDefinition } from "../shared/pipelines/types.ts";

/**
 * `npm run build`: one self-contained folder per deployable.
 *
 * - `dist/functions/<name>/` for every `functions/<name>/index.ts`: `index.js` (ESM, minified) and a
 *   `package.json` whose dependencies are only what cannot be bundled. The functions framework is one of
 *   them: the runtime's framework loads the bundle and must find the function registered in its own
 *   instance, so a bundled copy would register into a registry nobody reads.
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
 * bundle, native addons (DuckDB), and the Google Cloud client libraries, which read their proto
 * descriptors from files next to their own modules at run time (and would be 1-2 MB each inlined).
 */
export const EXTERNALS = ["@google-cloud/*", "@duckdb/*", "google-gax", "snowflake-sdk", "pg-native"];

const isExternal = (pkg: string) =>
  EXTERNALS.some((e) => (e.endsWith("/*") ? pkg.startsWith(e.slice(0, -1)) : pkg === e));

/**
 * Packages that are external but optional at run time: no dependency is declared for them. esbuild also
 * leaves out unresolvable `require`s inside try/catch (node-fetch's `encoding`); those are optional too.
 */
const OPTIONAL = new Set(["pg-native"]);

export interface Bundle {
  name: string;
  dir: string;
  /** Bytes of `index.js`. */
  bytes: number;
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
export async function bundle(entry: string, outDir: string, name: string): Promise<Bundle> {
  if (!existsSync(entry)) {
    throw new NonRetriableError(`${entry} does not exist`, { field: name, fix: "check the entrypoint path" });
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: { index: entry },
    outdir: outDir,
    // Code behind a dynamic import (a client library used by one path only, a pipeline's local hooks) goes
    // to its own chunk, with its external imports: a function's cold start loads only what it uses.
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    metafile: true,
    external: EXTERNALS,
    logLevel: "silent",
    banner: {
      js: "import{createRequire as __tesseraRequire}from'node:module';const require=__tesseraRequire(import.meta.url);",
    },
  });
  const versions = rootVersions(ROOT);
  const dependencies: Record<string, string> = {};
  for (const dep of externalImports(result.metafile)) {
    if (OPTIONAL.has(dep) || !isExternal(dep)) continue;
    const version = versions[dep];
    if (!version) {
      throw new NonRetriableError(`${name} imports ${dep}, which is external but not in package.json`, {
        field: name,
        fix: `npm install ${dep}, or stop marking it external in scripts/build.ts`,
      });
    }
    dependencies[dep] = version;
  }
  const pkg = {
    name: `tessera-${name}`,
    private: true,
    type: "module",
    main: "index.js",
    engines: { node: "22" },
    dependencies,
  };
  writeFileSync(join(outDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  const bytes = Object.keys(result.metafile.outputs).reduce((sum, file) => sum + statSync(file).size, 0);
  return { name, dir: outDir, bytes, dependencies };
}

/** Every `<functionsDir>/<name>/index.ts`, bundled into `<outDir>/<name>/`. */
export async function buildFunctions(functionsDir: string, outDir: string): Promise<Bundle[]> {
  if (!existsSync(functionsDir)) return [];
  const names = readdirSync(functionsDir)
    .filter((n) => existsSync(join(functionsDir, n, "index.ts")))
    .sort();
  const out: Bundle[] = [];
  for (const n of names) out.push(await bundle(join(functionsDir, n, "index.ts"), join(outDir, n), n));
  return out;
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
      out.push(await bundle(join(root, j.entrypoint), join(outDir, name), name));
    }
  }
  return out;
}

/** Jobs per image folder: `containers/<image>/Dockerfile` holds each of them. */
export function jobsByImage(pipelines: PipelineDefinition[]): Map<string, string[]> {
  const images = new Map<string, string[]>();
  for (const p of pipelines) {
    for (const j of p.jobs)
      images.set(j.image, [...(images.get(j.image) ?? []), jobBundleName(p.id, j.name)].sort());
  }
  return images;
}

/**
 * The Dockerfile of one image: `node:22-slim`, the job bundles under `/app/<job>/` (each with its external
 * dependencies installed), run as the unprivileged `node` user. The Cloud Run Job picks its bundle with
 * `command: node /app/<job>/index.js`; the image's default is the first job. Build context: the repository root.
 */
export function renderDockerfile(image: string, jobs: string[]): string {
  const lines = [
    `# Generated by scripts/build.ts from the pipeline registry: image "${image}". Do not edit; run`,
    "# `npx tsx scripts/build.ts --dockerfiles` after changing the registry, and build from the repository root",
    "# after `npm run build`.",
    "FROM node:22-slim",
    "ENV NODE_ENV=production",
    "WORKDIR /app",
  ];
  for (const job of jobs) {
    lines.push(`COPY --chown=node:node dist/jobs/${job}/ /app/${job}/`);
    lines.push(
      `RUN cd /app/${job} && npm install --omit=dev --no-audit --no-fund && npm cache clean --force`,
    );
  }
  lines.push("USER node", `CMD ["node", "/app/${jobs[0]}/index.js"]`, "");
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
  for (const [image, jobs] of jobsByImage(pipelines)) {
    const file = join(root, "containers", image, "Dockerfile");
    if (!existsSync(file)) {
      problems.push(
        `containers/${image}/Dockerfile is missing (run \`npx tsx scripts/build.ts --dockerfiles\`)`,
      );
      continue;
    }
    const text = readFileSync(file, "utf8");
    if (text !== renderDockerfile(image, jobs)) {
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
  for (const [image, jobs] of jobsByImage(pipelines)) {
    const file = join(root, "containers", image, "Dockerfile");
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, renderDockerfile(image, jobs));
    written.push(relative(root, file));
  }
  return written;
}

/**
 * A launcher that serves one bundled function on 127.0.0.1 (the framework's CLI ignores `--host`):
 * `node serve.mjs <bundle>/index.js <target> <port>`; prints `listening <port>` when ready. It must live
 * where `@google-cloud/functions-framework` resolves to the same copy the bundle imports.
 */
export const LAUNCHER = `import { pathToFileURL } from "node:url";
const [bundle, target, port = "0"] = process.argv.slice(2);
await import(pathToFileURL(bundle).href);
const { getTestServer } = await import("@google-cloud/functions-framework/testing");
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
    process.stdout.write(
      `${relative(ROOT, b.dir).padEnd(36)} ${(b.bytes / 1024).toFixed(1).padStart(8)} KiB  deps: ${deps}\n`,
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
