import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { prophetBaseline } from "../../containers/mmm/baseline.ts";
import { DEMO_CONFIG, hyperparameterRanges, parseJobConfig } from "../../containers/mmm/jobconfig.ts";
import {
  csvRows,
  prepareRows,
  readSourceRows,
  type SnowflakeClient,
  type SnowflakeOptions,
  snowflakeSql,
} from "../../containers/mmm/source.ts";
import type { Warehouse } from "../../shared/adapters/ports.ts";
import { MmmParams, mmm } from "../../shared/pipelines/mmm.ts";
import { teamData } from "../helpers/team-data.ts";
import { tinyConfig } from "./pipeline-helpers.ts";

const rows = () => csvRows(readFileSync(teamData("robyn", "dt_simulated_weekly.csv"), "utf8"));
const noWarehouse = {} as Warehouse;

describe("mmm job config", () => {
  it("applies the original's defaults and upper-cases variable names", () => {
    const c = parseJobConfig({ country: "DE", paid_media_spends: "tv_s, search_s" });
    expect(c.country).toBe("de");
    expect(c.iterations).toBe(2000);
    expect(c.trials).toBe(5);
    expect(c.revision).toBe("api-test");
    expect(c.dep_var).toBe("UPLOAD_VALUE");
    expect(c.adstock).toBe("geometric");
    expect(c.hyperparameter_preset).toBe("Meshed recommend");
    expect(c.paid_media_spends).toEqual(["TV_S", "SEARCH_S"]);
  });

  it("names the field of the first problem", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ paid_media_spends: ["A"] }, "country"],
      [{ country: "DE", paid_media_spends: [] }, "paid_media_spends"],
      [{ country: "DE", paid_media_spends: ["A"], trials: 0 }, "trials"],
      [{ country: "DE", paid_media_spends: ["A"], start_date: "2024/01/01" }, "start_date"],
      [{ country: "DE", paid_media_spends: ["A"], end_date: "2023-01-01" }, "end_date"],
      [{ country: "DE", paid_media_spends: ["A"], adstock: "hill" }, "adstock"],
      [{ country: "DE", paid_media_spends: ["A"], paid_media_vars: ["X", "Y"] }, "paid_media_vars"],
      [{ country: "DE", paid_media_spends: ["A"], bogus: 1 }, "(root)"],
    ];
    for (const [input, field] of bad)
      expect(() => parseJobConfig(input), field).toThrow(new RegExp(`${field.replace(/[()]/g, "\\$&")}`));
  });

  it("builds preset ranges by variable and lets custom ranges override them", () => {
    const c = parseJobConfig({
      country: "de",
      paid_media_spends: ["TV_COST", "SEARCH_S"],
      organic_vars: ["ORGANIC_TRAFFIC"],
      custom_hyperparameters: { search_s_alphas: [0.5, 1] },
    });
    const r = hyperparameterRanges(c);
    expect(r.TV_COST_thetas).toEqual([0.7, 0.95]);
    expect(r.ORGANIC_TRAFFIC_thetas).toEqual([0.9, 0.99]);
    expect(r.SEARCH_S_thetas).toEqual([0.1, 0.4]);
    expect(r.SEARCH_S_alphas).toEqual([0.5, 1]);
    const w = hyperparameterRanges(
      parseJobConfig({ country: "de", paid_media_spends: ["A"], adstock: "weibull_pdf" }),
    );
    expect(w.A_shapes).toEqual([0.5, 2.5]);
    expect(w.A_scales).toEqual([0.001, 0.15]);
    expect(() =>
      hyperparameterRanges(
        parseJobConfig({
          country: "de",
          paid_media_spends: ["A"],
          custom_hyperparameters: { B_alphas: [1, 2] },
        }),
      ),
    ).toThrow(/custom_hyperparameters.B_alphas/);
  });

  it("gives npm start's key-partitioned tick a demo run id and the demo config", () => {
    expect(mmm.partition.fromTick?.(new Date("2026-11-24T10:00:00Z"))).toBe("demo-20261124");
    const p = MmmParams.parse({});
    expect(p.iterations).toBe(DEMO_CONFIG.iterations);
    expect(p.iterations).toBeLessThanOrEqual(500);
    expect(MmmParams.parse(p)).toEqual(p);
  });
});

describe("mmm data preparation", () => {
  it("filters the country, collapses duplicate dates and checks the mapping", () => {
    const base = rows();
    const doubled = [
      ...base.map((r) => ({ ...r, country: "DE" })),
      { ...base[0], country: "DE" },
      ...base.map((r) => ({ ...r, country: "FR" })),
    ];
    const c = parseJobConfig(tinyConfig);
    const f = prepareRows(doubled, c);
    expect(f.dates).toHaveLength(base.length);
    expect(f.columns.REVENUE[0]).toBeCloseTo(2 * (base[0].revenue as number), 3);
    expect(f.columns.REVENUE[1]).toBeCloseTo(base[1].revenue as number, 3);
    expect(() => prepareRows(doubled, parseJobConfig({ ...tinyConfig, country: "IT" }))).toThrow(
      /country "it"/,
    );
    expect(() =>
      prepareRows(base, parseJobConfig({ ...tinyConfig, paid_media_spends: ["radio_S"] })),
    ).toThrow(/RADIO_S/);
  });

  it("resamples to months with per-column strategies", () => {
    const c = parseJobConfig({
      ...tinyConfig,
      resample_freq: "M",
      column_agg_strategies: '{"competitor_sales_B": "mean"}',
    });
    const base = rows();
    const f = prepareRows(base, c);
    const jan2016 = base.filter((r) => String(r.DATE).startsWith("2016-01"));
    const i = f.dates.indexOf("2016-01-01");
    expect(i).toBeGreaterThan(0);
    expect(f.columns.REVENUE[i]).toBeCloseTo(
      jan2016.reduce((s, r) => s + (r.revenue as number), 0),
      3,
    );
    expect(f.columns.COMPETITOR_SALES_B[i]).toBeCloseTo(
      jan2016.reduce((s, r) => s + (r.competitor_sales_B as number), 0) / jan2016.length,
      3,
    );
    expect(() => parseJobConfig({ ...tinyConfig, column_agg_strategies: { x: "median" } })).toThrow(
      /column_agg_strategies/,
    );
  });

  it("builds the Prophet baseline columns from the forecast engine", () => {
    const c = parseJobConfig(tinyConfig);
    const raw = prepareRows(rows(), c);
    const b = prophetBaseline(raw, c.dep_var, c.country);
    expect(b.vars).toEqual(["trend", "season", "holiday"]);
    for (const v of b.vars) expect(b.columns[v]).toHaveLength(raw.dates.length);
    // Yearly seasonality varies; German public holidays land on some weeks only.
    expect(Math.max(...b.columns.season) - Math.min(...b.columns.season)).toBeGreaterThan(0);
    const holidayWeeks = b.columns.holiday.filter((x) => x !== 0).length;
    expect(holidayWeeks).toBeGreaterThan(10);
    expect(holidayWeeks).toBeLessThan(raw.dates.length / 2);
  }, 30_000);
});

describe("mmm Snowflake source", () => {
  it("sends the table read or the query with key-pair auth from the secrets port", async () => {
    const calls: { options: SnowflakeOptions; sql: string }[] = [];
    const fake: SnowflakeClient = {
      async query(options, sql) {
        calls.push({ options, sql });
        return [{ DATE: "2024-01-01", X: 1 }];
      },
    };
    const secrets = {
      get: async (name: string) => (name === "snowflake-private-key" ? "-----KEY-----" : ""),
    };
    const got = await readSourceRows(
      { kind: "snowflake", table: "MMM.PUBLIC.SPEND", warehouse: "WH", role: "ANALYST" },
      {
        warehouse: noWarehouse,
        secrets,
        snowflake: fake,
        env: { SNOWFLAKE_ACCOUNT: "acc-1", SNOWFLAKE_USER: "svc" },
      },
    );
    expect(got).toEqual([{ DATE: "2024-01-01", X: 1 }]);
    expect(calls[0].sql).toBe("SELECT * FROM MMM.PUBLIC.SPEND");
    expect(calls[0].options).toMatchObject({
      account: "acc-1",
      username: "svc",
      authenticator: "SNOWFLAKE_JWT",
      privateKey: "-----KEY-----",
      warehouse: "WH",
      role: "ANALYST",
    });
    expect(snowflakeSql({ kind: "snowflake", query: "select 1;" })).toBe("select 1");
    expect(() => snowflakeSql({ kind: "snowflake", table: "x; drop table y" })).toThrow(/source.table/);
    await expect(
      readSourceRows(
        { kind: "snowflake", table: "A.B.C" },
        { warehouse: noWarehouse, secrets, snowflake: fake, env: {} },
      ),
    ).rejects.toThrow(/account/);
  });

  it("rejects a source with both a table and a query", () => {
    expect(() =>
      parseJobConfig({ ...tinyConfig, source: { kind: "snowflake", table: "A.B.C", query: "select 1" } }),
    ).toThrow(/source/);
  });
});

describe("mmm local training", () => {
  it("runs the workflow's steps in one process and writes the summary", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { createLocalObjects } = await import("../../shared/adapters/local/objects.ts");
    const { createLogger, memorySink } = await import("../../shared/core/log.ts");
    const { trainLocally } = await import("../../containers/mmm/local-train.ts");
    const store = createLocalObjects({ root: mkdtempSync(join(tmpdir(), "mmm-local-")) }).bucket("data");
    const steps: string[] = [];
    const { record, summary } = await trainLocally({
      config: { ...tinyConfig, iterations: 15, trials: 1 },
      rows: rows(),
      store,
      log: createLogger({ sink: memorySink() }),
      onStep: (s) => steps.push(s),
    });
    expect(steps).toEqual(["prepare", "trials", "merge", "done"]);
    expect(summary.candidate_model_count).toBe(15);
    const status = JSON.parse((await store.get(`${record.prefix}status.json`)).toString());
    expect(status.state).toBe("SUCCEEDED");
  }, 30_000);
});
