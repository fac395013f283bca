import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiResponse, handleApi } from "../../functions/console/api.ts";
import { buildConsoleAssets } from "../../functions/console/assets.ts";
import { clearLedgerCache } from "../../shared/console/cache.ts";
import { registry } from "../fixtures/twin/registry.ts";
import { CAUSEMOS_RUN, OUTPUT_DAY, seedOutputs } from "./outputs-fixture.ts";
import { type ReadOnlyConsole, readOnlyConsole, resetCounts, seedYear } from "./year-fixture.ts";

/**
 * The console API on a state directory with a year of runs (and one with 60 days): results, errors, and the
 * number of object-store calls each route makes, which must not grow with the number of runs.
 */

const NOW = new Date("2025-01-01T12:00:00Z");
/** The ledger the behaviour tests read: 60 days (the year is for comparing store calls). */
const DAYS = 60;

async function call(c: ReadOnlyConsole, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const [p, q = ""] = path.split("?");
  return handleApi(c.deps, {
    method,
    path: p,
    query: Object.fromEntries(new URLSearchParams(q)),
    body,
    user: "tester@example.org",
  });
}

const json = <T>(r: ApiResponse) => r.json as T;

describe("console API over a year of runs", () => {
  let year: ReadOnlyConsole;
  let small: ReadOnlyConsole;

  beforeAll(async () => {
    year = readOnlyConsole(registry, NOW);
    small = readOnlyConsole(registry, NOW);
    await Promise.all([
      seedYear(year.ledger, ["demo"], NOW, 365),
      seedYear(small.ledger, ["demo"], NOW, DAYS),
    ]);
    await seedOutputs(small.data, small.ledger);
  }, 120_000);
  afterAll(async () => {
    for (const c of [year, small]) {
      await c?.close();
      if (c) rmSync(c.stateDir, { recursive: true, force: true });
    }
  });

  it("reads each route with the same store calls for 60 days as for a year (one listing per pipeline)", async () => {
    const routes = [
      "/overview",
      "/partitions?pipeline=demo",
      "/partitions?pipeline=demo&state=failed&from=2024-03-01&to=2024-06-30",
      "/backfills",
      "/backfills?pipeline=demo",
      "/pipelines",
    ];
    for (const route of routes) {
      const calls = [];
      for (const c of [small, year]) {
        clearLedgerCache();
        resetCounts(c.counts);
        const r = await call(c, "GET", route);
        expect(r.status, route).toBe(200);
        calls.push({ ...c.counts });
      }
      expect(calls[1], route).toEqual(calls[0]);
      expect(calls[1].list, route).toBeLessThanOrEqual(2);
      expect(calls[1].get, route).toBe(0);
    }
    // A run's timeline reads one partition's records, whatever the size of the ledger.
    const calls = [];
    for (const c of [small, year]) {
      clearLedgerCache();
      resetCounts(c.counts);
      expect((await call(c, "GET", "/run?pipeline=demo&partition=2024-12-31")).status).toBe(200);
      calls.push({ ...c.counts });
    }
    expect(calls[1]).toEqual(calls[0]);
  });

  it("counts partitions by state and filters by state, range and text, a page at a time", async () => {
    const all = json<{ counts: Record<string, number>; total: number; rows: { partition: string }[] }>(
      await call(small, "GET", "/partitions?pipeline=demo&limit=50"),
    );
    expect(all.total).toBe(DAYS);
    expect(all.rows).toHaveLength(50);
    expect(all.rows[0].partition).toBe("2024-12-31");
    // Day index n (0 = newest): n%7 retried then succeeded; else n%11 failed; else n%13 cancelled.
    const expected = { succeeded: 0, failed: 0, cancelled: 0 };
    for (let n = 0; n < DAYS; n++) {
      if (n % 7 === 0) expected.succeeded++;
      else if (n % 11 === 0) expected.failed++;
      else if (n % 13 === 0) expected.cancelled++;
      else expected.succeeded++;
    }
    expect(all.counts).toEqual(expected);

    const failed = json<{ total: number; rows: { partition: string; state: string; reason?: string }[] }>(
      await call(small, "GET", "/partitions?pipeline=demo&state=failed&limit=1000"),
    );
    expect(failed.total).toBe(expected.failed);
    expect(failed.rows.every((r) => r.state === "failed" && r.reason?.startsWith("validation failed"))).toBe(
      true,
    );

    const june = json<{ total: number; rows: { partition: string }[] }>(
      await call(small, "GET", "/partitions?pipeline=demo&from=2024-12-01&to=2024-12-31&limit=100"),
    );
    expect(june.total).toBe(31);
    expect(june.rows.every((r) => r.partition.startsWith("2024-12"))).toBe(true);

    const page2 = json<{ offset: number; rows: { partition: string }[] }>(
      await call(small, "GET", "/partitions?pipeline=demo&from=2024-12-01&to=2024-12-31&limit=10&offset=10"),
    );
    expect(page2.rows.map((r) => r.partition)[0]).toBe("2024-12-21");

    const text = json<{ total: number }>(
      await call(small, "GET", "/partitions?pipeline=demo&q=dau%20%3C%200"),
    );
    expect(text.total).toBe(expected.failed);
  });

  it("rejects bad filters with the field at fault", async () => {
    const bad = await call(small, "GET", "/partitions?pipeline=demo&state=exploded");
    expect(bad.status).toBe(400);
    expect(json<{ field: string }>(bad).field).toBe("state");
    const swapped = await call(small, "GET", "/partitions?pipeline=demo&from=2024-06-30&to=2024-06-01");
    expect(swapped.status).toBe(400);
    expect(json<{ fix: string }>(swapped).fix).toContain("swap");
    const missing = await call(small, "GET", "/partitions");
    expect(json<{ field: string }>(missing).field).toBe("pipeline");
    expect((await call(small, "GET", "/partitions?pipeline=nope")).status).toBe(400);
    expect((await call(small, "GET", "/partitions?pipeline=demo&limit=ten")).status).toBe(400);
  });

  it("gives a partition's attempts newest first with their reasons", async () => {
    // 2024-12-31 is day 0: failed once, then succeeded.
    const t = json<{ state: string; attempts: { attempt: number; state: string; reason?: string }[] }>(
      await call(small, "GET", "/run?pipeline=demo&partition=2024-12-31"),
    );
    expect(t.state).toBe("succeeded");
    expect(t.attempts.map((a) => [a.attempt, a.state])).toEqual([
      [2, "succeeded"],
      [1, "failed"],
    ]);
    expect(t.attempts[1].reason).toContain("connection reset");
    expect((await call(small, "GET", "/run?pipeline=demo&partition=2030-01-01")).status).toBe(404);
  });

  it("lists backfills newest first and shows one with its plan", async () => {
    const list = json<{ backfillId: string; state: string }[]>(
      await call(small, "GET", "/backfills?pipeline=demo"),
    );
    expect(list).toHaveLength(DAYS / 30);
    const one = json<{ backfillId: string; partitions: unknown[]; progress: { total: number } }>(
      await call(small, "GET", `/backfill?id=${list[0].backfillId}`),
    );
    expect(one.partitions).toHaveLength(30);
    expect(one.progress.total).toBe(30);
    expect((await call(small, "GET", "/backfill?id=bf-none")).status).toBe(404);
  });

  it("plans a backfill without recording anything, and rejects a bad request with the field", async () => {
    const before = (await small.ledger.listBackfills()).length;
    const r = await call(small, "POST", "/backfill/plan", {
      pipeline: "demo",
      from: "2024-12-20",
      to: "2024-12-31",
      reprocess: "failed",
    });
    expect(r.status).toBe(200);
    const { plan, requestId } = json<{
      requestId: string;
      plan: { counts: Record<string, number>; entries: { partition: string; action: string }[] };
    }>(r);
    expect(requestId).toMatch(/^console-/);
    expect(plan.entries).toHaveLength(12);
    // Days 0..11: day 11 failed (rerun), the others succeeded (skipped).
    expect(plan.counts).toEqual({ run: 0, rerun: 1, skip: 11 });
    expect(plan.entries.find((e) => e.action === "rerun")?.partition).toBe("2024-12-20");
    expect((await small.ledger.listBackfills()).length).toBe(before);

    const bad = await call(small, "POST", "/backfill/plan", {
      pipeline: "demo",
      from: "2024-12-20",
      maxConcurrent: 0,
    });
    expect(bad.status).toBe(400);
    expect(json<{ error: string }>(bad).error).toContain("maxConcurrent");
    const future = await call(small, "POST", "/backfill/plan", { pipeline: "demo", from: "2030-01-01" });
    expect(future.status).toBe(400);
    expect((await call(small, "POST", "/backfill/plan", "not an object")).status).toBe(400);
  });

  it("needs exactly one target to cancel, and a known one", async () => {
    expect((await call(small, "POST", "/cancel", {})).status).toBe(400);
    expect((await call(small, "POST", "/cancel", { backfillId: "a", runId: "b" })).status).toBe(400);
    const none = await call(small, "POST", "/cancel", { backfillId: "bf-nothing-here" });
    expect(none.status).toBe(400);
    expect(json<{ error: string }>(none).error).toContain("no backfill");
    expect((await call(small, "POST", "/cancel", { runId: "no-such-run" })).status).toBe(400);
  });

  it("answers 404 for an unknown route and 405 for a wrong method", async () => {
    expect((await call(small, "GET", "/nothing")).status).toBe(404);
    expect((await call(small, "POST", "/overview")).status).toBe(405);
  });

  it("shows outputs: succeeded partitions, fan charts, causemos timeseries and tiles, TAAR and mozaggregator", async () => {
    const out = json<Record<string, string[]>>(await call(small, "GET", "/outputs"));
    expect(out["mozaic-daily"]).toEqual([OUTPUT_DAY]);
    expect(out.causemos).toEqual([CAUSEMOS_RUN]);
    expect(Object.keys(json(await call(small, "GET", "/outputs?kind=causemos")) as object)).toEqual([
      "causemos",
    ]);
    expect((await call(small, "GET", "/outputs?kind=nope")).status).toBe(400);
    const charts = json<{ charts: { source: string; metric: string; country: string; path: string }[] }>(
      await call(small, "GET", `/outputs/mozaic-daily?date=${OUTPUT_DAY}`),
    );
    expect(charts.charts).toHaveLength(8);
    expect(charts.charts[0]).toMatchObject({ source: "glean_desktop", metric: "dau", country: "ALL" });
    const svg = await call(small, "GET", `/outputs/file?path=${encodeURIComponent(charts.charts[0].path)}`);
    expect(svg.contentType).toBe("image/svg+xml");
    expect(String(svg.body)).toContain("<svg");

    const run = json<{
      summary: Record<string, number>;
      tiles: { path: string; z: number }[];
      timeseries: { path: string }[];
    }>(await call(small, "GET", `/outputs/causemos?partition=${CAUSEMOS_RUN}`));
    expect(run.summary.tiles).toBe(2);
    expect(run.tiles.map((t) => t.z)).toEqual([0, 1]);
    const ts = json<{ columns: string[]; rows: number[][] }>(
      await call(
        small,
        "GET",
        `/outputs/causemos/timeseries?path=${encodeURIComponent(run.timeseries[0].path)}`,
      ),
    );
    expect(ts.columns[0]).toBe("timestamp");
    expect(ts.rows).toHaveLength(12);
    const tile = await call(
      small,
      "GET",
      `/outputs/causemos/tile?path=${encodeURIComponent(run.tiles[0].path)}&stat=weight`,
    );
    expect(tile.contentType).toBe("image/svg+xml");
    expect(String(tile.body)).toContain("<rect");

    const taar = json<{ models: { path: string }[]; steps: { step: string }[] }>(
      await call(small, "GET", `/outputs/taar?date=${OUTPUT_DAY}`),
    );
    expect(taar.models.map((m) => m.path).sort()).toEqual([
      "addon_recommender/only_guids_top_200.json.bz2",
      "taar/locale/top10_dict.json.bz2",
    ]);
    expect(taar.steps.map((s) => s.step)).toEqual(["locale"]);
    const day = json<{ status: { status: string }; manifests: { type: string }[] }>(
      await call(small, "GET", `/outputs/mozaggregator?date=${OUTPUT_DAY}`),
    );
    expect(day.status.status).toBe("loaded");
    expect(day.manifests.map((m) => m.type)).toEqual(["submission"]);
  });

  it("serves only output files: no path escapes, no other kinds", async () => {
    for (const path of ["../secrets.json", "/etc/passwd.json", "a//b.svg", "mozaic-daily/x.bz2", ""]) {
      const r = await call(small, "GET", `/outputs/file?path=${encodeURIComponent(path)}`);
      expect(r.status, path).toBe(400);
    }
    expect((await call(small, "GET", "/outputs/mozaic-daily?date=yesterday")).status).toBe(400);
    expect((await call(small, "GET", "/outputs/causemos?partition=../x")).status).toBe(400);
    expect((await call(small, "GET", "/outputs/file?path=missing%2Fnothing.svg")).status).toBe(404);
  });
});

describe("console assets", () => {
  it("keeps the first page (HTML, script, stylesheet) under 200 KB and the workbench in its own chunk", async () => {
    const assets = await buildConsoleAssets();
    const first = ["index.html", "app.js", "app.css"].map((n) => assets.get(n)?.body.length ?? Number.NaN);
    expect(first.every((n) => n > 0)).toBe(true);
    expect(first.reduce((a, b) => a + b, 0)).toBeLessThan(200 * 1024);
    const html = assets.get("index.html")?.body.toString() ?? "";
    expect(html).toContain('src="assets/app.js"');
    expect(html).toContain("Skip to content");
    // The workbench (or its placeholder) is loaded on demand, not part of app.js.
    expect([...assets.keys()].some((n) => n.startsWith("chunk-"))).toBe(true);
  });
});
