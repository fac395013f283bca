import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { load } from "../../containers/mozaggregator/load.ts";
import { localObjectsPath, parseLocation } from "../../containers/mozaggregator/locations.ts";
import { main } from "../../containers/mozaggregator/main.ts";
import { parseDsn } from "../../containers/mozaggregator/ports.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";

/** The platform side of the job steps without PostgreSQL: locations, the DSN secret, the skip, the load's guard. */
const dir = mkdtempSync(join(tmpdir(), "mozaggregator-steps-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mozaggregator job steps", () => {
  it("maps gs:// locations to the local objects tree and keeps paths and file:// URIs", () => {
    const loc = parseLocation("gs://tessera-data/mozaggregator/dumps/", "output");
    expect(loc).toEqual({ kind: "bucket", bucket: "tessera-data", prefix: "mozaggregator/dumps" });
    expect(localObjectsPath("/s", "tessera-data", "mozaggregator/dumps")).toBe(
      "/s/objects/tessera-data/mozaggregator/dumps",
    );
    expect(parseLocation("file:///tmp/x", "input")).toEqual({ kind: "path", path: "/tmp/x" });
    expect(() => parseLocation("s3://b/p", "input")).toThrow(/input: unsupported location s3:\/\/b\/p/);
  });

  it("reads the DSN secret without putting the password anywhere else", () => {
    expect(parseDsn("postgres://app:p%40ss@127.0.0.1:5433/aggregates")).toEqual({
      host: "127.0.0.1",
      port: 5433,
      user: "app",
      database: "aggregates",
      password: "p@ss",
    });
    expect(() => parseDsn("mysql://a@b/c")).toThrow(/postgres:\/\/ URL/);
  });

  it("records the day as skipped when pg_dump is not installed", async () => {
    const stateDir = join(dir, "skip");
    const args = {
      pipeline: "mozaggregator",
      partition: "2019-12-01",
      runId: "r1",
      step: "dump",
      output: "gs://tessera-data/mozaggregator/dumps",
      status: "gs://tessera-data/mozaggregator/status",
    };
    const env = {
      TESSERA_MODE: "local",
      TESSERA_STATE_DIR: stateDir,
      TESSERA_PG_BIN: join(dir, "no-such-bin"),
    };
    expect(await main(["--args", JSON.stringify(args)], env)).toBe(0);
    const store = createLocalObjects({ root: join(stateDir, "objects") }).bucket("tessera-data");
    const status = JSON.parse((await store.get("mozaggregator/status/2019-12-01.json")).toString());
    expect(status).toMatchObject({ ds: "2019-12-01", status: "skipped" });
    expect(status.reason).toMatch(/^skipped: PostgreSQL is not installed/);
  });

  it("loads nothing while a type's _SUCCESS manifest is missing, and names it", async () => {
    const stateDir = join(dir, "load");
    const store = createLocalObjects({ root: join(stateDir, "objects") }).bucket("tessera-data");
    await store.put(
      "mozaggregator/parquet/submission_date/20191201/_SUCCESS",
      JSON.stringify({ ds: "2019-12-01", type: "submission_date", status: "no-data", rows: 0, parts: [] }),
    );
    const warehouse = createLocalWarehouse({ path: join(stateDir, "warehouse.duckdb") });
    try {
      await expect(
        load({
          warehouse,
          store,
          prefix: "mozaggregator/parquet",
          statusObject: "mozaggregator/status/2019-12-01.json",
          ds: "2019-12-01",
          types: ["submission_date", "build_id"],
        }),
      ).rejects.toThrow(
        /build_id conversion of 2019-12-01 is not complete: no _SUCCESS manifest at file:\/\/.*build_id\/20191201\/_SUCCESS/,
      );
      expect(
        await warehouse.getSchema({ dataset: "telemetry", table: "submission_date_aggregates" }),
      ).toBeUndefined();
      expect(await store.exists("mozaggregator/status/2019-12-01.json")).toBe(false);
    } finally {
      await warehouse.close();
    }
  });
});
