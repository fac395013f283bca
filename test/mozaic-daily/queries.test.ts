import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateTable, refOf, SOURCE_TABLES } from "../../containers/mozaic-daily/generate.ts";
import {
  availabilityChecks,
  buildQuery,
  checkAvailability,
  DataNotReadyError,
  QUERY_SPECS,
  runQuery,
  specKey,
  trainingDateIndex,
} from "../../containers/mozaic-daily/queries.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import type { Warehouse } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

const GOLDEN = join(import.meta.dirname, "golden");
const fileOf = (key: string) => join(GOLDEN, `${key.replace(/[^A-Za-z0-9.]+/g, "_")}.sql`);

describe("mozaic-daily query specs", () => {
  it("has the 12 specs and 9 distinct pre-flight checks", () => {
    expect(QUERY_SPECS).toHaveLength(12);
    expect(new Set(QUERY_SPECS.map(specKey)).size).toBe(12);
    expect(availabilityChecks()).toHaveLength(9);
  });

  for (const spec of QUERY_SPECS) {
    it(`generates the golden SQL of ${specKey(spec)}`, () => {
      const sql = buildQuery(spec);
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(fileOf(specKey(spec)), `${sql}\n`);
      expect(`${sql}\n`).toBe(readFileSync(fileOf(specKey(spec)), "utf8"));
    });
  }

  it("drops the excluded days from the training index", () => {
    const np = QUERY_SPECS.find((s) => s.source === "glean_desktop" && s.metric === "New Profiles")!;
    const idx = trainingDateIndex(np, "2023-07-31");
    expect(idx[0]).toBe("2023-07-01");
    expect(idx).not.toContain("2023-07-18");
    expect(idx).not.toContain("2023-07-19");
    expect(idx).toHaveLength(29);
  });
});

describe("mozaic-daily queries on DuckDB", () => {
  let w: Warehouse;
  const to = "2023-08-10";
  beforeAll(async () => {
    w = createLocalWarehouse({ path: ":memory:" });
    for (const table of [
      "glean_telemetry.active_users_aggregates",
      "firefox_desktop.new_profiles_aggregates",
      "telemetry.mobile_new_profiles",
    ]) {
      await w.ensureTable(refOf(table), { columns: SOURCE_TABLES[table].columns });
      await w.insertRows(refOf(table), generateTable(table, { to, countries: ["US", "DE", "SE"] }));
    }
  });
  afterAll(async () => w.close());

  it("runs the generated BigQuery SQL unchanged: ROW mapping, segment flags, start and excluded days", async () => {
    const np = QUERY_SPECS.find((s) => s.source === "glean_desktop" && s.metric === "New Profiles")!;
    const rows = await runQuery(w, np);
    expect(new Set(rows.map((r) => r.country))).toEqual(new Set(["DE", "ROW", "US"]));
    expect(rows.some((r) => r.x === "2023-07-18" || r.x === "2023-07-19")).toBe(false);
    expect(rows[0].x).toBe("2023-07-01");
    // macOS / Linux have a NULL windows_version: every flag false (population "other").
    expect(rows.some((r) => !r.segments.win10 && !r.segments.win11 && !r.segments.winX)).toBe(true);
    expect(
      rows.every((r) => [r.segments.win10, r.segments.win11, r.segments.winX].filter(Boolean).length <= 1),
    ).toBe(true);
    const dau = QUERY_SPECS.find((s) => s.source === "glean_mobile" && s.metric === "DAU")!;
    const m = await runQuery(w, dau);
    expect(m.every((r) => Object.values(r.segments).filter(Boolean).length === 1)).toBe(true);
    expect(m[0].x).toBe("2020-12-31");
  });

  it("passes the pre-flight when data reaches the training end", async () => {
    const specs = QUERY_SPECS.filter((s) => s.source === "glean_desktop" && s.metric === "DAU");
    const ok = await checkAvailability(w, to, specs);
    expect(ok).toEqual([{ table: "glean_telemetry.active_users_aggregates", maxDate: to }]);
  });

  it("fails the pre-flight with the latest usable forecastStartDate when data is late", async () => {
    const specs = QUERY_SPECS.filter((s) => s.source === "glean_desktop" && s.metric === "DAU");
    await expect(checkAvailability(w, "2023-08-12", specs)).rejects.toThrow(
      /data through 2023-08-10.*latest usable forecastStartDate is 2023-08-11/,
    );
    try {
      await checkAvailability(w, "2023-08-12", specs);
    } catch (err) {
      expect(err).toBeInstanceOf(DataNotReadyError);
      expect((err as DataNotReadyError).suggestedStartDate).toBe("2023-08-11");
      expect((err as DataNotReadyError).fix).toMatch(/--forecast_start_date 2023-08-11/);
    }
    await expect(checkAvailability(w, "2024-01-01", specs)).rejects.toThrow(
      /no data found in glean_telemetry.active_users_aggregates/,
    );
  });

  it("names the query that returned zero rows", async () => {
    await w.query("DELETE FROM `moz-fx-data-shared-prod.telemetry.mobile_new_profiles` WHERE TRUE");
    const spec = QUERY_SPECS.find((s) => s.source === "glean_mobile" && s.metric === "New Profiles")!;
    const err = await runQuery(w, spec).catch((e) => e);
    expect(err).toBeInstanceOf(NonRetriableError);
    expect(err.message).toMatch(
      /0 rows for query glean_mobile.mobile.New Profiles on telemetry.mobile_new_profiles/,
    );
  });
});
