import { inflateSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { bz2Compress, bz2Decompress } from "../../containers/taar/bz2.ts";
import {
  avroSchemaOf,
  decodeAvroFile,
  deleteOptOut,
  encodeAvroFile,
  ensureProfileTable,
  exportAvro,
  fillTemp,
  loadAvro,
  loadRows,
  profilePayload,
  wipeTemp,
} from "../../containers/taar/profile.ts";
import { sha256Hex } from "../../containers/taar/rng.ts";
import { seedTelemetry } from "../../containers/taar/seed-data.ts";
import { readJson, storeJson } from "../../containers/taar/store.ts";
import { PROFILE_TMP_SCHEMA } from "../../containers/taar/tables.ts";
import { createGcpWideRows } from "../../shared/adapters/gcp/widerows.ts";
import { localPorts } from "./helpers.ts";

const row = (id: string, o: Record<string, unknown> = {}) => ({
  client_id: id,
  city: "Berlin",
  subsession_length: 7200,
  locale: "de",
  os: "Linux",
  active_addons: [{ addon_id: "a@x", is_system: false, type: "extension" }],
  places_bookmarks_count: null,
  scalar_parent_browser_engagement_tab_open_event_count: 4.7,
  scalar_parent_browser_engagement_total_uri_count: 12,
  scalar_parent_browser_engagement_unique_domains_count: undefined,
  ...o,
});

describe("profile payload and bz2 files", () => {
  it("hashes the client id and coerces the numeric fields (null -> 0)", () => {
    const { key, record } = profilePayload(row("client-1"));
    expect(key).toBe(sha256Hex("client-1"));
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(record).toMatchObject({
      client_id: key,
      city: "Berlin",
      places_bookmarks_count: 0,
      scalar_parent_browser_engagement_tab_open_event_count: 4,
      scalar_parent_browser_engagement_unique_domains_count: 0,
    });
    expect(() => profilePayload(row(""))).toThrow(/client_id/);
  });
  it("bz2 round-trips and is the standard BZh stream; the store writes the dated copy", async () => {
    const data = Buffer.from(JSON.stringify({ a: [1, 2, 3], b: "x".repeat(1000) }));
    const z = bz2Compress(data);
    expect(z.subarray(0, 3).toString()).toBe("BZh");
    expect(bz2Decompress(z)).toEqual(data);
    expect(() => bz2Decompress(Buffer.from("nope"), "f.bz2")).toThrow(/f.bz2 is not bzip2/);
    const ports = localPorts();
    const written = await storeJson(ports.data, "taar/x", "m.json", { k: 1 }, "2024-06-29");
    expect(written.map((w) => w.name)).toEqual(["taar/x/m.json.bz2", "taar/x/m.json.20240629.bz2"]);
    expect(await readJson(ports.data, "taar/x", "m.json", "test")).toEqual({ k: 1 });
    await expect(readJson(ports.data, "taar/x", "missing.json", "amodump")).rejects.toThrow(/does not exist/);
    await ports.close();
  });
  it("Avro schema derives from the table; files round-trip", async () => {
    const type = avroSchemaOf(PROFILE_TMP_SCHEMA);
    const rows = [
      row("a", {
        places_bookmarks_count: 3,
        scalar_parent_browser_engagement_tab_open_event_count: 4,
        scalar_parent_browser_engagement_unique_domains_count: null,
        active_addons: [],
      }),
    ];
    const back = await decodeAvroFile(await encodeAvroFile(type, rows), "x.avro");
    expect(back[0].client_id).toBe("a");
    expect(back[0].places_bookmarks_count).toBe(3);
    expect(back[0].scalar_parent_browser_engagement_unique_domains_count).toBeNull();
    await expect(decodeAvroFile(Buffer.from("garbage"), "bad.avro")).rejects.toThrow(/bad.avro/);
  });
});

describe("profile load through the Bigtable adapter (bttest)", () => {
  const bt = createGcpWideRows({ projectId: "test-project", instanceId: "test-instance" });
  const table = `taar_profile_${process.pid}`;
  afterAll(async () => {
    await bt.deleteTable(table).catch(() => undefined);
    await bt.close();
  });

  it("creates the table with family profile, GC union(90 days, 1 version)", async () => {
    await ensureProfileTable(bt, table);
    expect(await bt.getFamilies(table)).toEqual([
      { name: "profile", gc: { maxAgeSeconds: 90 * 86400, maxVersions: 1, mode: "union" } },
    ]);
  });

  it("loads rows keyed by sha256(client_id), payload = zlib JSON; reloading keeps one version; deletes opted-out", async () => {
    const rows = Array.from({ length: 1500 }, (_, i) => row(`client-${i}`, { subsession_length: i }));
    expect(await loadRows(bt, rows, { table, batch: 400 })).toBe(1500);
    await loadRows(bt, rows.slice(0, 10), { table });
    const r = await bt.readRow(table, sha256Hex("client-7"));
    expect(Object.keys(r!.families)).toEqual(["profile"]);
    expect(r!.families.profile.payload).toHaveLength(1);
    expect(JSON.parse(inflateSync(r!.families.profile.payload[0].value).toString())).toEqual({
      ...profilePayload(rows[7]).record,
    });
    let n = 0;
    for await (const x of bt.scan(table)) {
      expect(x.key).toMatch(/^[0-9a-f]{64}$/);
      n++;
    }
    expect(n).toBe(1500);
    await bt.deleteRows(table, [sha256Hex("client-7")]);
    expect(await bt.readRow(table, sha256Hex("client-7"))).toBeUndefined();
  }, 60_000);

  it("runs fill -> export (2 tasks) -> load (2 tasks) -> delete opt-outs -> wipe with the warehouse", async () => {
    const ports = localPorts();
    await seedTelemetry(ports.warehouse, { day: "2024-06-29", clients: 300, days: 1 });
    const filled = await fillTemp(ports.warehouse, {
      day: "2024-06-29",
      sampleRate: 1,
      seed: 1,
      dialect: "duckdb",
    });
    expect(filled).toBe(300);
    const half = await fillTemp(ports.warehouse, {
      day: "2024-06-29",
      sampleRate: 0.5,
      seed: 1,
      dialect: "duckdb",
    });
    expect(half).toBeGreaterThan(100);
    expect(half).toBeLessThan(200);
    expect(
      await fillTemp(ports.warehouse, { day: "2024-06-29", sampleRate: 0.5, seed: 1, dialect: "duckdb" }),
    ).toBe(half);
    await fillTemp(ports.warehouse, { day: "2024-06-29", sampleRate: 1, seed: 1, dialect: "duckdb" });
    const e0 = await exportAvro(ports.warehouse, ports.data, {
      day: "2024-06-29",
      taskIndex: 0,
      taskCount: 2,
    });
    const e1 = await exportAvro(ports.warehouse, ports.data, {
      day: "2024-06-29",
      taskIndex: 1,
      taskCount: 2,
    });
    expect(e0.rows + e1.rows).toBe(300);
    const t2 = `${table}_wf`;
    const l0 = await loadAvro(bt, ports.data, { day: "2024-06-29", taskIndex: 0, taskCount: 2, table: t2 });
    const l1 = await loadAvro(bt, ports.data, { day: "2024-06-29", taskIndex: 1, taskCount: 2, table: t2 });
    expect(l0.rows + l1.rows).toBe(300);
    const deleted = await deleteOptOut(ports.warehouse, bt, { day: "2024-06-29", days: 28, table: t2 });
    expect(deleted).toBeGreaterThan(0);
    let n = 0;
    for await (const _ of bt.scan(t2)) n++;
    expect(n).toBe(300 - deleted);
    expect((await wipeTemp(ports.warehouse, ports.data)).objects).toBe(2);
    expect(await ports.data.list("taar-tmp/")).toEqual([]);
    await bt.deleteTable(t2);
    await ports.close();
  }, 60_000);
});
