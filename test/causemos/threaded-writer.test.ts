import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { threadedWriter } from "../../containers/causemos/threaded-writer.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { tempDir } from "./helpers.ts";

describe("threaded writer", () => {
  it("puts every file through the local objects adapter from its thread", async () => {
    const dir = tempDir();
    try {
      const writer = threadedWriter({ kind: "local", root: dir.path, bucket: "models" });
      const big = new Uint8Array(3 << 20).map((_, k) => k % 251);
      for (let k = 0; k < 700; k++) writer.write(`m/r/files/${k}.txt`, `file ${k}\n`);
      writer.write("m/r/big.bin", big);
      await writer.drain();
      await writer.close();
      expect(writer.files).toBe(701);
      const store = createLocalObjects({ root: dir.path }).bucket("models");
      expect((await store.get("m/r/files/699.txt")).toString()).toBe("file 699\n");
      expect(Buffer.compare(await store.get("m/r/big.bin"), Buffer.from(big))).toBe(0);
      expect((await store.list("m/r/files/")).length).toBe(700);
    } finally {
      dir.remove();
    }
  });

  it("writes a body given twice in a row under both names (one copy in the batch), counting both", async () => {
    const dir = tempDir();
    try {
      const writer = threadedWriter({ kind: "local", root: dir.path, bucket: "models" });
      const tile = new Uint8Array(5000).map((_, k) => (k * 7) % 256);
      const other = new Uint8Array(3000).fill(9);
      writer.write("m/r/month/t.tile", tile);
      writer.write("m/r/year/t.tile", tile);
      writer.write("m/r/month/u.tile", other);
      writer.write("m/r/year/u.tile", other);
      // Not in a row: copied again.
      writer.write("m/r/again/t.tile", tile);
      writer.write("m/r/text.csv", "a,b\n");
      writer.write("m/r/text-again.csv", "a,b\n");
      await writer.close();
      expect({ files: writer.files, bytes: writer.bytes }).toEqual({
        files: 7,
        bytes: 3 * 5000 + 2 * 3000 + 8,
      });
      const store = createLocalObjects({ root: dir.path }).bucket("models");
      for (const name of ["month/t.tile", "year/t.tile", "again/t.tile"])
        expect(Buffer.compare(await store.get(`m/r/${name}`), Buffer.from(tile))).toBe(0);
      for (const name of ["month/u.tile", "year/u.tile"])
        expect(Buffer.compare(await store.get(`m/r/${name}`), Buffer.from(other))).toBe(0);
      expect((await store.get("m/r/text-again.csv")).toString()).toBe("a,b\n");
      // The local adapter stores a body given twice in a row once (a second name of the same file).
      const ino = (name: string) => statSync(join(dir.path, "models", "m", "r", name)).ino;
      expect(ino("year/t.tile")).toBe(ino("month/t.tile"));
      expect(ino("year/u.tile")).toBe(ino("month/u.tile"));
      expect(ino("again/t.tile")).not.toBe(ino("month/t.tile"));
    } finally {
      dir.remove();
    }
  });

  it("fails close() with the adapter's error for an invalid object name", async () => {
    const dir = tempDir();
    try {
      const writer = threadedWriter({ kind: "local", root: dir.path, bucket: "models" });
      writer.write("m/r/ok.txt", "ok");
      writer.write("m/r/../escape.txt", "bad");
      await expect(writer.close()).rejects.toThrow(/escape|\.\./);
    } finally {
      dir.remove();
    }
  });
});
