import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import {
  AlreadyExistsError,
  NotFoundError,
  type ObjectStore,
  type Objects,
} from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

/**
 * The objects port's contract, run against every adapter. `makeObjects` is called once per test; each test
 * uses its own bucket so adapters can share state between tests.
 */
export function objectsContract(label: string, makeObjects: () => Objects): void {
  let n = 0;
  const fresh = (): ObjectStore =>
    makeObjects().bucket(`contract-${process.pid}-${Date.now().toString(36)}-${n++}`);

  const readAll = async (stream: Readable): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
    return Buffer.concat(chunks);
  };

  describe(`objects contract: ${label}`, () => {
    it("puts and gets strings and binary data, with exists and stat", async () => {
      const s = fresh();
      const bin = randomBytes(4096);
      await s.put("a/b/bin.dat", bin, { contentType: "application/x-test", metadata: { owner: "ledger" } });
      await s.put("text.txt", "héllo");
      expect(Buffer.compare(await s.get("a/b/bin.dat"), bin)).toBe(0);
      expect((await s.get("text.txt")).toString("utf8")).toBe("héllo");
      expect(await s.exists("a/b/bin.dat")).toBe(true);
      expect(await s.exists("a/b")).toBe(false);
      const info = await s.stat("a/b/bin.dat");
      expect(info).toMatchObject({
        name: "a/b/bin.dat",
        size: 4096,
        contentType: "application/x-test",
        metadata: { owner: "ledger" },
      });
      expect(Number.isNaN(Date.parse(info.updated))).toBe(false);
      expect((await s.stat("text.txt")).size).toBe(Buffer.byteLength("héllo"));
    });

    it("reports a missing object as NotFoundError naming it", async () => {
      const s = fresh();
      await expect(s.get("missing/x.json")).rejects.toBeInstanceOf(NotFoundError);
      await expect(s.get("missing/x.json")).rejects.toThrow(/missing\/x\.json/);
      await expect(s.stat("missing/x.json")).rejects.toBeInstanceOf(NotFoundError);
      expect(await s.exists("missing/x.json")).toBe(false);
      await expect(readAll(s.createReadStream("missing/x.json"))).rejects.toBeInstanceOf(NotFoundError);
    });

    it("overwrites on a plain put and refuses a create-only put of an existing object", async () => {
      const s = fresh();
      await s.put("k", "one");
      await s.put("k", "two");
      expect((await s.get("k")).toString()).toBe("two");
      await s.put("c", "first", { ifNotExists: true });
      await expect(s.put("c", "second", { ifNotExists: true })).rejects.toBeInstanceOf(AlreadyExistsError);
      expect((await s.get("c")).toString()).toBe("first");
    });

    it("lets exactly one of many concurrent create-only writers win, with its whole content", async () => {
      const s = fresh();
      const contents = Array.from({ length: 20 }, (_, i) => `writer-${i}-${"x".repeat(2000 + i)}`);
      const results = await Promise.allSettled(
        contents.map((c) => s.put("race/claim", c, { ifNotExists: true })),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results)
        if (r.status === "rejected") expect(r.reason).toBeInstanceOf(AlreadyExistsError);
      expect((await s.get("race/claim")).toString()).toBe(contents[won[0]]);
    });

    it("streams in and out", async () => {
      const s = fresh();
      const parts = Array.from({ length: 16 }, () => randomBytes(64 * 1024));
      await pipeline(
        Readable.from(parts),
        s.createWriteStream("streams/big.bin", { contentType: "application/octet-stream" }),
      );
      const back = await readAll(s.createReadStream("streams/big.bin"));
      expect(Buffer.compare(back, Buffer.concat(parts))).toBe(0);
      expect((await s.stat("streams/big.bin")).size).toBe(16 * 64 * 1024);
      await expect(
        pipeline(
          Readable.from([Buffer.from("late")]),
          s.createWriteStream("streams/big.bin", { ifNotExists: true }),
        ),
      ).rejects.toBeInstanceOf(AlreadyExistsError);
      expect((await s.stat("streams/big.bin")).size).toBe(16 * 64 * 1024);
      await pipeline(
        Readable.from([Buffer.from("new")]),
        s.createWriteStream("streams/new.txt", { ifNotExists: true }),
      );
      expect((await s.get("streams/new.txt")).toString()).toBe("new");
    });

    it("lists by prefix in name order with sizes", async () => {
      const s = fresh();
      const names = ["b/2.txt", "b/10.txt", "b/1/x.txt", "b1/y.txt", "a.txt", "b/Z.txt", "ba"];
      for (const [i, name] of names.entries()) await s.put(name, "x".repeat(i + 1));
      const under = await s.list("b/");
      expect(under.map((o) => o.name)).toEqual(["b/1/x.txt", "b/10.txt", "b/2.txt", "b/Z.txt"]);
      expect(under.find((o) => o.name === "b/10.txt")?.size).toBe(2);
      expect((await s.list("b")).map((o) => o.name)).toEqual([
        "b/1/x.txt",
        "b/10.txt",
        "b/2.txt",
        "b/Z.txt",
        "b1/y.txt",
        "ba",
      ]);
      expect((await s.list("b/1")).map((o) => o.name)).toEqual(["b/1/x.txt", "b/10.txt"]);
      expect((await s.list("")).map((o) => o.name)).toEqual([...names].sort());
      expect(await s.list("nothing/")).toEqual([]);
    });

    it("lists many objects completely (across pages where the service pages)", async () => {
      const s = fresh();
      const names = Array.from({ length: 45 }, (_, i) => `many/${String(i).padStart(3, "0")}`);
      await Promise.all(names.map((name) => s.put(name, name)));
      expect((await s.list("many/")).map((o) => o.name)).toEqual(names);
    });

    it("lists nested trees with each object's own content type and metadata, in name order", async () => {
      const s = fresh();
      const names: string[] = [];
      for (let d = 0; d < 12; d++)
        for (let f = 0; f < 8; f++) names.push(`tree/${String(d).padStart(2, "0")}/sub-${f % 3}/f${f}.json`);
      await Promise.all(
        names.map((name, i) =>
          s.put(name, name, {
            contentType: i % 2 ? "application/json" : undefined,
            metadata: { index: String(i) },
          }),
        ),
      );
      const listed = await s.list("tree/");
      expect(listed.map((o) => o.name)).toEqual([...names].sort());
      for (const o of listed) {
        const i = names.indexOf(o.name);
        expect(o.metadata).toEqual({ index: String(i) });
        expect(o.size).toBe(Buffer.byteLength(o.name));
        if (i % 2) expect(o.contentType).toBe("application/json");
      }
      expect((await s.list("tree/03/sub-1/")).map((o) => o.name)).toEqual([
        "tree/03/sub-1/f1.json",
        "tree/03/sub-1/f4.json",
        "tree/03/sub-1/f7.json",
      ]);
    });

    it("deletes, with ignoreMissing", async () => {
      const s = fresh();
      await s.put("d/one", "1");
      await s.put("d/two", "2");
      await s.delete("d/one");
      expect(await s.exists("d/one")).toBe(false);
      expect((await s.list("d/")).map((o) => o.name)).toEqual(["d/two"]);
      await expect(s.delete("d/one")).rejects.toBeInstanceOf(NotFoundError);
      await s.delete("d/one", { ignoreMissing: true });
      await s.put("d/one", "again", { ifNotExists: true });
      expect((await s.get("d/one")).toString()).toBe("again");
    });

    it("rejects invalid object names with a NonRetriableError naming the object", async () => {
      const s = fresh();
      for (const bad of [
        "../escape",
        "a/../../b",
        "/abs/path",
        "a//b",
        "a/./b",
        "",
        "a\u0000b",
        "trailing/",
        ".",
      ]) {
        await expect(s.put(bad, "x"), JSON.stringify(bad)).rejects.toBeInstanceOf(NonRetriableError);
        await expect(s.get(bad), JSON.stringify(bad)).rejects.toBeInstanceOf(NonRetriableError);
        await expect(s.delete(bad, { ignoreMissing: true }), JSON.stringify(bad)).rejects.toBeInstanceOf(
          NonRetriableError,
        );
      }
      await expect(s.put("../escape", "x")).rejects.toThrow(/"\.\.\/escape"/);
      await expect(s.list("../")).rejects.toBeInstanceOf(NonRetriableError);
      expect(() => makeObjects().bucket("../up")).toThrow(NonRetriableError);
    });

    it("gives a URI a loader or job can take", async () => {
      const s = fresh();
      await s.put("u/data.parquet", "PAR1");
      expect(s.uri("u/data.parquet")).toMatch(
        new RegExp(`^(gs://${s.bucket}/u/data\\.parquet|file:///.+/u/data\\.parquet)$`),
      );
      expect(() => s.uri("../x")).toThrow(NonRetriableError);
    });
  });
}
