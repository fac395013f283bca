import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotFoundError, type WideRow, type WideRowStore } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { uniqueName } from "../helpers/wait.ts";

/** The wide-row contract both adapters pass (the Bigtable adapter against the bttest fake). */

async function collect(rows: AsyncIterable<WideRow>): Promise<WideRow[]> {
  const out: WideRow[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

const text = (row: WideRow | undefined, family: string, qualifier: string) =>
  row?.families[family]?.[qualifier]?.map((c) => c.value.toString());

export function describeWideRowContract(
  label: string,
  makeStore: () => Promise<WideRowStore> | WideRowStore,
): void {
  describe(`WideRowStore contract: ${label}`, () => {
    let store: WideRowStore;
    const now = Date.now() * 1000;
    const table = (prefix: string) => uniqueName(prefix).replace(/-/g, "_").slice(0, 50);

    beforeAll(async () => {
      store = await makeStore();
    });
    afterAll(async () => {
      await store.close();
    });

    it("creates families with GC rules and adds new ones without losing rows", async () => {
      const t = table("fam");
      await store.ensureTable(t, [
        { name: "meta", gc: { maxVersions: 1 } },
        { name: "cf", gc: { maxAgeSeconds: 3600, maxVersions: 3, mode: "union" } },
        { name: "raw" },
      ]);
      expect(await store.getFamilies(t)).toEqual([
        { name: "cf", gc: { maxAgeSeconds: 3600, maxVersions: 3, mode: "union" } },
        { name: "meta", gc: { maxVersions: 1 } },
        { name: "raw" },
      ]);
      await store.mutate(t, [{ key: "k1", data: { raw: { q: "v" } } }]);
      await store.ensureTable(t, [{ name: "extra", gc: { maxAgeSeconds: 60, maxVersions: 2 } }]);
      const names = (await store.getFamilies(t)).map((f) => f.name);
      expect(names).toEqual(["cf", "extra", "meta", "raw"]);
      expect((await store.getFamilies(t)).find((f) => f.name === "extra")?.gc).toEqual({
        maxAgeSeconds: 60,
        maxVersions: 2,
        mode: "intersection",
      });
      expect(text(await store.readRow(t, "k1"), "raw", "q")).toEqual(["v"]);
      // A changed rule replaces the old one.
      await store.ensureTable(t, [{ name: "meta", gc: { maxVersions: 5 } }]);
      expect((await store.getFamilies(t)).find((f) => f.name === "meta")?.gc).toEqual({ maxVersions: 5 });
      await store.deleteTable(t);
    });

    it("writes and reads cells with bytes, timestamps and versions newest first", async () => {
      const t = table("rw");
      await store.ensureTable(t, [{ name: "cf" }, { name: "bin" }]);
      const bytes = Buffer.from([0, 1, 254, 255]);
      await store.mutate(t, [
        { key: "user#1", data: { cf: { name: "ada" }, bin: { blob: bytes } }, timestamp: now - 2000 },
        { key: "user#1", data: { cf: { name: "ada lovelace" } }, timestamp: now - 1000 },
      ]);
      const row = await store.readRow(t, "user#1");
      expect(row?.key).toBe("user#1");
      expect(text(row, "cf", "name")).toEqual(["ada lovelace", "ada"]);
      expect(row?.families.cf.name.map((c) => c.timestamp)).toEqual([now - 1000, now - 2000]);
      expect(row?.families.bin.blob[0].value.equals(bytes)).toBe(true);
      // The same timestamp replaces the cell.
      await store.mutate(t, [{ key: "user#1", data: { cf: { name: "A. L." } }, timestamp: now - 1000 }]);
      expect(text(await store.readRow(t, "user#1"), "cf", "name")).toEqual(["A. L.", "ada"]);
      expect(await store.readRow(t, "user#2")).toBeUndefined();
      await store.deleteTable(t);
    });

    it("scans in row-key byte order with prefix, start (inclusive), end (exclusive) and limit", async () => {
      const t = table("scan");
      await store.ensureTable(t, [{ name: "cf" }]);
      // UTF-8 byte order: "B" < "a" < "é" (C3 A9) < U+FFFD (EF BF BD) < U+1F600 (F0 9F 98 80).
      const odd = ["a", "B", "é", "\uFFFD", "\u{1F600}"];
      const keys = [...odd];
      for (let d = 0; d < 3; d++)
        for (let i = 0; i < 12; i++) keys.push(`dev#${d}#${String(i).padStart(3, "0")}`);
      const shuffled = [...keys].sort(() => Math.random() - 0.5);
      await store.mutate(
        t,
        shuffled.map((key) => ({ key, data: { cf: { k: key } } })),
      );
      const all = (await collect(store.scan(t))).map((r) => r.key);
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(all).toEqual(expected);
      expect(all.slice(0, 2)).toEqual(["B", "a"]);
      expect(all.slice(-3)).toEqual(["é", "\uFFFD", "\u{1F600}"]);

      const dev1 = (await collect(store.scan(t, { prefix: "dev#1#" }))).map((r) => r.key);
      expect(dev1).toHaveLength(12);
      expect(dev1.every((k) => k.startsWith("dev#1#"))).toBe(true);

      const range = (await collect(store.scan(t, { start: "dev#0#010", end: "dev#1#002" }))).map(
        (r) => r.key,
      );
      expect(range).toEqual(["dev#0#010", "dev#0#011", "dev#1#000", "dev#1#001"]);

      const prefixed = (await collect(store.scan(t, { prefix: "dev#2#", start: "dev#2#009" }))).map(
        (r) => r.key,
      );
      expect(prefixed).toEqual(["dev#2#009", "dev#2#010", "dev#2#011"]);

      const limited = (await collect(store.scan(t, { prefix: "dev#", limit: 5 }))).map((r) => r.key);
      expect(limited).toEqual(expected.filter((k) => k.startsWith("dev#")).slice(0, 5));
      expect(text((await collect(store.scan(t, { prefix: "é" })))[0], "cf", "k")).toEqual(["é"]);
      await store.deleteTable(t);
    });

    it("applies GC rules: max versions, max age, union and intersection", async () => {
      const t = table("gc");
      await store.ensureTable(t, [
        { name: "v2", gc: { maxVersions: 2 } },
        { name: "age", gc: { maxAgeSeconds: 3600 } },
        { name: "uni", gc: { maxAgeSeconds: 3600, maxVersions: 1, mode: "union" } },
        { name: "inter", gc: { maxAgeSeconds: 3600, maxVersions: 1, mode: "intersection" } },
      ]);
      const fresh0 = now - 1000;
      const fresh1 = now - 2000;
      const old = now - 2 * 3600 * 1_000_000;
      for (const ts of [old, fresh1, fresh0]) {
        await store.mutate(t, [
          {
            key: "r",
            data: { v2: { q: `v${ts}` }, age: { q: `a${ts}` }, uni: { q: `u${ts}` }, inter: { q: `i${ts}` } },
            timestamp: ts,
          },
        ]);
      }
      const row = await store.readRow(t, "r");
      expect(row?.families.v2.q.map((c) => c.timestamp)).toEqual([fresh0, fresh1]);
      expect(row?.families.age.q.map((c) => c.timestamp)).toEqual([fresh0, fresh1]);
      expect(row?.families.uni.q.map((c) => c.timestamp)).toEqual([fresh0]);
      // Intersection collects only what is both old and beyond one version.
      expect(row?.families.inter.q.map((c) => c.timestamp)).toEqual([fresh0, fresh1]);

      await store.mutate(t, [{ key: "stale", data: { age: { q: "x" } }, timestamp: old }]);
      expect(await store.readRow(t, "stale")).toBeUndefined();
      expect((await collect(store.scan(t))).map((r) => r.key)).toEqual(["r"]);
      await store.deleteTable(t);
    });

    it("bulk-writes thousands of rows and deletes rows", async () => {
      const t = table("bulk");
      await store.ensureTable(t, [{ name: "cf" }]);
      const n = 5000;
      await store.mutate(
        t,
        Array.from({ length: n }, (_, i) => ({
          key: `row#${String((i * 7919) % n).padStart(5, "0")}`,
          data: { cf: { a: String(i), b: "x".repeat(20) } },
        })),
      );
      const rows = await collect(store.scan(t, { prefix: "row#" }));
      expect(rows).toHaveLength(n);
      expect(rows[0].key).toBe("row#00000");
      expect(rows[n - 1].key).toBe(`row#${String(n - 1).padStart(5, "0")}`);
      await store.deleteRows(t, ["row#00001", "row#00002", "nope"]);
      expect(await store.readRow(t, "row#00001")).toBeUndefined();
      const after = await collect(store.scan(t, { start: "row#00000", end: "row#00004" }));
      expect(after.map((r) => r.key)).toEqual(["row#00000", "row#00003"]);
      await store.deleteTable(t);
    });

    it("reports missing tables and bad mutations", async () => {
      const t = table("gone");
      await store.ensureTable(t, [{ name: "cf" }]);
      await expect(store.mutate(t, [{ key: "k", data: { nope: { q: "v" } } }])).rejects.toThrow(
        NonRetriableError,
      );
      await expect(store.mutate(t, [{ key: "", data: { cf: { q: "v" } } }])).rejects.toThrow(
        /mutations\[0\]\.key|row key/,
      );
      await expect(
        store.mutate(t, [{ key: "k", data: { cf: { q: "v" } }, timestamp: 1234 }]),
      ).rejects.toThrow(/milliseconds/);
      await store.deleteTable(t);
      await expect(store.readRow(t, "k")).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.getFamilies(t)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.mutate(t, [{ key: "k", data: { cf: { q: "v" } } }])).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await store.deleteTable(t);
      await expect(store.ensureTable("bad name!", [])).rejects.toThrow(/table id/);
    });
  });
}
