import { describe, expect, it } from "vitest";
import { daysBetween, VALIDATION_COUNTRIES } from "../../containers/mozaic-daily/config.ts";
import { QUERY_SPECS } from "../../containers/mozaic-daily/queries.ts";
import { OUTPUT_COLUMNS } from "../../containers/mozaic-daily/tables.ts";
import {
  checkOutput,
  MAX_ROWS_PER_DATE,
  type ValidationContext,
  ValidationError,
  validateOutput,
} from "../../containers/mozaic-daily/validation.ts";
import type { Row } from "../../shared/adapters/ports.ts";

/**
 * A small frame that passes every rule for one key (glean_desktop DAU): training 2023-04-17..2023-04-30,
 * forecast 2023-05-01..2023-12-31 (a short horizon keeps the frame small), all 27 countries on every date, the five desktop segments.
 */
const DAU = QUERY_SPECS.filter((s) => s.source === "glean_desktop" && s.metric === "DAU");
const ctx = (extra: Partial<ValidationContext> = {}): ValidationContext => ({
  forecastStartDate: "2023-05-01",
  trainingEndDate: "2023-04-30",
  forecastEndDate: "2023-12-31",
  testingMode: false,
  specs: DAU,
  ...extra,
});
const SEGMENTS = ["win10", "win11", "winX", "other", "ALL"].map((os) => `{"os": "${os}"}`);

function frame(): Row[] {
  const rows: Row[] = [];
  const add = (day: string, type: string) => {
    VALIDATION_COUNTRIES.forEach((country, i) => {
      rows.push({
        forecast_start_date: "2023-05-01",
        forecast_run_timestamp: "2023-05-02 07:00:03",
        mozaic_hash: "ca1d5e7daa30c01cde189302f352eef1c265658a",
        data_source: "glean_desktop",
        target_date: day,
        data_type: type,
        country,
        app_name: "desktop",
        segment: SEGMENTS[i % SEGMENTS.length],
        dau: 1000 + i,
        new_profiles: null,
        existing_engagement_dau: null,
        existing_engagement_mau: null,
      });
    });
  };
  for (const d of daysBetween("2023-04-17", "2023-04-30")) add(d, "training");
  for (const d of daysBetween("2023-05-01", "2023-12-31")) add(d, "forecast");
  return rows;
}

const rulesOf = (rows: Row[], c = ctx()) => checkOutput(rows, c).map((f) => `${f.rule}:${f.column}`);

function expectFailure(rows: Row[], rule: string, column: string, c = ctx()) {
  const failures = checkOutput(rows, c);
  const f = failures.find((x) => x.rule === rule);
  expect(f, `rule ${rule} should fail; got ${JSON.stringify(failures.map((x) => x.rule))}`).toBeDefined();
  expect(f?.column).toBe(column);
  let err: unknown;
  try {
    validateOutput(rows, c);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ValidationError);
  const message = (err as Error).message;
  expect(message).toMatch(/^validation failed: rule \S+, column \S+: /);
  expect((err as ValidationError).failures.some((x) => x.rule === rule)).toBe(true);
  return f as NonNullable<typeof f>;
}

const mutate = (fn: (rows: Row[]) => void) => {
  const rows = frame();
  fn(rows);
  return rows;
};

describe("mozaic-daily validation", () => {
  it("passes a correct frame (in production and testing mode)", () => {
    expect(rulesOf(frame())).toEqual([]);
    expect(rulesOf(frame(), ctx({ testingMode: true }))).toEqual([]);
    expect(() => validateOutput(frame(), ctx())).not.toThrow();
  });

  it("schema_columns: a missing and an extra column fail with an example row", () => {
    const f = expectFailure(
      mutate((rows) => {
        for (const r of rows) delete r.segment;
      }),
      "schema_columns",
      "segment",
    );
    expect(f.example).toBeDefined();
    expectFailure(
      mutate((rows) => {
        for (const r of rows) r.extra = 1;
      }),
      "schema_columns",
      "extra",
    );
    // Against the table's actual schema: a column the table lacks.
    expectFailure(
      frame(),
      "schema_columns",
      "dau",
      ctx({ schema: OUTPUT_COLUMNS.filter((c) => c.name !== "dau") }),
    );
  });

  it("schema_types: a string in a FLOAT64 column fails", () => {
    const f = expectFailure(
      mutate((rows) => (rows[5].dau = "12")),
      "schema_types",
      "dau",
    );
    expect(f.example?.dau).toBe("12");
  });

  it("timestamp_format: forecast_run_timestamp needs a date-time with 'T' or ' '", () => {
    expectFailure(
      mutate((rows) => (rows[3].forecast_run_timestamp = "20230502")),
      "timestamp_format",
      "forecast_run_timestamp",
    );
    expect(
      rulesOf(
        mutate((rows) => {
          for (const r of rows) r.forecast_run_timestamp = "2023-05-02T07:00:03";
        }),
      ),
    ).toEqual([]);
  });

  it("mozaic_hash_format: 'unknown' is not a 40-hex hash", () => {
    const f = expectFailure(
      mutate((rows) => (rows[0].mozaic_hash = "unknown")),
      "mozaic_hash_format",
      "mozaic_hash",
    );
    expect(f.example?.mozaic_hash).toBe("unknown");
  });

  it("target_date_format: a time part fails", () => {
    expectFailure(
      mutate((rows) => (rows[9].target_date = "2023-04-20 00:00:00")),
      "target_date_format",
      "target_date",
    );
  });

  it("data_type_values, country_values, app_name_values, data_source_values", () => {
    expectFailure(
      mutate((rows) => (rows[1].data_type = "actual")),
      "data_type_values",
      "data_type",
    );
    expectFailure(
      mutate((rows) => (rows[1].country = "XX")),
      "country_values",
      "country",
    );
    expectFailure(
      mutate((rows) => (rows[1].app_name = "android")),
      "app_name_values",
      "app_name",
    );
    expectFailure(
      mutate((rows) => (rows[1].data_source = "legacy_mobile")),
      "data_source_values",
      "data_source",
    );
  });

  it("segment_format: not JSON, or an unknown os, fails; {} passes the format rule", () => {
    expectFailure(
      mutate((rows) => (rows[2].segment = "win10")),
      "segment_format",
      "segment",
    );
    expectFailure(
      mutate((rows) => (rows[2].segment = '{"os": "win95"}')),
      "segment_format",
      "segment",
    );
    expect(rulesOf(mutate((rows) => (rows[2].segment = "{}")))).not.toContain("segment_format:segment");
  });

  it("training_dates: a missing training date fails", () => {
    const f = expectFailure(
      mutate((rows) => rows.splice(0, rows.length, ...rows.filter((r) => r.target_date !== "2023-04-20"))),
      "training_dates",
      "target_date",
    );
    expect(f.message).toMatch(/2023-04-20/);
  });

  it("forecast_dates: a missing day and a day past the horizon fail", () => {
    expectFailure(
      mutate((rows) => rows.splice(0, rows.length, ...rows.filter((r) => r.target_date !== "2023-11-30"))),
      "forecast_dates",
      "target_date",
    );
    expectFailure(
      mutate((rows) => rows.push({ ...rows[rows.length - 1], target_date: "2025-01-01" })),
      "forecast_dates",
      "target_date",
    );
  });

  it("countries_per_date: 26 countries on a date fails, except in testing mode", () => {
    const rows = mutate((rs) =>
      rs.splice(0, rs.length, ...rs.filter((r) => !(r.target_date === "2023-06-01" && r.country === "KZ"))),
    );
    const f = expectFailure(rows, "countries_per_date", "country");
    expect(f.message).toMatch(/2023-06-01 has 26 countries.*KZ/);
    expect(rulesOf(rows, ctx({ testingMode: true }))).not.toContain("countries_per_date:country");
  });

  it("rows_per_date: more rows on a date than 27 x 6 x 3 x 6 fails", () => {
    const rows = mutate((rs) => {
      for (let i = 0; i <= MAX_ROWS_PER_DATE; i++) rs.push({ ...rs[0], dau: i });
    });
    expectFailure(rows, "rows_per_date", "target_date");
  });

  it("app_name_set, data_source_set, segment_set: the value sets must match exactly", () => {
    expectFailure(
      mutate((rows) => (rows[7].app_name = "fenix_android")),
      "app_name_set",
      "app_name",
    );
    expectFailure(
      mutate((rows) => (rows[7].data_source = "legacy_desktop")),
      "data_source_set",
      "data_source",
    );
    expectFailure(
      mutate((rows) => {
        for (const r of rows) if (r.segment === '{"os": "winX"}') r.segment = '{"os": "win10"}';
      }),
      "segment_set",
      "segment",
    );
    // With every key expected, the desktop-only frame misses the mobile apps and sources.
    const all = checkOutput(frame(), ctx({ specs: QUERY_SPECS })).map((f) => f.rule);
    expect(all).toContain("app_name_set");
    expect(all).toContain("data_source_set");
  });

  it("nulls_per_key: a training date without a value fails", () => {
    const f = expectFailure(
      mutate((rows) => {
        for (const r of rows) if (r.target_date === "2023-04-25") r.dau = null;
      }),
      "nulls_per_key",
      "dau",
    );
    expect(f.message).toMatch(/glean_desktop DAU.*2023-04-25/);
  });

  it("duplicates: two rows with the same non-metric columns fail", () => {
    const f = expectFailure(
      mutate((rows) => rows.push({ ...rows[10], dau: 1 })),
      "duplicates",
      "forecast_start_date,forecast_run_timestamp,mozaic_hash,data_source,target_date,data_type,country,app_name,segment",
    );
    expect(f.example?.dau).toBe(1);
  });
});
