import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dependencyPatches, installedFramework } from "../../scripts/vendor-framework.ts";

/**
 * The vendored framework's dependency patches (scripts/vendor-framework.ts, dependencyPatches) change when
 * iconv-lite and mime-types do their work, not what they answer: the same packages, bundled with and without
 * the patches, give equal answers.
 */

// iconv-lite and mime-types as the framework resolves them (through raw-body / express).
const frameworkRequire = createRequire(join(installedFramework(), "package.json"));
const fromFramework = (pkg: string) => {
  const viaExpress = createRequire(frameworkRequire.resolve("express"));
  const viaRawBody = createRequire(
    createRequire(frameworkRequire.resolve("body-parser")).resolve("raw-body"),
  );
  return pkg === "iconv-lite" ? viaRawBody.resolve(pkg) : viaExpress.resolve(pkg);
};

interface Deps {
  iconv: {
    encodings: Record<string, unknown> | null;
    getDecoder(enc: string): { write(b: Buffer): string; end(): string | undefined };
    decode(b: Buffer, enc: string): string;
    encode(s: string, enc: string): Buffer;
  };
  mime: {
    types: Record<string, string>;
    extensions: Record<string, string[]>;
    _extensionConflicts: unknown[];
    lookup(p: string): string | false;
    extension(t: string): string | false;
    contentType(t: string): string | false;
    charset(t: string): string | false;
  };
}

let dir: string;
let load: (patched: boolean) => Deps;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tessera-vendor-patches-"));
  const entry = `module.exports = { iconv: require(${JSON.stringify(fromFramework("iconv-lite"))}), mime: require(${JSON.stringify(fromFramework("mime-types"))}) };\n`;
  for (const patched of [false, true]) {
    const out = join(dir, patched ? "patched" : "plain");
    mkdirSync(out, { recursive: true });
    const tables = new Set<string>();
    await build({
      stdin: { contents: entry, resolveDir: dir, loader: "js" },
      outfile: join(out, "deps.cjs"),
      bundle: true,
      platform: "node",
      format: "cjs",
      logLevel: "silent",
      plugins: patched ? dependencyPatches(tables) : [],
    });
    mkdirSync(join(out, "iconv-tables"), { recursive: true });
    for (const t of tables) cpSync(t, join(out, "iconv-tables", basename(t)));
  }
  // A fresh module instance per call: the patched iconv-lite's lazy table is observed from its first use.
  load = (patched) => {
    const file = join(dir, patched ? "patched" : "plain", "deps.cjs");
    const req = createRequire(file);
    delete req.cache[file];
    return req(file) as Deps;
  };
  writeFileSync(join(dir, "README"), "vendor-patches test bundles\n");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("iconv-lite: Node's own encodings first", () => {
  it("decodes a utf-8 body without loading the other encodings, with the same text", () => {
    const plain = load(false).iconv;
    const patched = load(true).iconv;
    const body = Buffer.from('{"name":"Zoë ✓ 💩"}');
    const d = patched.getDecoder("utf-8");
    expect(d.write(body) + (d.end() ?? "")).toBe(plain.decode(body, "utf-8"));
    // The point of the patch: the table of every code page was not built.
    expect(patched.encodings == null).toBe(true);
    for (const enc of ["UTF8", "unicode-1-1-utf-8", "utf16le", "ucs2", "binary", "base64", "hex", "cesu8"])
      expect(patched.decode(body, enc), enc).toBe(plain.decode(body, enc));
    expect(patched.encodings == null).toBe(true);
  });

  it("still answers every other encoding (single-byte code pages and CJK tables, kept as files) as before", () => {
    const plain = load(false).iconv;
    const patched = load(true).iconv;
    const bytes = Buffer.from([0x48, 0x80, 0x9f, 0xa4, 0xe9, 0xfc, 0x82, 0xa0, 0x41]);
    for (const enc of [
      "latin1",
      "win1252",
      "cp437",
      "koi8-r",
      "iso-8859-7",
      "shift_jis",
      "gbk",
      "big5",
      "utf-16be",
      "utf32",
    ])
      expect(patched.decode(bytes, enc), enc).toBe(plain.decode(bytes, enc));
    expect(patched.encode("Zoë ¥", "shift_jis")).toEqual(plain.encode("Zoë ¥", "shift_jis"));
    expect(patched.encodings).not.toBeNull();
    expect(Object.keys(patched.encodings!).sort()).toEqual(Object.keys(plain.encodings!).sort());
  });

  it("rejects an unknown encoding with iconv-lite's own message", () => {
    const plain = load(false).iconv;
    const patched = load(true).iconv;
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as Error).message;
      }
      return "no error";
    };
    for (const enc of ["klingon", "constructor", ""])
      expect(message(() => patched.getDecoder(enc))).toBe(message(() => plain.getDecoder(enc)));
  });
});

describe("mime-types: the maps and charsets computed at build time", () => {
  it("has the same types (in the same key order), extensions and conflicts as the package computes at load", () => {
    const plain = load(false).mime;
    const patched = load(true).mime;
    expect(Object.entries(patched.types)).toEqual(Object.entries(plain.types));
    expect(Object.entries(patched.extensions)).toEqual(Object.entries(plain.extensions));
    expect(patched._extensionConflicts).toEqual(plain._extensionConflicts);
    for (const p of [
      "index.html",
      "a.js",
      "x.mp4",
      "y.exe",
      "z.wmf",
      "data.json",
      "font.woff2",
      "noext",
      "A.XML",
    ])
      expect(patched.lookup(p), p).toBe(plain.lookup(p));
    for (const t of ["text/html", "application/json", "video/mp4", "nope/nope"])
      expect(patched.extension(t), t).toBe(plain.extension(t));
    for (const t of ["html", "json", "txt", "application/json", "text/plain; charset=latin1"])
      expect(patched.contentType(t), t).toBe(plain.contentType(t));
  });

  it("answers the charset of every mime-db type, and of names that are not types, as the package does", () => {
    const plain = load(false).mime;
    const patched = load(true).mime;
    const db = createRequire(fromFramework("mime-types"))("mime-db") as Record<string, unknown>;
    const names = [
      ...Object.keys(db),
      ...Object.keys(db).map((t) => ` ${t.toUpperCase()}; q=1`),
      "text/x-unknown",
      "TEXT/Whatever",
      "nope/nope",
      "constructor",
      "__proto__",
      "hasOwnProperty",
      "",
    ];
    expect(names.map((t) => patched.charset(t))).toEqual(names.map((t) => plain.charset(t)));
    expect(patched.charset("application/json")).toBe("UTF-8");
  });

  it("fills `extensions` from mime-db only when it is read, the same as at load", () => {
    // Read `extensions` first (then the maps): the lazily filled map is the one the package fills.
    const patched = load(true).mime;
    const plain = load(false).mime;
    expect(Object.entries(patched.extensions)).toEqual(Object.entries(plain.extensions));
    expect(patched.extension("application/json")).toBe("json");
    expect(Object.keys(patched)).toEqual(Object.keys(plain));
  });
});

describe("debug: no probe for supports-color", () => {
  it("bundles debug without the require of supports-color, keeping its default colours", async () => {
    const out = join(dir, "debug");
    mkdirSync(out, { recursive: true });
    const debugPath = createRequire(frameworkRequire.resolve("body-parser")).resolve("debug");
    for (const patched of [false, true])
      await build({
        stdin: {
          contents: `module.exports = require(${JSON.stringify(debugPath)});`,
          resolveDir: dir,
          loader: "js",
        },
        outfile: join(out, `${patched}.cjs`),
        bundle: true,
        platform: "node",
        format: "cjs",
        logLevel: "silent",
        plugins: patched ? dependencyPatches(new Set()) : [],
      });
    const text = (patched: boolean) => readFileSync(join(out, `${patched}.cjs`), "utf8");
    expect(text(false)).toContain('require("supports-color")');
    expect(text(true)).not.toContain('supports-color")');
    const colours = (patched: boolean) =>
      (createRequire(join(out, `${patched}.cjs`))(join(out, `${patched}.cjs`)) as { colors: number[] })
        .colors;
    expect(colours(true)).toEqual([6, 2, 3, 4, 5, 1]);
    expect(colours(true)).toEqual(colours(false));
  });
});
