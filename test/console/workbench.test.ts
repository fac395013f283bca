import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trainLocally } from "../../containers/mmm/local-train.ts";
import type { SnowflakeClient, SnowflakeOptions } from "../../containers/mmm/source.ts";
import {
  handleWorkbench,
  type WorkbenchDeps,
  type WorkbenchResponse,
} from "../../functions/console/workbench/api.ts";
import { localSecretWriter } from "../../functions/console/workbench/secrets.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLocalSecrets } from "../../shared/adapters/local/secrets.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import type { Row, Warehouse } from "../../shared/adapters/ports.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import type { OpsContext } from "../../shared/ops/context.ts";
import { teamData } from "../helpers/team-data.ts";

/**
 * The workbench API route by route, over real local adapters (objects, DuckDB with Robyn's demo data, the
 * secrets file) and a fake at the snowflake-sdk boundary; `train` publishes to a recording message bus.
 */

const dir = mkdtempSync(join(tmpdir(), "tessera-workbench-"));
const secretsFile = join(dir, "secrets.json");
const published: { topic: string; data: Record<string, unknown> }[] = [];
const snowflakeCalls: { options: SnowflakeOptions; sql: string }[] = [];
let demoRows: Row[] = [];
const snowflake: SnowflakeClient = {
  async query(options, sql) {
    snowflakeCalls.push({ options, sql });
    return demoRows;
  },
};
const ctx = {
  messages: {
    publish: async (topic: string, data: Record<string, unknown>) => {
      published.push({ topic, data });
      return "1";
    },
  },
  ledger: { partitionState: async () => undefined },
} as unknown as OpsContext;
let warehouse: Warehouse;
let deps: WorkbenchDeps;

async function call(method: string, path: string, body?: unknown, query: Record<string, string> = {}) {
  const r: WorkbenchResponse = await handleWorkbench(
    { method, path, query, body, user: "test@example.com" },
    { ctx, workbench: deps },
  );
  return { ...r, json: r.json as Record<string, any> };
}

const csv = teamData("robyn", "dt_simulated_weekly.csv").replaceAll("'", "''");
const mapping = {
  date_var: "DATE",
  dep_var: "REVENUE",
  paid_media_spends: ["TV_S", "OOH_S", "PRINT_S", "FACEBOOK_S", "SEARCH_S"],
  context_vars: ["COMPETITOR_SALES_B"],
  organic_vars: ["NEWSLETTER"],
};
const config = {
  ...mapping,
  country: "de",
  revision: "wb",
  start_date: "2016-01-04",
  end_date: "2018-12-31",
  iterations: 15,
  trials: 2,
  source: { kind: "warehouse", table: "mmm.demo_weekly" },
};

beforeAll(async () => {
  warehouse = createLocalWarehouse({ path: join(dir, "warehouse.duckdb"), releaseAfterMs: 0 });
  await warehouse.query("CREATE SCHEMA IF NOT EXISTS mmm");
  await warehouse.query(
    `CREATE TABLE mmm.demo_weekly AS SELECT 'DE' AS COUNTRY, * FROM read_csv_auto('${csv}', header = true)`,
  );
  // A copy with a constant spend and gaps in the newsletter: the review's warnings.
  await warehouse.query(
    `CREATE TABLE mmm.flawed AS SELECT COUNTRY, DATE, revenue, tv_S, 0.0 AS radio_S, competitor_sales_B,
       CASE WHEN DATE < '2016-06-01' THEN NULL ELSE newsletter END AS newsletter FROM mmm.demo_weekly`,
  );
  await warehouse.query("CREATE TABLE mmm.flat AS SELECT * REPLACE (1.0 AS revenue) FROM mmm.demo_weekly");
  demoRows = await warehouse.query("SELECT * EXCLUDE (COUNTRY) FROM mmm.demo_weekly");
  deps = {
    store: createLocalObjects({ root: join(dir, "objects") }).bucket("data"),
    warehouse,
    secrets: createLocalSecrets({ env: {}, file: secretsFile }),
    secretWriter: localSecretWriter(secretsFile),
    snowflake,
    env: { SNOWFLAKE_ACCOUNT: "acme-xy12345", SNOWFLAKE_USER: "MMM_APP" },
  };
}, 60_000);

afterAll(async () => {
  await warehouse.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("workbench API: connect data", () => {
  it("GET /sources lists warehouse tables, the presets and whether a Snowflake key is stored", async () => {
    const r = await call("GET", "/sources");
    expect(r.status).toBe(200);
    expect(r.json.warehouse.tables).toEqual(expect.arrayContaining(["mmm.demo_weekly", "mmm.flawed"]));
    expect(r.json.snowflake).toMatchObject({ key_stored: false, account: "acme-xy12345", user: "MMM_APP" });
    expect(r.json.presets).toEqual(["Meshed recommend", "Facebook recommend", "Custom"]);
    expect(r.json.rules.join(" ")).toMatch(/SKIPPED/);
  });

  it("POST /secrets/snowflake stores the key once and answers only its fingerprint", async () => {
    expect((await call("POST", "/secrets/snowflake", {})).json.field).toBe("privateKey");
    const junk = await call("POST", "/secrets/snowflake", { privateKey: "hello" });
    expect([junk.status, junk.json.field]).toEqual([400, "privateKey"]);
    const bogus = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    expect((await call("POST", "/secrets/snowflake", { privateKey: bogus })).json.field).toBe("privateKey");
    expect((await call("POST", "/secrets/snowflake", "text")).json.field).toBe("body");

    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const r = await call("POST", "/secrets/snowflake", { privateKey: pem });
    expect(r.status).toBe(200);
    expect(r.json.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}=$/);
    expect(JSON.stringify(r.json)).not.toContain("PRIVATE KEY");
    expect(JSON.parse(readFileSync(secretsFile, "utf8"))["snowflake-private-key"]).toBe(pem);
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
    const s = await call("GET", "/sources");
    expect(s.json.snowflake).toMatchObject({ key_stored: true, fingerprint: r.json.fingerprint });
    expect(JSON.stringify(s.json)).not.toContain("PRIVATE KEY");
  });

  it("POST /preview reads a warehouse table: column types, counts, countries, range and role suggestions", async () => {
    const r = await call("POST", "/preview", { source: { kind: "warehouse", table: "mmm.demo_weekly" } });
    expect(r.status).toBe(200);
    expect(r.json.rows).toBe(208);
    expect(r.json.countries).toEqual(["de"]);
    expect(r.json.date_range).toEqual({ start: "2015-11-23", end: "2019-11-11" });
    const col = (n: string) => r.json.columns.find((c: { name: string }) => c.name === n);
    expect(col("DATE").type).toBe("date");
    expect(col("TV_S").type).toBe("number");
    expect(col("EVENTS").type).toBe("text");
    expect(r.json.suggestions).toEqual({
      COUNTRY: "ignore",
      DATE: "date",
      REVENUE: "dep_var",
      TV_S: "paid_media_spends",
      OOH_S: "paid_media_spends",
      PRINT_S: "paid_media_spends",
      FACEBOOK_I: "paid_media_vars",
      SEARCH_CLICKS_P: "paid_media_vars",
      SEARCH_S: "paid_media_spends",
      COMPETITOR_SALES_B: "context_vars",
      FACEBOOK_S: "paid_media_spends",
      EVENTS: "factor_vars",
      NEWSLETTER: "organic_vars",
    });
    expect(r.json.head).toHaveLength(5);
  });

  it("POST /preview reads Snowflake through snowflake-sdk with key-pair auth from the stored key", async () => {
    const stored = JSON.parse(readFileSync(secretsFile, "utf8"))["snowflake-private-key"];
    const t = await call("POST", "/preview", {
      source: { kind: "snowflake", table: "MMM.PUBLIC.WEEKLY", warehouse: "WH", role: "ANALYST" },
    });
    expect(t.status).toBe(200);
    expect(t.json.rows).toBe(208);
    const last = snowflakeCalls.at(-1) as { options: SnowflakeOptions; sql: string };
    expect(last.sql).toBe("SELECT * FROM MMM.PUBLIC.WEEKLY");
    expect(last.options).toMatchObject({
      account: "acme-xy12345",
      username: "MMM_APP",
      authenticator: "SNOWFLAKE_JWT",
      warehouse: "WH",
      role: "ANALYST",
      privateKey: stored,
    });
    expect(JSON.stringify(t.json)).not.toContain("PRIVATE KEY");
    await call("POST", "/preview", {
      source: { kind: "snowflake", query: "select * from weekly where country = 'DE';", account: "other" },
    });
    expect(snowflakeCalls.at(-1)?.sql).toBe("select * from weekly where country = 'DE'");
    expect(snowflakeCalls.at(-1)?.options.account).toBe("other");
  });

  it("POST /preview names the bad field of a source", async () => {
    const cases: [unknown, string][] = [
      [{}, "source"],
      [{ source: { kind: "ftp" } }, "source.kind"],
      [{ source: { kind: "warehouse", table: "no dots" } }, "source.table"],
      [{ source: { kind: "warehouse", table: "mmm.missing" } }, "source.table"],
      [{ source: { kind: "snowflake", table: "A.B.C", query: "select 1" } }, "source"],
      [{ source: { kind: "snowflake", table: "bad name!" } }, "source.table"],
    ];
    for (const [body, field] of cases) {
      const r = await call("POST", "/preview", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.field, JSON.stringify(r.json)).toBe(field);
    }
    const noUser = { ...deps, env: {} };
    const r = await handleWorkbench(
      {
        method: "POST",
        path: "/preview",
        query: {},
        body: { source: { kind: "snowflake", table: "A.B.C" } },
        user: "u",
      },
      { ctx, workbench: noUser },
    );
    expect((r.json as { field: string }).field).toBe("source.account");
  });
});

describe("workbench API: review, validate, train", () => {
  it("POST /review gives statistics of the mapped variables and no skip on the demo data", async () => {
    const r = await call("POST", "/review", { config });
    expect(r.status).toBe(200);
    expect(r.json.window).toEqual({ start: "2016-01-04", end: "2018-12-31", rows: 157 });
    expect(r.json.skip).toBeNull();
    expect(r.json.problem).toBeNull();
    expect(r.json.warnings).toEqual([]);
    const tv = r.json.stats.find((s: { name: string }) => s.name === "TV_S");
    expect(tv).toMatchObject({ role: "paid_media_spends", n: 157, missing: 0 });
    expect(tv.sd).toBeGreaterThan(0);
    expect(tv.min).toBeLessThanOrEqual(tv.mean);
    expect(r.json.rules.length).toBeGreaterThan(2);
  });

  it("POST /review warns about zero variance and missing values, and shows the skip decision", async () => {
    const flawed = {
      ...config,
      paid_media_spends: ["TV_S", "RADIO_S"],
      source: { kind: "warehouse", table: "mmm.flawed" },
    };
    const r = await call("POST", "/review", { config: flawed });
    expect(r.status).toBe(200);
    const kinds = r.json.warnings.map((w: { column: string; kind: string }) => `${w.column}:${w.kind}`);
    expect(kinds).toEqual(
      expect.arrayContaining(["RADIO_S:zero_variance", "RADIO_S:no_spend", "NEWSLETTER:missing"]),
    );
    expect(r.json.skip).toBeNull();
    const skip = await call("POST", "/review", {
      config: { ...config, source: { kind: "warehouse", table: "mmm.flat" } },
    });
    expect(skip.json.skip).toMatch(/REVENUE has 1 distinct value/);
    const absent = await call("POST", "/review", { config: { ...config, context_vars: ["WEATHER"] } });
    expect(absent.json.problem.message).toMatch(/WEATHER/);
    expect(absent.json.warnings.map((w: { kind: string }) => w.kind)).toContain("absent");
    const bad = await call("POST", "/review", { config: { ...config, paid_media_spends: [] } });
    expect([bad.status, bad.json.field]).toEqual([400, "paid_media_spends"]);
  });

  it("POST /validate validates exactly as the API's train and answers the hyperparameter ranges", async () => {
    const r = await call("POST", "/validate", { config });
    expect(r.status).toBe(200);
    expect(r.json.config.country).toBe("de");
    expect(r.json.ranges.TV_S_thetas).toEqual([0.1, 0.4]);
    expect(Object.keys(r.json.ranges)).toHaveLength(6 * 3);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...config, country: undefined }, "country"],
      [{ ...config, iterations: 0 }, "iterations"],
      [{ ...config, iterations: 10_001 }, "iterations"],
      [{ ...config, trials: 21 }, "trials"],
      [{ ...config, start_date: "2016-13-45x" }, "start_date"],
      [{ ...config, end_date: "2015-01-01" }, "end_date"],
      [{ ...config, budget_scenario: "max_everything" }, "budget_scenario"],
      [
        { ...config, custom_hyperparameters: { TV_S_thetas: [0.5, 0.1] }, hyperparameter_preset: "Custom" },
        "custom_hyperparameters.TV_S_thetas",
      ],
    ];
    for (const [c, field] of cases) {
      const v = await call("POST", "/validate", { config: c });
      expect(v.status, field).toBe(400);
      expect(v.json.field).toBe(field);
      expect(v.json.error).toContain(field);
    }
  });

  it("POST /train queues through the mmm API's queue: the first run starts, the next waits", async () => {
    const a = await call("POST", "/train", { config: { ...config, queue: "wb" } });
    expect(a.status).toBe(202);
    expect(a.json.job_id).toMatch(/^api-job-de-/);
    const tick = published.find((p) => p.data.partition === a.json.job_id);
    expect(tick?.topic).toBe("tessera-schedule-ticks");
    expect(tick?.data).toMatchObject({
      pipeline: "mmm",
      params: { country: "de", iterations: 15, queue: "wb" },
    });
    const b = await call("POST", "/train", { config: { ...config, queue: "wb" } });
    expect(b.json.state).toBe("QUEUED");
    expect(published.some((p) => p.data.partition === b.json.job_id)).toBe(false);
    const bad = await call("POST", "/train", { config: { ...config, trials: 0 } });
    expect([bad.status, bad.json.field]).toEqual([400, "trials"]);
    const runs = await call("GET", "/runs");
    const ids = runs.json.runs.map((r: { run_id: string }) => r.run_id);
    expect(ids).toEqual(expect.arrayContaining([a.json.job_id, b.json.job_id]));
    const rb = runs.json.runs.find((r: { run_id: string }) => r.run_id === b.json.job_id);
    expect(rb).toMatchObject({ state: "QUEUED", country: "de", iterations: 15, trials: 2 });
  });
});

describe("workbench API: results and best models", () => {
  let best = "";
  beforeAll(async () => {
    const { summary } = await trainLocally({
      config: { ...config, budget_scenario: "target_efficiency" },
      store: deps.store,
      log: createLogger({ sink: memorySink() }),
      runId: "wb-done",
      warehouse,
    });
    best = (summary.best_model as { model_id: string }).model_id;
  }, 60_000);

  it("GET /runs/<id> gives status, summary, allocator and artifact names", async () => {
    const r = await call("GET", "/runs/wb-done");
    expect(r.status).toBe(200);
    expect(r.json.status.state).toBe("SUCCEEDED");
    expect(r.json.summary.best_model.model_id).toBe(best);
    expect(r.json.allocator.scenario).toBe("target_efficiency");
    expect(r.json.files).toEqual(expect.arrayContaining([`${best}.png`, `${best}.svg`, "pareto_front.svg"]));
    expect((await call("GET", "/runs/nope")).status).toBe(404);
  });

  it("GET /runs/<id>/candidates sorts by NRMSE or DECOMP.RSSD and filters Pareto models", async () => {
    const n = await call("GET", "/runs/wb-done/candidates", undefined, { sort: "nrmse", limit: "500" });
    expect(n.json.total).toBe(30);
    const nr = n.json.candidates.map((c: { nrmse: number }) => c.nrmse);
    expect(nr).toEqual([...nr].sort((a, b) => a - b));
    const d = await call("GET", "/runs/wb-done/candidates", undefined, { sort: "decomp_rssd", dir: "desc" });
    const dr = d.json.candidates.map((c: { decomp_rssd: number }) => c.decomp_rssd);
    expect(dr).toEqual([...dr].sort((a, b) => b - a));
    const p = await call("GET", "/runs/wb-done/candidates", undefined, { pareto: "1" });
    expect(p.json.total).toBeGreaterThan(0);
    expect(p.json.candidates.every((c: { pareto_front: number }) => c.pareto_front > 0)).toBe(true);
    const bad = await call("GET", "/runs/wb-done/candidates", undefined, { sort: "r2" });
    expect([bad.status, bad.json.field]).toEqual([400, "sort"]);
  });

  it("GET /runs/<id>/curves gives each paid channel's response curve and mean spend", async () => {
    const r = await call("GET", "/runs/wb-done/curves", undefined, { model: best });
    expect(r.status).toBe(200);
    expect(r.json.channels.map((c: { name: string }) => c.name)).toEqual(mapping.paid_media_spends);
    for (const c of r.json.channels) {
      expect(c.points).toHaveLength(31);
      expect(c.points[10][0]).toBeCloseTo(c.mean_spend, 6);
      expect(c.points[10][1]).toBeCloseTo(c.mean_response, 6);
      for (let i = 1; i < c.points.length; i++)
        expect(c.points[i][1]).toBeGreaterThanOrEqual(c.points[i - 1][1]);
    }
    const bad = await call("GET", "/runs/wb-done/curves", undefined, { model: "9_9_9" });
    expect([bad.status, bad.json.field]).toEqual([404, "model"]);
  });

  it("GET /runs/<id>/files/<name> serves the one-pager PNG and refuses other paths", async () => {
    const png = await call("GET", `/runs/wb-done/files/${best}.png`);
    expect(png.status).toBe(200);
    expect(png.contentType).toBe("image/png");
    expect(
      Buffer.from(png.body as Uint8Array)
        .subarray(1, 4)
        .toString(),
    ).toBe("PNG");
    const svg = await call("GET", "/runs/wb-done/files/pareto_front.svg");
    expect(svg.contentType).toBe("image/svg+xml");
    expect((await call("GET", "/runs/wb-done/files/..%2Fprepared.json")).json.field).toBe("name");
    expect((await call("GET", "/runs/wb-done/files/run.sh")).json.field).toBe("name");
    expect((await call("GET", "/runs/wb-done/files/missing.png")).status).toBe(404);
  });

  it("GET /countries and /countries/<cc> give each country's best model per run over time", async () => {
    expect((await call("GET", "/countries")).json.countries).toEqual(["de"]);
    const r = await call("GET", "/countries/de");
    expect(r.json.runs).toHaveLength(1);
    expect(r.json.runs[0]).toMatchObject({ run_id: "wb-done", revision: "wb" });
    expect(r.json.best_model_overall.model_id).toBe(best);
    expect((await call("GET", "/countries/fr")).status).toBe(404);
    expect((await call("GET", "/countries/deu")).json.field).toBe("country");
  });

  it("answers 404 for unknown routes and methods", async () => {
    expect((await call("GET", "/nothing")).status).toBe(404);
    expect((await call("DELETE", "/runs/wb-done")).status).toBe(404);
    expect((await call("GET", "/train")).status).toBe(404);
  });
});

describe("workbench mapping: roles to the job config", () => {
  it("pairs exposures with their spends in order, adds factors to context, and names each problem", async () => {
    const { rolesToConfig, suggestRoles } = await import("../../functions/console/workbench/mapping.ts");
    const roles = {
      DATE: "date",
      REVENUE: "dep_var",
      TV_S: "paid_media_spends",
      SEARCH_S: "paid_media_spends",
      SEARCH_CLICKS_P: "paid_media_vars",
      EVENTS: "factor_vars",
      NEWSLETTER: "organic_vars",
      COUNTRY: "ignore",
    } as const;
    const r = rolesToConfig({ ...roles });
    expect(r).toEqual({
      ok: true,
      value: {
        date_var: "DATE",
        dep_var: "REVENUE",
        paid_media_spends: ["TV_S", "SEARCH_S"],
        paid_media_vars: ["TV_S", "SEARCH_CLICKS_P"],
        organic_vars: ["NEWSLETTER"],
        context_vars: ["EVENTS"],
        factor_vars: ["EVENTS"],
      },
    });
    expect(rolesToConfig({ ...roles, DATE: "ignore" })).toMatchObject({ ok: false, field: "date" });
    expect(rolesToConfig({ ...roles, NEWSLETTER: "dep_var" })).toMatchObject({ ok: false, field: "dep_var" });
    expect(rolesToConfig({ ...roles, TV_S: "ignore", SEARCH_S: "ignore" })).toMatchObject({
      ok: false,
      field: "paid_media_spends",
    });
    expect(rolesToConfig({ ...roles, RADIO_I: "paid_media_vars" })).toMatchObject({
      ok: false,
      field: "RADIO_I",
    });
    expect(rolesToConfig({ ...roles, SEARCH_I: "paid_media_vars" })).toMatchObject({
      ok: false,
      field: "SEARCH_I",
    });
    // Type decides where the name does not: a date-typed column of another name, a lone number as dep_var.
    const s = suggestRoles([
      { name: "WHEN", type: "date", distinct: 10, missing: 0, sample: [] },
      { name: "KPI", type: "number", distinct: 10, missing: 0, sample: [] },
      { name: "RADIO_COST", type: "number", distinct: 10, missing: 0, sample: [] },
      { name: "RADIO_GRPS", type: "number", distinct: 10, missing: 0, sample: [] },
      { name: "FLAG", type: "text", distinct: 1, missing: 0, sample: [] },
    ]);
    expect(s).toEqual({
      WHEN: "date",
      KPI: "dep_var",
      RADIO_COST: "paid_media_spends",
      RADIO_GRPS: "paid_media_vars",
      FLAG: "ignore",
    });
  });
});
