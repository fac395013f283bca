import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGcpObjects } from "../../shared/adapters/gcp/objects.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { AlreadyExistsError } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { objectsContract } from "./objects-contract.ts";
import { type FakeGcs, startFakeGcs } from "./objects-fake-gcs.ts";

// No metadata-server probing from the Google auth library in tests.
process.env.METADATA_SERVER_DETECTION = "none";
process.env.GCE_METADATA_HOST = "127.0.0.1:9";

const root = mkdtempSync(join(tmpdir(), "tessera-objects-"));
let fake: FakeGcs;

beforeAll(async () => {
  fake = await startFakeGcs();
  fake.pageSize = 10; // listings of more than 10 objects need pageToken round trips
});
afterAll(async () => {
  await fake?.close();
  rmSync(root, { recursive: true, force: true });
});

objectsContract("local directory tree", () => createLocalObjects({ root }));
objectsContract("Cloud Storage client against a loopback fake", () =>
  createGcpObjects({ projectId: "tessera-test", apiEndpoint: fake.url }),
);

describe("local objects specifics", () => {
  it("stores object name under <root>/<bucket>/<name> and its uri reads back", async () => {
    const s = createLocalObjects({ root }).bucket("specifics");
    await s.put("x/y.txt", "content");
    expect(readFileSync(join(root, "specifics", "x", "y.txt"), "utf8")).toBe("content");
    expect(readFileSync(fileURLToPath(s.uri("x/y.txt")), "utf8")).toBe("content");
  });

  it("never shows a half-written stream: the object appears only when the stream ends", async () => {
    const s = createLocalObjects({ root }).bucket("specifics");
    const w = s.createWriteStream("half/obj.bin");
    await new Promise<void>((resolve, reject) =>
      w.write(Buffer.alloc(1000, 7), (e) => (e ? reject(e) : resolve())),
    );
    expect(await s.exists("half/obj.bin")).toBe(false);
    await new Promise<void>((resolve, reject) => {
      w.on("error", reject);
      w.end(Buffer.alloc(24, 8), () => resolve());
    });
    expect((await s.stat("half/obj.bin")).size).toBe(1024);
  });

  it("leaves nothing behind when a write stream is destroyed", async () => {
    const s = createLocalObjects({ root }).bucket("specifics");
    const failing = new Readable({
      read() {
        this.destroy(new Error("source broke"));
      },
    });
    await expect(pipeline(failing, s.createWriteStream("broken/obj.bin"))).rejects.toThrow("source broke");
    expect(await s.exists("broken/obj.bin")).toBe(false);
    expect(await createLocalObjects({ root }).bucket("specifics").list("broken/")).toEqual([]);
  });
});

describe("local objects putMany (the optional batched put)", () => {
  const sidecars = (bucket: string) => readdirSync(join(root, ".meta", bucket)).length;

  it("stores every entry as put does: content, content type, metadata, nested folders, in listing order", async () => {
    const s = createLocalObjects({ root }).bucket("batched");
    const entries = Array.from({ length: 150 }, (_, k) => ({
      name: `t/${k % 7}/obj-${String(k).padStart(3, "0")}.bin`,
      data: Buffer.from(`body ${k}`),
    }));
    await s.putMany([
      ...entries,
      {
        name: "t/typed.json",
        data: '{"a":1}',
        options: { contentType: "application/json", metadata: { k: "v" } },
      },
    ]);
    expect((await s.get("t/3/obj-003.bin")).toString()).toBe("body 3");
    expect((await s.get("t/6/obj-146.bin")).toString()).toBe("body 146");
    const typed = await s.stat("t/typed.json");
    expect(typed.contentType).toBe("application/json");
    expect(typed.metadata).toEqual({ k: "v" });
    const listed = await s.list("t/");
    expect(listed).toHaveLength(151);
    expect(listed.find((o) => o.name === "t/0/obj-000.bin")?.size).toBe(6);
    // Only the object with a content type and metadata has a sidecar file.
    expect(sidecars("batched")).toBe(1);
    expect(readdirSync(join(root, ".tmp")).filter((f) => f.startsWith(`${process.pid}-`))).toEqual([]);
  });

  it("overwrites like put (last writer wins) and drops the replaced object's metadata", async () => {
    const s = createLocalObjects({ root }).bucket("batched-over");
    await s.put("o.txt", "old", { contentType: "text/plain", metadata: { v: "1" } });
    await s.putMany([{ name: "o.txt", data: "new" }]);
    expect((await s.get("o.txt")).toString()).toBe("new");
    const info = await s.stat("o.txt");
    expect(info.contentType).toBeUndefined();
    expect(info.metadata).toBeUndefined();
    expect(sidecars("batched-over")).toBe(0);
  });

  it("drops the sidecar of an object it replaces that an earlier entry of the same batch gave metadata", async () => {
    // The bucket has no sidecar when the batch starts, so the batch skips the per-entry sidecar look-ups,
    // until an entry with options makes one.
    const s = createLocalObjects({ root }).bucket("batched-own-sidecar");
    await s.putMany([
      { name: "plain", data: "p" },
      { name: "x", data: "1", options: { contentType: "text/plain", metadata: { v: "1" } } },
      { name: "x", data: "2" },
    ]);
    expect((await s.get("x")).toString()).toBe("2");
    expect((await s.stat("x")).contentType).toBeUndefined();
    expect(sidecars("batched-own-sidecar")).toBe(0);
    await s.putMany([{ name: "y", data: "y", options: { contentType: "text/plain" } }]);
    await s.putMany([{ name: "y", data: "plain now" }]); // a batch that starts with a sidecar in the bucket
    expect((await s.stat("y")).contentType).toBeUndefined();
    expect(sidecars("batched-own-sidecar")).toBe(0);
  });

  it("removes a stale sidecar left for a reused inode, so an entry without metadata shows none", async () => {
    const s = createLocalObjects({ root }).bucket("batched-stale");
    await s.put("seed", "x"); // makes the .meta folder
    // Plant sidecars for the inodes near the last one handed out, as a crash could leave them behind. Which
    // inodes the new objects get is up to the file system (usually some of these; not asserted).
    const { ino } = statSync(join(root, "batched-stale", "seed"), { bigint: true });
    const planted: string[] = [];
    for (let k = -1000n; k <= 1000n; k++) {
      if (k === 0n) continue;
      const path = join(root, ".meta", "batched-stale", `${ino + k}.json`);
      writeFileSync(path, JSON.stringify({ contentType: "stale/type", metadata: { stale: "yes" } }));
      planted.push(path);
    }
    const names = Array.from({ length: 50 }, (_, k) => `n${k}`);
    await s.putMany(names.map((name) => ({ name, data: name })));
    const listed = await s.list("n");
    expect(listed).toHaveLength(50);
    for (const o of listed) {
      expect(o.contentType).toBeUndefined();
      expect(o.metadata).toBeUndefined();
    }
    for (const p of planted) rmSync(p, { force: true });
  });

  it("stops at a create-only entry that exists: earlier entries stored, later ones not, no temp files", async () => {
    const s = createLocalObjects({ root }).bucket("batched-create");
    await s.put("claim", "first");
    await expect(
      s.putMany([
        { name: "before", data: "b" },
        { name: "claim", data: "second", options: { ifNotExists: true } },
        { name: "after", data: "a" },
      ]),
    ).rejects.toBeInstanceOf(AlreadyExistsError);
    expect((await s.get("claim")).toString()).toBe("first");
    expect(await s.exists("before")).toBe(true);
    expect(await s.exists("after")).toBe(false);
    expect(sidecars("batched-create")).toBe(1); // the put's

    expect(readdirSync(join(root, ".tmp")).filter((f) => f.startsWith(`${process.pid}-`))).toEqual([]);
  });

  it("stores a repeat (the same data object again, no options) once under both names, still two objects", async () => {
    const s = createLocalObjects({ root }).bucket("batched-repeat");
    const body = Buffer.from("tile bytes");
    const other = Buffer.from("tile bytes"); // equal bytes, another object: written again
    await s.putMany([
      { name: "month/0.tile", data: body },
      { name: "year/0.tile", data: body },
      { name: "copy/0.tile", data: other },
      { name: "typed/0.tile", data: other, options: { contentType: "application/x-protobuf" } },
    ]);
    const ino = (name: string) => statSync(join(root, "batched-repeat", name)).ino;
    expect(ino("year/0.tile")).toBe(ino("month/0.tile"));
    expect(ino("copy/0.tile")).not.toBe(ino("month/0.tile"));
    expect(ino("typed/0.tile")).not.toBe(ino("copy/0.tile")); // with options: its own file and sidecar
    expect((await s.stat("typed/0.tile")).contentType).toBe("application/x-protobuf");
    expect((await s.stat("copy/0.tile")).contentType).toBeUndefined();
    for (const name of ["month/0.tile", "year/0.tile", "copy/0.tile"])
      expect((await s.get(name)).toString()).toBe("tile bytes");
    // Independent objects: replacing or deleting one name leaves the other as it was.
    await s.putMany([{ name: "year/0.tile", data: "new year" }]);
    expect((await s.get("month/0.tile")).toString()).toBe("tile bytes");
    await s.delete("month/0.tile");
    expect((await s.get("year/0.tile")).toString()).toBe("new year");
    expect(readdirSync(join(root, ".tmp")).filter((f) => f.startsWith(`${process.pid}-`))).toEqual([]);
  });

  it("leaves no temp name behind when the repeat of a stored entry fails", async () => {
    const s = createLocalObjects({ root }).bucket("batched-repeat-fail");
    await s.put("blocked", "a file where the repeat wants a folder");
    const body = Buffer.from("x");
    await expect(
      s.putMany([
        { name: "ok", data: body },
        { name: "blocked/inner", data: body },
      ]),
    ).rejects.toBeInstanceOf(NonRetriableError);
    expect((await s.get("ok")).toString()).toBe("x");
    expect(await s.list("blocked/")).toEqual([]);
    expect(readdirSync(join(root, ".tmp")).filter((f) => f.startsWith(`${process.pid}-`))).toEqual([]);
  });

  it("rejects a bad name before writing anything, and an object used as a folder with a clear error", async () => {
    const s = createLocalObjects({ root }).bucket("batched-bad");
    await expect(
      s.putMany([
        { name: "fine", data: "x" },
        { name: "../escape", data: "x" },
      ]),
    ).rejects.toThrow();
    expect(await s.exists("fine")).toBe(false);
    await s.put("a", "file");
    await expect(s.putMany([{ name: "a/b", data: "x" }])).rejects.toBeInstanceOf(NonRetriableError);
    expect((await s.get("a")).toString()).toBe("file");
    expect(readdirSync(join(root, ".tmp")).filter((f) => f.startsWith(`${process.pid}-`))).toEqual([]);
  });
});

describe("Cloud Storage REST calls the client makes", () => {
  const bucketName = "rest-checks";
  const store = () =>
    createGcpObjects({ projectId: "tessera-test", apiEndpoint: fake.url }).bucket(bucketName);
  const since = () => fake.requests.length;

  it("create-only put is a multipart upload with ifGenerationMatch=0; a lost race maps 412 to AlreadyExistsError", async () => {
    const s = store();
    const from = since();
    await s.put("claims/one.json", '{"a":1}', {
      ifNotExists: true,
      contentType: "application/json",
      metadata: { k: "v" },
    });
    const [upload] = fake.requests.slice(from);
    expect(upload.method).toBe("POST");
    expect(upload.rawPath).toBe(`/upload/storage/v1/b/${bucketName}/o`);
    expect(upload.query).toMatchObject({
      uploadType: "multipart",
      name: "claims/one.json",
      ifGenerationMatch: "0",
    });
    expect(String(upload.headers["content-type"])).toMatch(/^multipart\/related; boundary=/);
    const body = upload.body.toString("utf8");
    expect(body).toContain('{"contentType":"application/json","metadata":{"k":"v"}}');
    expect(body).toContain('{"a":1}');
    const before = since();
    await expect(s.put("claims/one.json", "{}", { ifNotExists: true })).rejects.toThrow(/already exists/);
    // 412 is final: the client does not retry a failed precondition.
    expect(fake.requests.slice(before)).toHaveLength(1);
  });

  it("plain put sends no precondition; get is alt=media on the encoded name; stat is a metadata GET", async () => {
    const s = store();
    const from = since();
    await s.put("dir/plain.txt", "p");
    await s.get("dir/plain.txt");
    await s.stat("dir/plain.txt");
    const calls = fake.requests.slice(from);
    expect(calls[0].query.ifGenerationMatch).toBeUndefined();
    expect(calls[1]).toMatchObject({
      method: "GET",
      rawPath: `/storage/v1/b/${bucketName}/o/dir%2Fplain.txt`,
      query: { alt: "media" },
    });
    expect(calls[2]).toMatchObject({
      method: "GET",
      rawPath: `/storage/v1/b/${bucketName}/o/dir%2Fplain.txt`,
    });
    expect(calls[2].query.alt).toBeUndefined();
  });

  it("a write stream opens a resumable session (with the precondition) and uploads to it", async () => {
    const s = store();
    const from = since();
    await pipeline(
      Readable.from([Buffer.alloc(300_000, 1)]),
      s.createWriteStream("streamed.bin", { ifNotExists: true }),
    );
    const calls = fake.requests.slice(from);
    expect(calls[0]).toMatchObject({
      method: "POST",
      query: { uploadType: "resumable", name: "streamed.bin", ifGenerationMatch: "0" },
    });
    const puts = calls.filter((c) => c.method === "PUT");
    expect(puts.length).toBeGreaterThan(0);
    expect(puts.every((p) => p.query.upload_id !== undefined)).toBe(true);
    expect(puts.reduce((n, p) => n + p.body.length, 0)).toBe(300_000);
  });

  it("list pages with prefix and pageToken; delete is a DELETE on the encoded name", async () => {
    const s = store();
    await Promise.all(
      Array.from({ length: 23 }, (_, i) => s.put(`paged/${String(i).padStart(2, "0")}`, "x")),
    );
    const from = since();
    expect(await s.list("paged/")).toHaveLength(23);
    const lists = fake.requests.slice(from);
    expect(lists).toHaveLength(3);
    expect(
      lists.every(
        (l) =>
          l.method === "GET" && l.rawPath === `/storage/v1/b/${bucketName}/o` && l.query.prefix === "paged/",
      ),
    ).toBe(true);
    expect(lists[0].query.pageToken).toBeUndefined();
    expect(lists[1].query.pageToken).toBeTruthy();
    const before = since();
    await s.delete("paged/00");
    expect(fake.requests.slice(before)[0]).toMatchObject({
      method: "DELETE",
      rawPath: `/storage/v1/b/${bucketName}/o/paged%2F00`,
    });
  });

  it("made no call the fake does not implement", () => {
    expect(fake.unexpected.map((r) => `${r.method} ${r.rawPath}`)).toEqual([]);
  });
});
