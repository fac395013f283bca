import { describe, expect, it } from "vitest";
import type { GranularRow } from "../../containers/forecast/index.ts";
import {
  formatOutputTable,
  KEY_COLUMNS,
  OUTPUT_COLUMNS,
  sortRows,
} from "../../containers/mozaic-daily/tables.ts";

const stamp = {
  forecastStartDate: "2024-03-01",
  forecastRunTimestamp: "2024-03-02 07:00:00",
  mozaicHash: "a".repeat(40),
};
const g = (
  metric: string,
  population: string,
  source: "actual" | "forecast",
  value: number,
  country = "US",
  targetDate = "2024-02-29",
): GranularRow => ({ targetDate, metric, country, population, source, value });

describe("mozaic-daily output table", () => {
  it("merges the metrics of a desktop source and formats the 13 columns", () => {
    const rows = formatOutputTable(
      [
        {
          source: "glean_desktop",
          rows: [
            g("DAU", "win10", "actual", 10),
            g("New Profiles", "win10", "actual", 2),
            g("DAU", "ALL", "forecast", 30, "ALL", "2024-03-01"),
          ],
        },
      ],
      stamp,
    );
    expect(rows.map((r) => Object.keys(r))).toEqual([
      OUTPUT_COLUMNS.map((c) => c.name),
      OUTPUT_COLUMNS.map((c) => c.name),
    ]);
    expect(rows[0]).toEqual({
      forecast_start_date: "2024-03-01",
      forecast_run_timestamp: "2024-03-02 07:00:00",
      mozaic_hash: "a".repeat(40),
      data_source: "glean_desktop",
      target_date: "2024-02-29",
      data_type: "training",
      country: "US",
      app_name: "desktop",
      segment: '{"os": "win10"}',
      dau: 10,
      new_profiles: 2,
      existing_engagement_dau: null,
      existing_engagement_mau: null,
    });
    expect(rows[1]).toMatchObject({
      data_type: "forecast",
      country: "ALL",
      segment: '{"os": "ALL"}',
      dau: 30,
    });
  });

  it("formats mobile rows with the app as app_name, ALL as ALL MOBILE and segment {}", () => {
    const rows = formatOutputTable(
      [
        {
          source: "glean_mobile",
          rows: [g("DAU", "fenix_android", "actual", 5), g("DAU", "ALL", "actual", 9)],
        },
      ],
      stamp,
    );
    expect(rows.map((r) => [r.app_name, r.segment])).toEqual([
      ["ALL MOBILE", "{}"],
      ["fenix_android", "{}"],
    ]);
  });

  it("sorts by the nine non-metric columns", () => {
    const rows = formatOutputTable(
      [
        {
          source: "legacy_desktop",
          rows: [g("DAU", "win11", "actual", 1, "DE"), g("DAU", "win10", "actual", 1, "DE")],
        },
        { source: "glean_desktop", rows: [g("DAU", "win10", "actual", 1, "US")] },
      ],
      stamp,
    );
    expect(rows.map((r) => `${r.data_source}/${r.country}/${r.segment}`)).toEqual([
      'glean_desktop/US/{"os": "win10"}',
      'legacy_desktop/DE/{"os": "win10"}',
      'legacy_desktop/DE/{"os": "win11"}',
    ]);
  });

  it("sorts by the 9 non-metric columns in order, a shorter value before its extensions", () => {
    const pick = <T>(xs: T[], i: number) => xs[i % xs.length];
    const rows = Array.from({ length: 300 }, (_, i) => ({
      forecast_start_date: "2024-03-01",
      forecast_run_timestamp: "2024-03-02 07:00:00",
      mozaic_hash: "a".repeat(40),
      data_source: pick(["glean_desktop", "glean_mobile", "legacy_desktop"], i * 7),
      target_date: pick(["2024-01-01", "2024-01-02", "2023-12-31"], i * 5),
      data_type: pick(["training", "forecast"], i * 3),
      country: pick(["A", "AB", "ALL", "US"], i * 11),
      app_name: pick(["desktop", "ALL MOBILE", "fenix_android"], i * 13),
      segment: pick(['{"os": "win10"}', "{}", '{"os": "ALL"}'], i),
      dau: i,
    }));
    const reference = [...rows].sort((a, b) => {
      for (const k of KEY_COLUMNS) {
        const x = String(a[k as keyof typeof a]);
        const y = String(b[k as keyof typeof b]);
        if (x !== y) return x < y ? -1 : 1;
      }
      return a.dau - b.dau;
    });
    expect(sortRows(rows).map((r) => r.dau)).toEqual(reference.map((r) => r.dau));
  });
});
