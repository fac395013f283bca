import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative } from "node:path";
import { build, type Plugin } from "esbuild";
import { NonRetriableError } from "../shared/core/errors.ts";

/**
 * The functions framework, pre-bundled and vendored into each function bundle.
 *
 * Cloud Run functions starts a Node function with `functions-framework --target=<target>` from the bundle's
 * `node_modules/.bin`. Installed from the registry, the framework loads express 5, body-parser, iconv-lite,
 * mime-db, qs and some 60 other packages as ~300 small files: at a cold start ~150 ms of CPU, most of it module
 * resolution and file reads that the V8 compile cache does not save. Here the installed
 * `@google-cloud/functions-framework` (its index, testing, server, loader, invoker and CLI, with every
 * dependency) is bundled by esbuild into one CommonJS file, `framework.js`, so that there is one function
 * registry whichever entry (`.`, `./testing`, the CLI) is loaded first. The vendored folder is a package of
 * the same name and version:
 *
 * - `index.js`, `testing.js`: the package's two entries (`exports` "." and "./testing"), each naming its
 *   exports as `exports.<name> = ...` lines, so that ESM `import * as ff` sees the same named exports;
 * - `main.js`: the CLI (`bin.functions-framework`, `bin.functions-framework-nodejs`), the framework's own
 *   `main` (same flags, same `PORT`, `FUNCTION_TARGET`, `FUNCTION_SIGNATURE_TYPE`, ...);
 * - `iconv-tables/`: iconv-lite's CJK code tables and single-byte code pages, kept as the files iconv-lite
 *   loads on the first body in such a charset, and mime-db's `db.json`, read only if mime-types' `extensions`
 *   map is (not inlined: ~440 KiB that no start reads);
 * - `LICENSE` (the framework's Apache-2.0) and `THIRD-PARTY-NOTICES` (each bundled package's license).
 *
 * The bundle's package.json depends on it as `file:./vendor/functions-framework`, so Cloud Build's
 * `npm install` links it into `node_modules` like the registry's copy, bin included.
 *
 * Changes to the framework's code, none of which changes what it does: the loader's
 * `dynamicImport('read-package-up')` (a `new Function` that hides the import from bundlers) becomes a
 * plain `import()`, so that read-package-up is bundled too (the vendored folder has no `node_modules`); the
 * loader's `dynamicImport` of the user's module is load.js's own `import()` (see LOAD_JS); the tables
 * above stay files; and two dependencies do less at a cold start for the same answers (dependencyPatches:
 * iconv-lite decodes utf-8 bodies without loading every code page, mime-types' maps and charsets are computed
 * at build time, debug does not probe for `supports-color`). framework.js is ASCII and pre-wrapped, so that
 * load.js compiles it without decoding or copying.
 */

export const FRAMEWORK_PACKAGE = "@google-cloud/functions-framework";
/** The vendored framework's JavaScript files. */
export const FRAMEWORK_FILES = ["framework.js", "load.js", "index.js", "testing.js", "main.js"];

/**
 * `load.js`: evaluates framework.js once for all three entries, as Node would load it (a CommonJS module
 * with its own `require`), but through `vm.Script` so that it can start from V8 code cached *after* the
 * framework has run. Node's compile cache stores a file's code as compiled before it runs: in one bundled
 * file every package is a function compiled lazily, on first call, so that cache holds little of it and each
 * start compiled the framework's modules again. The gcp-build step (warm-cache.mjs) loads the framework,
 * serves one request of each kind on 127.0.0.1 and calls `saveCache()`, which writes V8's cache of
 * everything compiled by then (the modules, the request path) beside Node's compile cache
 * (`$NODE_COMPILE_CACHE/functions-framework-<hash>-<node version>.v8`). An instance reads it when
 * `NODE_COMPILE_CACHE` is set; V8 rejects a cache of another source, V8 version or flags, and the code is
 * then compiled as usual.
 */
const LOAD_JS = `"use strict";
const { mkdirSync, readFileSync, writeFileSync } = require("node:fs");
const Module = require("node:module");
const { join } = require("node:path");
const vm = require("node:vm");
const file = join(__dirname, "framework.js");
const dir = process.env.NODE_COMPILE_CACHE;
const cacheFile = dir
  ? join(dir, "functions-framework-__FRAMEWORK_HASH__-" + process.version + "-" + process.arch + ".v8")
  : undefined;
let cachedData;
if (cacheFile) {
  try {
    cachedData = readFileSync(cacheFile);
  } catch {}
}
// framework.js is ASCII and already wrapped in Module.wrap's function plus one parameter (the import() the
// framework's loader uses for the user's ES module, taken from this ordinary module: code compiled by vm has
// no module loader of its own): read as latin1 it is V8's one-byte source string as is, with no UTF-8
// decoding and no copy.
const source = readFileSync(file, "latin1");
const script = new vm.Script(source, { filename: file, cachedData });
const mod = { exports: {}, filename: file, id: file, loaded: false };
const importer = (specifier) => import(specifier);
script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, __dirname, importer);
mod.loaded = true;
exports.framework = mod.exports;
/** Whether this start used the cache (false: none, or V8 rejected it). */
exports.cacheUsed = cachedData !== undefined && !script.cachedDataRejected;
/** Write V8's cache of the framework's code compiled so far (the gcp-build step). */
exports.saveCache = () => {
  if (!cacheFile) return undefined;
  mkdirSync(dir, { recursive: true });
  writeFileSync(cacheFile, script.createCachedData());
  return cacheFile;
};
`;
/** Where a function bundle holds the vendored framework, relative to the bundle folder. */
export const VENDOR_DIR = "vendor/functions-framework";
export const VENDORED_DEPENDENCY = `file:./${VENDOR_DIR}`;

const ROOT = join(import.meta.dirname, "..");

interface FrameworkPackage {
  name: string;
  version: string;
  description?: string;
  license: string;
  bin: Record<string, string>;
}

function frameworkDir(root: string): string {
  const req = createRequire(join(root, "package.json"));
  // The package's own directory: two levels above build/src/index.js.
  return join(dirname(req.resolve(FRAMEWORK_PACKAGE)), "..", "..");
}

/** The loader hides `import('read-package-up')` in a `new Function`; a plain `import()` lets esbuild bundle it. */
function visibleReadPackageUp(): Plugin {
  return {
    name: "tessera-ff-read-package-up",
    setup(b) {
      b.onLoad({ filter: /functions-framework[\\/]build[\\/]src[\\/]loader\.js$/ }, (args) => {
        const text = readFileSync(args.path, "utf8");
        const call = "await dynamicImport('read-package-up')";
        const importer = "const dynamicImport = new Function('modulePath', 'return import(modulePath)');";
        for (const expected of [call, importer]) {
          if (!text.includes(expected)) {
            throw new NonRetriableError(`${args.path} no longer has ${expected}`, {
              field: FRAMEWORK_PACKAGE,
              fix: "update scripts/vendor-framework.ts for this framework version",
            });
          }
        }
        return {
          contents: text
            .replace(call, "await import('read-package-up')")
            // load.js passes its own import() (Node's loader, from an ordinary module) as __tesseraImport.
            .replace(
              importer,
              "const dynamicImport = typeof __tesseraImport === 'function' ? __tesseraImport : new Function('modulePath', 'return import(modulePath)');",
            ),
          loader: "js",
        };
      });
    },
  };
}

/** The parameters of the function framework.js is wrapped in: Node's CommonJS wrapper's, and load.js's import(). */
const WRAPPER_PARAMS = ["exports", "require", "module", "__filename", "__dirname", "__tesseraImport"];

/** The text of a dependency's file that a plugin patches, which must still hold each expected piece. */
function patchable(path: string, expected: string[]): string {
  const text = readFileSync(path, "utf8");
  for (const piece of expected) {
    if (!text.includes(piece)) {
      throw new NonRetriableError(`${path} no longer has ${piece}`, {
        field: FRAMEWORK_PACKAGE,
        fix: "update scripts/vendor-framework.ts for this version of the framework's dependencies",
      });
    }
  }
  return text;
}

/**
 * iconv-lite's first `getCodec` loads every encodings module (the single- and double-byte code pages, ~400
 * KiB of tables and code: ~10 ms of CPU and ~400 fresh pages at a cold start) before it looks the name up, and
 * body-parser asks it for a decoder on every body, in practice utf-8. Here a name that Node's own encodings
 * (encodings/internal.js) resolve is answered from that module alone, the same codec built the same way and
 * cached in the same place; any other name loads every module as before. Checked here, against the installed
 * package: every definition in internal.js is the one the merged table holds (no later module redefines it),
 * so the answer is the one the full table would give.
 */
function iconvInternalFirst(): Plugin {
  return {
    name: "tessera-ff-iconv-internal-first",
    setup(b) {
      b.onLoad({ filter: /iconv-lite[\\/]lib[\\/]index\.js$/ }, (args) => {
        const init = 'if (!module.exports.encodings) {\n    var raw = require("../encodings")';
        const text = patchable(args.path, [init]);
        const req = createRequire(args.path);
        const internal = req("../encodings/internal") as Record<string, unknown>;
        const merged = req("../encodings") as Record<string, unknown>;
        for (const key of Object.keys(internal)) {
          if (merged[key] !== internal[key]) {
            throw new NonRetriableError(`iconv-lite's encodings redefine ${key} of encodings/internal.js`, {
              field: FRAMEWORK_PACKAGE,
              fix: "drop iconvInternalFirst from scripts/vendor-framework.ts for this iconv-lite version",
            });
          }
        }
        const fast = `
// Tessera (scripts/vendor-framework.ts): names that encodings/internal.js resolves, from that module alone.
function internalCodec (iconv, encoding) {
  var internal = require("../encodings/internal")
  var enc = iconv._canonicalizeEncoding(encoding)
  var codecOptions = {}
  for (;;) {
    var codec = iconv._codecDataCache[enc]
    if (codec) return codec
    if (!Object.prototype.hasOwnProperty.call(internal, enc)) return undefined
    var codecDef = internal[enc]
    switch (typeof codecDef) {
      case "string":
        enc = codecDef
        break
      case "object":
        for (var key in codecDef) codecOptions[key] = codecDef[key]
        if (!codecOptions.encodingName) codecOptions.encodingName = enc
        enc = codecDef.type
        break
      case "function":
        if (!codecOptions.encodingName) codecOptions.encodingName = enc
        codec = new codecDef(codecOptions, iconv)
        iconv._codecDataCache[codecOptions.encodingName] = codec
        return codec
      default:
        return undefined
    }
  }
}
`;
        return {
          contents:
            text.replace(
              init,
              'if (!module.exports.encodings) {\n    var internal = internalCodec(module.exports, encoding)\n    if (internal) return internal\n    var raw = require("../encodings")',
            ) + fast,
          loader: "js",
        };
      });
    },
  };
}

/**
 * mime-types reads all of mime-db when it is loaded (a ~2,400-entry object literal) and fills its extension and
 * type maps from it, scoring every type that has extensions: ~10-15 ms of CPU at each cold start (express loads
 * it; the first `sendStatus` asks it for `txt`, the first `res.json` for the charset of `application/json`).
 * Here what it computes at load is computed once at build time by the installed package itself and written
 * into the bundle as data: the `types` map (extension -> type, the scored choices), `_extensionConflicts`, and
 * the charset of every type that has one (all `charset` reads of mime-db). mime-db's data (its `db.json`, ~180
 * KiB) stays a file beside the bundle in `iconv-tables/`, read only when `extensions` (type -> extensions) is
 * first read, which fills it as the package does.
 */
function mimeMapsPrecomputed(tables: Set<string>): Plugin {
  return {
    name: "tessera-ff-mime-maps",
    setup(b) {
      // mime-db's data stays a JSON file beside the bundle (with iconv-lite's tables), read only if needed.
      b.onResolve({ filter: /^\.\/iconv-tables\/db\.json$/ }, (args) => {
        if (!/[\\/]node_modules[\\/]mime-types$/.test(args.resolveDir)) return undefined;
        const req = createRequire(join(args.resolveDir, "index.js"));
        tables.add(join(dirname(req.resolve("mime-db")), "db.json"));
        return { path: args.path, external: true };
      });
      b.onLoad({ filter: /[\\/]node_modules[\\/]mime-types[\\/]index\.js$/ }, (args) => {
        const pieces = {
          db: "var db = require('mime-db')",
          score: "var mimeScore = require('./mimeScore')",
          extensions: "exports.extensions = Object.create(null)",
          types: "exports.types = Object.create(null)",
          populate: "populateMaps(exports.extensions, exports.types)",
          charset: "var mime = match && db[match[1].toLowerCase()]",
        };
        const text = patchable(args.path, Object.values(pieces));
        const req = createRequire(args.path);
        const built = req(args.path) as { types: Record<string, string>; _extensionConflicts: unknown[] };
        const db = req("mime-db") as Record<string, { charset?: string }>;
        const charsets = Object.fromEntries(
          Object.entries(db).flatMap(([type, m]) => (m.charset ? [[type, { charset: m.charset }]] : [])),
        );
        // Null-prototype literals, as the package's maps: "constructor" or "__proto__" finds nothing here either.
        const literal = (o: object) => `{ __proto__: null, ${JSON.stringify(o).slice(1)}`;
        const patched = text
          .replace(
            pieces.db,
            "var db\nfunction mimeDb () { return db || (db = require('./iconv-tables/db.json')) }\n" +
              "// Tessera (scripts/vendor-framework.ts): mime-db's charsets, read at build time.\n" +
              `var CHARSETS = ${literal(charsets)}`,
          )
          .replace(pieces.score, "var mimeScore = function (t, s) { return require('./mimeScore')(t, s) }")
          .replace(
            pieces.extensions,
            "var extensionsMap\nObject.defineProperty(exports, 'extensions', { configurable: true, enumerable: true,\n" +
              "  get: function () { if (!extensionsMap) { extensionsMap = Object.create(null); fillExtensions(extensionsMap) } return extensionsMap },\n" +
              "  set: function (v) { extensionsMap = v } })",
          )
          .replace(
            pieces.types,
            "// Tessera (scripts/vendor-framework.ts): populateMaps' result for this mime-db; the scored choices were\n" +
              `// made at build time by mime-types itself.\nexports.types = ${literal(built.types)}`,
          )
          .replace(
            pieces.populate,
            `exports._extensionConflicts.push.apply(exports._extensionConflicts, ${JSON.stringify(built._extensionConflicts)})\n` +
              "function fillExtensions (extensions) {\n" +
              "  Object.keys(mimeDb()).forEach(function (type) {\n" +
              "    var exts = db[type].extensions\n" +
              "    if (exts && exts.length) extensions[type] = exts\n" +
              "  })\n" +
              "}",
          )
          .replace(pieces.charset, "var mime = match && CHARSETS[match[1].toLowerCase()]");
        return { contents: patched, loader: "js" };
      });
    },
  };
}

/**
 * debug looks for the optional `supports-color` package when it is loaded (a require that Node resolves by
 * probing every node_modules folder up to the root: ~3-5 ms of CPU at a cold start) and uses it only to pick a
 * 256-colour palette for a terminal. A function's stderr is not a terminal, so the answer is "no": here the
 * probe is not made and debug keeps its default colours, as it does when the package is not installed.
 */
function debugWithoutColorProbe(): Plugin {
  return {
    name: "tessera-ff-debug-color-probe",
    setup(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]debug[\\/]src[\\/]node\.js$/ }, (args) => {
        const probe = "const supportsColor = require('supports-color');";
        const text = patchable(args.path, [probe]);
        return {
          contents: text.replace(
            probe,
            "const supportsColor = false; // Tessera: no probe (scripts/vendor-framework.ts)",
          ),
          loader: "js",
        };
      });
    },
  };
}

/**
 * iconv-lite's code tables stay files beside the bundle, loaded as iconv-lite loads them, only when a body
 * comes in such a charset: the CJK tables (`./tables/*.json`) and the single-byte code pages
 * (`./sbcs-data-generated.js`, data only: 32 KiB of UTF-8 that would be twice that as ASCII escapes).
 */
function iconvTablesOut(tables: Set<string>): Plugin {
  return {
    name: "tessera-ff-iconv-tables",
    setup(b) {
      b.onResolve({ filter: /^\.\/(tables\/[^/]+\.json|sbcs-data-generated)$/ }, (args) => {
        if (!/iconv-lite[\\/]encodings$/.test(args.resolveDir)) return undefined;
        const file = args.path.endsWith(".json") ? args.path : `${args.path}.js`;
        tables.add(join(args.resolveDir, file));
        return { path: `./iconv-tables/${basename(file)}`, external: true };
      });
    },
  };
}

/**
 * The changes made to the framework's dependencies as they are bundled (what they answer is unchanged; see
 * each): iconv-lite answers Node's own encodings without loading the others, mime-types' maps and charsets come
 * from the build (mime-db is loaded only if `extensions` is read), debug does not probe for `supports-color`,
 * iconv-lite's code tables stay files (collected into `tables`, to be copied beside the bundle as
 * `iconv-tables/`).
 */
export function dependencyPatches(tables: Set<string>): Plugin[] {
  return [
    iconvInternalFirst(),
    mimeMapsPrecomputed(tables),
    debugWithoutColorProbe(),
    iconvTablesOut(tables),
  ];
}

/** The license text of a package directory, if it ships one. */
function licenseText(dir: string): string | undefined {
  for (const f of ["LICENSE", "LICENSE.md", "LICENSE.txt", "license", "license.md", "LICENCE", "License"]) {
    const p = join(dir, f);
    if (existsSync(p)) return readFileSync(p, "utf8");
  }
  return undefined;
}

export interface VendoredFramework {
  dir: string;
  version: string;
  /** Bytes of the JavaScript files (framework.js and the entries). */
  bytes: number;
}

/** Build the vendored framework into `outDir` (emptied first) from the installed package under `root`. */
export async function buildVendoredFramework(
  outDir: string,
  root = ROOT,
  options: { minify?: boolean } = {},
): Promise<VendoredFramework> {
  const src = frameworkDir(root);
  const pkg = JSON.parse(readFileSync(join(src, "package.json"), "utf8")) as FrameworkPackage;
  const req = createRequire(join(src, "package.json"));
  const names = {
    index: Object.keys(req(join(src, "build", "src", "index.js"))).sort(),
    testing: Object.keys(req(join(src, "build", "src", "testing.js"))).sort(),
  };
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const mod = (m: string) => JSON.stringify(join(src, "build", "src", `${m}.js`));
  const tables = new Set<string>();
  const result = await build({
    stdin: {
      // main.js starts the server when it is evaluated: it is required only by the CLI.
      contents: `exports.index = require(${mod("index")});\nexports.testing = require(${mod("testing")});\nexports.loader = require(${mod("loader")});\nexports.main = () => require(${mod("main")});\n`,
      resolveDir: src,
      sourcefile: "vendored-functions-framework.cjs",
      loader: "js",
    },
    outfile: join(outDir, "framework.js"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    minify: options.minify ?? true,
    // ASCII (esbuild's default charset: other characters as \uXXXX escapes), so that load.js reads the file
    // as a one-byte string; wrapped as a CommonJS module's function, which load.js compiles as it is.
    banner: { js: `(function (${WRAPPER_PARAMS.join(", ")}) {` },
    footer: { js: "\n});" },
    legalComments: "none",
    metafile: true,
    logLevel: "silent",
    plugins: [visibleReadPackageUp(), ...dependencyPatches(tables)],
  });
  const code = readFileSync(join(outDir, "framework.js"));
  // (Unminified, for reading, esbuild keeps comments as they are: a latin1 read garbles their non-ASCII
  // characters, in comments only.)
  const wide = code.findIndex((byte) => byte > 0x7f);
  if (wide >= 0 && (options.minify ?? true)) {
    throw new NonRetriableError(`framework.js has a non-ASCII byte at offset ${wide}`, {
      field: FRAMEWORK_PACKAGE,
      fix: "keep esbuild's default charset (ascii) in scripts/vendor-framework.ts",
    });
  }
  mkdirSync(join(outDir, "iconv-tables"), { recursive: true });
  for (const t of tables) cpSync(t, join(outDir, "iconv-tables", basename(t)));
  const hash = createHash("sha256")
    .update(readFileSync(join(outDir, "framework.js")))
    .digest("hex")
    .slice(0, 16);
  writeFileSync(join(outDir, "load.js"), LOAD_JS.replace("__FRAMEWORK_HASH__", hash));
  const entry = (key: keyof typeof names) =>
    `"use strict";\nconst f = require("./load.js").framework.${key};\n${names[key].map((n) => `exports.${n} = f.${n};`).join("\n")}\n`;
  writeFileSync(join(outDir, "index.js"), entry("index"));
  writeFileSync(join(outDir, "testing.js"), entry("testing"));
  writeFileSync(
    join(outDir, "main.js"),
    `#!/usr/bin/env node\n"use strict";\n// The framework's CLI (build/src/main.js), bundled in framework.js.\nrequire("./load.js").framework.main();\n`,
  );
  chmodSync(join(outDir, "main.js"), 0o755);
  const vendored = {
    name: pkg.name,
    version: pkg.version,
    description: `${pkg.description ?? pkg.name} (pre-bundled into one file by Tessera's scripts/vendor-framework.ts)`,
    license: pkg.license,
    main: "index.js",
    exports: { ".": "./index.js", "./testing": "./testing.js", "./package.json": "./package.json" },
    bin: Object.fromEntries(Object.keys(pkg.bin).map((b) => [b, "main.js"])),
    engines: { node: ">=22" },
  };
  writeFileSync(join(outDir, "package.json"), `${JSON.stringify(vendored, null, 2)}\n`);
  const own = licenseText(src);
  if (!own) {
    throw new NonRetriableError(`${src} has no LICENSE file`, {
      field: FRAMEWORK_PACKAGE,
      fix: "reinstall the framework package",
    });
  }
  writeFileSync(join(outDir, "LICENSE"), own);
  // Each bundled package's license, by the package folders the metafile names.
  const packages = new Map<string, string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /^(.*node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(join(root, input));
    if (m && !packages.has(m[1])) packages.set(m[1], m[1]);
  }
  const notices = [...packages.keys()]
    .filter((d) => d !== src)
    .sort()
    .map((d) => {
      const p = JSON.parse(readFileSync(join(d, "package.json"), "utf8")) as {
        name: string;
        version: string;
        license?: string;
      };
      return `${p.name}@${p.version} (${p.license ?? "see text"})\n\n${licenseText(d) ?? "(no license file shipped)"}`;
    });
  writeFileSync(
    join(outDir, "THIRD-PARTY-NOTICES"),
    `Packages bundled into framework.js besides ${pkg.name}@${pkg.version} (LICENSE):\n\n${notices.join(`\n\n${"-".repeat(72)}\n\n`)}\n`,
  );
  const bytes = FRAMEWORK_FILES.reduce((sum, f) => sum + readFileSync(join(outDir, f)).length, 0);
  return { dir: outDir, version: pkg.version, bytes };
}

/**
 * What `npm install` does for the bundle's `file:` dependency, for running a bundle here (tests, bench):
 * `<bundle>/node_modules/@google-cloud/functions-framework` links to the vendored folder, and
 * `node_modules/.bin/functions-framework` to its CLI. With `installed`, the link goes to that framework folder
 * instead (the registry's package, for comparing against the vendored one).
 */
export function linkFramework(bundleDir: string, installed?: string): string {
  const target = installed ?? join(bundleDir, VENDOR_DIR);
  const link = join(bundleDir, "node_modules", FRAMEWORK_PACKAGE);
  rmSync(link, { recursive: true, force: true });
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(relative(dirname(link), target), link, "dir");
  const bin = join(bundleDir, "node_modules", ".bin");
  mkdirSync(bin, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(target, "package.json"), "utf8")) as FrameworkPackage;
  for (const [name, file] of Object.entries(pkg.bin)) {
    rmSync(join(bin, name), { force: true });
    symlinkSync(relative(bin, join(link, file)), join(bin, name));
  }
  return link;
}

/** The installed (registry) framework's folder, for `linkFramework(dir, installedFramework())`. */
export const installedFramework = (root = ROOT) => frameworkDir(root);
