import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bz2Compress, bz2Decompress, bzip2Available } from "../../containers/taar/bz2.ts";

const json = Buffer.from(
  JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ guid: `addon-${i}@x`, rating: (i % 50) / 10 }))),
);
const hasBinary = bzip2Available();

describe("bz2", () => {
  it("the JS fallback round-trips and writes the standard BZh9 stream", () => {
    const z = bz2Compress(json, "js");
    expect(z.subarray(0, 4).toString("latin1")).toBe("BZh9");
    expect(bz2Decompress(z, "f.bz2", "js")).toEqual(json);
  });

  it.skipIf(!hasBinary)("the bzip2 binary and the JS fallback read each other's files", () => {
    const bin = bz2Compress(json, "binary");
    expect(bin.subarray(0, 4).toString("latin1")).toBe("BZh9");
    expect(bz2Decompress(bin, "bin.bz2", "js")).toEqual(json);
    expect(bz2Decompress(bz2Compress(json, "js"), "js.bz2", "binary")).toEqual(json);
    expect(bz2Decompress(bin, "bin.bz2", "binary")).toEqual(json);
  });

  it("corrupt data fails naming the file with either codec", () => {
    const bad = Buffer.from(bz2Compress(json, "js"));
    for (let i = 20; i < 40; i++) bad[i] ^= 0xff;
    expect(() => bz2Decompress(bad, "models/x.json.bz2", "js")).toThrow(
      /models\/x.json.bz2 is corrupt bzip2/,
    );
    if (hasBinary)
      expect(() => bz2Decompress(bad, "models/x.json.bz2", "binary")).toThrow(
        /models\/x.json.bz2 is corrupt bzip2/,
      );
    expect(() => bz2Decompress(Buffer.from("nope"), "f.bz2", "js")).toThrow(/f.bz2 is not bzip2/);
  });

  it("finds no binary on a PATH without bzip2, and a process there falls back to the JS encoder", () => {
    const empty = mkdtempSync(join(tmpdir(), "taar-nobz2-"));
    expect(bzip2Available({ PATH: empty })).toBe(false);
    if (hasBinary) expect(bzip2Available()).toBe(true);
    const script =
      'import { defaultBz2Codec, bz2Compress, bz2Decompress } from "./containers/taar/bz2.ts";' +
      'const d = Buffer.from("x".repeat(5000));' +
      "process.stdout.write(defaultBz2Codec() + ' ' + bz2Decompress(bz2Compress(d)).equals(d));";
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
      cwd: join(import.meta.dirname, "..", ".."),
      env: { PATH: empty, HOME: process.env.HOME },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("js true");
  });
});
