import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLocalWideRows } from "../../shared/adapters/local/widerows.ts";
import type { WideRow } from "../../shared/adapters/ports.ts";
import { describeWideRowContract } from "./widerows-contract.ts";

const root = mkdtempSync(join(tmpdir(), "tessera-widerows-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeWideRowContract("embedded store", () => createLocalWideRows({ dir: join(root, "contract") }));

async function keys(rows: AsyncIterable<WideRow>): Promise<string[]> {
  const out: string[] = [];
  for await (const row of rows) out.push(row.key);
  return out;
}

describe("embedded store: persistence across processes", () => {
  it("a second store on the same directory sees the first one's writes and deletes, and vice versa", async () => {
    const dir = join(root, "shared");
    const a = createLocalWideRows({ dir });
    const b = createLocalWideRows({ dir });
    await a.ensureTable("profiles", [{ name: "cf", gc: { maxVersions: 1 } }]);
    await a.mutate("profiles", [
      { key: "c", data: { cf: { v: "1" } } },
      { key: "a", data: { cf: { v: "1" } } },
    ]);
    expect(await keys(b.scan("profiles"))).toEqual(["a", "c"]);
    await b.mutate("profiles", [{ key: "b", data: { cf: { v: "2" } }, timestamp: Date.now() * 1000 + 1000 }]);
    await b.deleteRows("profiles", ["c"]);
    expect(await keys(a.scan("profiles"))).toEqual(["a", "b"]);
    expect(await a.getFamilies("profiles")).toEqual([{ name: "cf", gc: { maxVersions: 1 } }]);

    // A fresh store (a new process) replays the log.
    const c = createLocalWideRows({ dir });
    expect(await keys(c.scan("profiles"))).toEqual(["a", "b"]);

    // Drop and recreate: the others notice the new incarnation.
    await c.deleteTable("profiles");
    await c.ensureTable("profiles", [{ name: "cf" }]);
    await c.mutate("profiles", [{ key: "z", data: { cf: { v: "3" } } }]);
    expect(await keys(a.scan("profiles"))).toEqual(["z"]);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it("keeps only maxVersions cells per column after many overwrites, across a reload", async () => {
    const dir = join(root, "versions");
    const a = createLocalWideRows({ dir });
    await a.ensureTable("t", [{ name: "cf", gc: { maxVersions: 2 } }]);
    const base = Date.now() * 1000;
    for (let i = 0; i < 10; i++) {
      await a.mutate("t", [{ key: "k", data: { cf: { q: `v${i}` } }, timestamp: base + i * 1000 }]);
    }
    const reloaded = createLocalWideRows({ dir });
    const row = await reloaded.readRow("t", "k");
    expect(row?.families.cf.q.map((c) => c.value.toString())).toEqual(["v9", "v8"]);
  });

  it("expires cells by max age as the clock moves", async () => {
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const store = createLocalWideRows({ dir: join(root, "age"), now: () => clock });
    await store.ensureTable("t", [{ name: "cf", gc: { maxAgeSeconds: 60 } }]);
    await store.mutate("t", [{ key: "k", data: { cf: { q: "v" } } }]);
    expect(await store.readRow("t", "k")).toBeDefined();
    clock += 61_000;
    expect(await store.readRow("t", "k")).toBeUndefined();
    expect(await keys(store.scan("t"))).toEqual([]);
  });

  it("keeps byte order when 20k rows arrive in interleaved batches", async () => {
    const store = createLocalWideRows({ dir: join(root, "many") });
    await store.ensureTable("t", [{ name: "cf" }]);
    const n = 20_000;
    for (let batch = 0; batch < 4; batch++) {
      await store.mutate(
        "t",
        Array.from({ length: n / 4 }, (_, i) => ({
          key: `k${String(i * 4 + batch).padStart(6, "0")}`,
          data: { cf: { v: "x" } },
        })),
      );
    }
    const all = await keys(store.scan("t"));
    expect(all).toHaveLength(n);
    expect(all.every((k, i) => i === 0 || all[i - 1] < k)).toBe(true);
    expect(await keys(store.scan("t", { start: "k019998" }))).toEqual(["k019998", "k019999"]);
  });
});
