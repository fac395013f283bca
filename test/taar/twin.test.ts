import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AmoStub, startAmoStub } from "../../containers/taar/amo-stub.ts";
import { bz2Decompress } from "../../containers/taar/bz2.ts";
import { sha256Hex } from "../../containers/taar/rng.ts";
import { seedTelemetry } from "../../containers/taar/seed-data.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { taarDaily, taarWeekly } from "../../shared/pipelines/taar.ts";
import { createRegistry } from "../../shared/pipelines/types.ts";
import { startTwin, type Twin } from "../../shared/runtime/twin.ts";
import { localPorts } from "./helpers.ts";

const DAY = "2024-06-29";

describe("taar-daily and taar-weekly on the local twin", () => {
  let stub: AmoStub;
  let twin: Twin;
  let stateDir: string;
  const logs = memorySink();

  beforeAll(async () => {
    stub = await startAmoStub({ addons: 600, today: DAY, transientRate: 0.05, slowRate: 0.02 });
    const ports = localPorts();
    stateDir = ports.stateDir;
    await seedTelemetry(ports.warehouse, { day: DAY, clients: 500 });
    await ports.close();
    twin = await startTwin({
      registry: createRegistry([taarDaily, taarWeekly]),
      stateDir,
      log: createLogger({ sink: logs, minSeverity: "DEBUG" }),
      env: { ...process.env, TAAR_AMO_URL: stub.url },
      pollSeconds: 0.05,
      backoffScale: 0.01,
      now: () => new Date("2024-06-30T12:00:00Z"),
    });
  }, 60_000);

  afterAll(async () => {
    await twin?.close();
    await stub?.close();
  });

  const read = async (name: string) =>
    JSON.parse(bz2Decompress(await twin.adapters.objects.bucket("tessera-data").get(name)).toString());

  it("runs taar-daily end to end and writes every model file with its dated copy", async () => {
    const e = await twin.workflows.execute("taar-daily", {
      partition: DAY,
      params: { seed: 7, numClusters: 5, numDonors: 100 },
    });
    const done = await twin.workflows.wait(e.name);
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    const data = twin.adapters.objects.bucket("tessera-data");
    for (const f of [
      "addon_recommender/extended_addons_database.json",
      "addon_recommender/whitelist_addons_database.json",
      "addon_recommender/featured_addons_database.json",
      "addon_recommender/featured_whitelist_addons.json",
      "addon_recommender/only_guids_top_200.json",
      "taar/lite/guid_install_ranking.json",
      "taar/lite/guid_coinstallation.json",
      "taar/similarity/donors.json",
      "taar/similarity/lr_curves.json",
      "taar/locale/top10_dict.json",
    ]) {
      expect(await data.exists(`${f}.bz2`), f).toBe(true);
      expect(await data.exists(`${f}.20240629.bz2`), f).toBe(true);
    }
    const dump = await read("addon_recommender/extended_addons_database.json.bz2");
    // Add-ons without versions and the always-failing versions URLs are dropped and counted.
    const summary = JSON.parse((await data.get(`taar/runs/${DAY}/amodump.json`)).toString());
    expect(summary.failedRequests).toBe(stub.brokenGuids.length);
    expect(summary.failures.map((f: { url: string }) => decodeURIComponent(f.url)).sort()).toEqual(
      stub.brokenGuids.map((g) => `${stub.url}/api/v4/addons/addon/${g}/versions/`).sort(),
    );
    expect(Object.keys(dump).length).toBe(summary.searched - summary.droppedWithoutFirstCreateDate);
    expect(summary.searched).toBe(600);
    const donors = await read("taar/similarity/donors.json.bz2");
    expect(donors.length).toBeGreaterThan(0);
    expect(Object.keys(donors[0]).sort()).toEqual([
      "active_addons",
      "bookmark_count",
      "geo_city",
      "locale",
      "os",
      "subsession_length",
      "tab_open_count",
      "total_uri",
      "unique_tlds",
    ]);
    const top = await read("taar/locale/top10_dict.json.bz2");
    expect(Object.values(top).every((l) => (l as unknown[]).length === 10)).toBe(true);
  }, 120_000);

  it("runs taar-weekly: profiles in Bigtable, temp table and files gone, opted-out clients deleted", async () => {
    const e = await twin.workflows.execute("taar-weekly", { partition: DAY, params: {} });
    const done = await twin.workflows.wait(e.name);
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    const keys: string[] = [];
    for await (const r of twin.adapters.wideRows.scan("taar_profile")) keys.push(r.key);
    const data = twin.adapters.objects.bucket("tessera-data");
    expect(await data.list("taar-tmp/")).toEqual([]);
    const deleted = JSON.parse(
      (await data.get(`taar/runs/${DAY}/profile-delete-opt-out.json`)).toString(),
    ).deleted;
    expect(deleted).toBeGreaterThan(0);
    expect(keys.length).toBeGreaterThan(300);
    expect(keys.every((k) => /^[0-9a-f]{64}$/.test(k))).toBe(true);
    const row = await twin.adapters.wideRows.readRow("taar_profile", keys[0]);
    const payload = JSON.parse(inflateSync(row!.families.profile.payload[0].value).toString());
    expect(payload.client_id).toBe(keys[0]);
    expect(typeof payload.places_bookmarks_count).toBe("number");
    expect(
      await twin.adapters.wideRows.readRow("taar_profile", sha256Hex("c000003-7963307283")),
    ).toBeUndefined();
  }, 120_000);

  it("wipes the temp table and files when a middle step fails, and the run fails", async () => {
    // Break the Bigtable table's directory so that the load step (after fill and export) fails.
    const dir = join(stateDir, "bigtable", "taar_profile");
    mkdirSync(join(stateDir, "bigtable"), { recursive: true });
    const { rmSync } = await import("node:fs");
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, "not a directory");
    const e = await twin.workflows.execute("taar-weekly", { partition: DAY, params: {}, force: true });
    const done = await twin.workflows.wait(e.name);
    expect(done.state).toBe("FAILED");
    const data = twin.adapters.objects.bucket("tessera-data");
    expect(
      existsSync(join(stateDir, "objects", "tessera-data", "taar", "runs", DAY, "profile-export.task0.json")),
    ).toBe(true);
    expect(await data.list("taar-tmp/")).toEqual([]);
    const ports = localPorts(stateDir);
    const tables = await ports.warehouse.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'taar_tmp'",
    );
    await ports.close();
    expect(tables).toEqual([]);
  }, 120_000);
});
