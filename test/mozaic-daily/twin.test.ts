import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedSources } from "../../containers/mozaic-daily/generate.ts";
import { QUERY_SPECS } from "../../containers/mozaic-daily/queries.ts";
import { checkOutput } from "../../containers/mozaic-daily/validation.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import type { Row } from "../../shared/adapters/ports.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { acceptBackfill } from "../../shared/ops/backfill.ts";
import { backfillStatus } from "../../shared/ops/status.ts";
import { mozaicDaily } from "../../shared/pipelines/mozaic-daily.ts";
import { createRegistry, repoRoot } from "../../shared/pipelines/types.ts";
import { startTwin, type Twin } from "../../shared/runtime/twin.ts";

/**
 * mozaic-daily end to end on the local twin, in testing mode (Desktop Glean DAU) over a small generated data
 * set (US, DE and SE -> ROW, Glean desktop from April 2023): the workflow claims the run, the three jobs run
 * as child processes, the output lands in DuckDB and passes validation; a rerun replaces the same rows; a
 * backfill over a week restricted to Mondays runs exactly the Mondays.
 */
const NOW = new Date("2023-09-13T08:00:00Z");
const DATE = "2023-09-08";
let stateDir: string;
let twin: Twin;

async function readTable(sql: string, params?: Record<string, unknown>): Promise<Row[]> {
  const w = createLocalWarehouse({ path: join(stateDir, "warehouse.duckdb"), lockTimeoutMs: 120_000 });
  try {
    return await w.query(sql, params);
  } finally {
    await w.close();
  }
}

const OUTPUT = "`moz-fx-data-shared-prod.forecasts_derived.mart_mozaic_daily_forecast_v2`";

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "tessera-mozaic-"));
  const w = createLocalWarehouse({ path: join(stateDir, "warehouse.duckdb") });
  await seedSources(w, {
    to: "2023-09-12",
    countries: ["US", "DE", "SE"],
    tables: ["glean_telemetry.active_users_aggregates"],
  });
  await w.close();
  twin = await startTwin({
    registry: createRegistry([mozaicDaily]),
    root: repoRoot(),
    stateDir,
    log: createLogger({ sink: memorySink() }),
    env: { ...process.env, MOZAIC_SAMPLES: "100", MOZAIC_POOL_SIZE: "1" },
    pollSeconds: 0.1,
    backoffScale: 0.01,
    now: () => NOW,
  });
}, 60_000);

afterAll(async () => {
  await twin?.close();
});

async function runOnce(force: boolean) {
  const e = await twin.workflows.execute("mozaic-daily", {
    pipeline: "mozaic-daily",
    partition: DATE,
    params: { testingMode: true },
    force,
  });
  return twin.workflows.wait(e.name);
}

describe("mozaic-daily on the local twin", () => {
  let first: Row[] = [];

  it("runs one date in testing mode: claimed, forecast, validated and published", async () => {
    const done = await runOnce(false);
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    expect(done.result).toMatchObject({ partition: DATE, testingMode: true, forecastTasks: 1 });
    first = await readTable(`SELECT * FROM ${OUTPUT} WHERE forecast_start_date = @d`, { d: DATE });
    expect(first.length).toBeGreaterThan(1000);
    const failures = checkOutput(first, {
      forecastStartDate: DATE,
      trainingEndDate: "2023-09-07",
      forecastEndDate: "2024-12-31",
      testingMode: true,
      specs: QUERY_SPECS.filter((s) => s.source === "glean_desktop" && s.metric === "DAU"),
    });
    expect(failures).toEqual([]);
    expect(new Set(first.map((r) => r.country))).toEqual(new Set(["ALL", "DE", "ROW", "US"]));
    const plots = readdirSync(
      join(stateDir, "objects", "tessera-data", "mozaic-daily", DATE, "plots", "glean_desktop"),
    );
    expect(plots).toContain("dau.ALL.svg");
    expect(
      readFileSync(
        join(
          stateDir,
          "objects",
          "tessera-data",
          "mozaic-daily",
          DATE,
          "plots",
          "glean_desktop",
          "dau.ALL.svg",
        ),
        "utf8",
      ),
    ).toMatch(/^<svg/);
    const log = await readTable("SELECT * FROM `p.forecasts_derived.mozaic_daily_run_log`");
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ forecast_start_date: DATE, testing_mode: true, rows: first.length });
    expect(String(log[0].mozaic_hash)).toMatch(/^[0-9a-f]{40}$/);
  }, 120_000);

  it("reruns the date: the same rows, no duplicates, two run-log entries", async () => {
    const done = await runOnce(true);
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    const again = await readTable(`SELECT * FROM ${OUTPUT} WHERE forecast_start_date = @d`, { d: DATE });
    expect(again.length).toBe(first.length);
    const key = (r: Row) =>
      `${r.data_source}|${r.target_date}|${r.data_type}|${r.country}|${r.app_name}|${r.segment}|${r.dau}`;
    expect(again.map(key).sort()).toEqual(first.map(key).sort());
    const [dups] = await readTable(
      `SELECT COUNT(*) AS n FROM (SELECT target_date, data_source, data_type, country, app_name, segment, COUNT(*) AS c FROM ${OUTPUT} GROUP BY ALL HAVING c > 1)`,
    );
    expect(Number(dups.n)).toBe(0);
    const log = await readTable(
      "SELECT forecast_run_timestamp FROM `p.forecasts_derived.mozaic_daily_run_log`",
    );
    expect(log).toHaveLength(2);
  }, 120_000);

  it("backfills a week (Tuesday to Monday) with weekday monday: exactly the Monday runs", async () => {
    const outcome = await acceptBackfill(twin.ctx, {
      pipeline: "mozaic-daily",
      from: "2023-08-29",
      to: "2023-09-04",
      weekdays: ["monday"],
      maxConcurrent: 2,
      params: { testingMode: true },
      requestId: "mondays",
    });
    expect(outcome.action).toBe("started");
    const backfillId = outcome.plan.backfillId;
    expect(outcome.plan.entries.map((e) => e.partition)).toEqual(["2023-09-04"]);
    const started = Date.now();
    for (;;) {
      const s = await backfillStatus(twin.ctx, backfillId);
      if (s?.driver && s.driver.state !== "ACTIVE") break;
      if (Date.now() - started > 170_000) throw new Error("backfill did not finish");
      await new Promise((r) => setTimeout(r, 200));
    }
    const status = await backfillStatus(twin.ctx, backfillId);
    expect(status?.partitions.map((p) => [p.partition, p.state])).toEqual([["2023-09-04", "succeeded"]]);
    const children = await twin.workflows.list({
      workflow: "mozaic-daily",
      labels: { backfill_id: backfillId },
    });
    const args = await Promise.all(
      children.map(async (c) => (await twin.workflows.get(c.name)).argument as { partition?: string }),
    );
    expect(args.map((a) => a?.partition)).toEqual(["2023-09-04"]);
    const dates = await readTable(
      `SELECT DISTINCT CAST(forecast_start_date AS STRING) AS d FROM ${OUTPUT} ORDER BY d`,
    );
    expect(dates.map((r) => r.d)).toEqual(["2023-09-04", DATE]);
  }, 180_000);
  it("fails a date whose data has not landed, without retrying, naming the latest usable date", async () => {
    const w = createLocalWarehouse({ path: join(stateDir, "warehouse.duckdb"), lockTimeoutMs: 120_000 });
    await w.query(
      "DELETE FROM `moz-fx-data-shared-prod.glean_telemetry.active_users_aggregates` WHERE submission_date > '2023-09-05'",
    );
    await w.close();
    const jobsDir = join(stateDir, "jobs", "mozaic-daily-extract");
    const before = readdirSync(jobsDir).filter((f) => f.endsWith(".json")).length;
    const e = await twin.workflows.execute("mozaic-daily", {
      pipeline: "mozaic-daily",
      partition: "2023-09-12",
      params: { testingMode: true },
    });
    const done = await twin.workflows.wait(e.name);
    expect(done.state).toBe("FAILED");
    expect(JSON.stringify(done.error)).toMatch(/latest usable forecastStartDate is 2023-09-06/);
    expect(readdirSync(jobsDir).filter((f) => f.endsWith(".json")).length - before).toBe(1);
    const state = await twin.ctx.ledger.partitionState("mozaic-daily", "2023-09-12");
    expect(state?.state).toBe("failed");
  }, 120_000);
});
