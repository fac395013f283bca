import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiDeps, runStatus, train } from "../../containers/mmm/api.ts";
import { readRunRecord } from "../../containers/mmm/run.ts";
import { type HostedFunction, hostFunction, stopFunction } from "../../shared/runtime/functions-host.ts";
import type { Twin } from "../../shared/runtime/twin.ts";
import { mmmTwin, tinyConfig } from "./pipeline-helpers.ts";

let twin: Twin;
let deps: ApiDeps;
let api: HostedFunction;

beforeAll(async () => {
  ({ twin, deps } = await mmmTwin());
  const { setMmmApiDeps } = await import("../../functions/mmm/index.ts");
  setMmmApiDeps(deps);
  api = await hostFunction("mmm-api", "mmmApi");
}, 60_000);

afterAll(async () => {
  await stopFunction(api);
  await twin.close();
});

describe("mmm API on the local twin", () => {
  it("trains: train -> status progresses -> SUCCEEDED -> metadata returns the summary", async () => {
    const r = await request(api.url).post("/").query({ api: "train" }).send(tinyConfig);
    expect(r.status).toBe(202);
    expect(r.body.status).toBe("success");
    expect(typeof r.body.timestamp).toBe("string");
    const id = r.body.data.job_id as string;
    expect(id).toMatch(/^api-job-de-/);
    const seen = new Set<string>();
    let last: Record<string, unknown> = {};
    const deadline = Date.now() + 100_000;
    while (Date.now() < deadline) {
      const s = await request(api.url).get("/").query({ api: "status", job_id: id });
      expect(s.status).toBe(200);
      last = s.body.data;
      seen.add(`${last.state}:${last.step ?? ""}`);
      if (last.state === "FAILED" || (last.state === "SUCCEEDED" && last.execution !== "running")) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(last.state, JSON.stringify(last)).toBe("SUCCEEDED");
    expect(last.progress).toBe(1);
    expect(last.execution).toBe("succeeded");
    expect([...seen].some((s) => s.startsWith("RUNNING") || s.startsWith("QUEUED"))).toBe(true);

    const m = await request(api.url).get("/").query({ api: "metadata", country: "de" });
    expect(m.status).toBe(200);
    const summary = m.body.data.model_summary;
    expect(summary.run_id).toBe(id);
    expect(summary.candidate_model_count).toBe(40);
    expect(summary.pareto_model_count).toBeGreaterThan(0);
    expect(summary.best_model.nrmse).toBeGreaterThan(0);
    expect(m.body.data.mapping.paid_media_spends).toEqual([
      "TV_S",
      "OOH_S",
      "PRINT_S",
      "FACEBOOK_S",
      "SEARCH_S",
    ]);

    // The artifacts tree as the original's: status, summary, best id, one-pager SVGs, allocator metrics.
    const store = deps.store;
    const prefix = `robyn/test/de/${summary.timestamp}/`;
    const names = (await store.list(prefix)).map((o) => o.name.slice(prefix.length));
    for (const f of [
      "status.json",
      "model_summary.json",
      "best_model_id.txt",
      "allocator_metrics.csv",
      "pareto_front.svg",
    ])
      expect(names).toContain(f);
    expect(names).toContain(`${summary.best_model.model_id}.svg`);
    expect(names).toContain(`${summary.best_model.model_id}.png`);
    expect(names).toContain("pareto_front.png");
    const parquet = await store.get(`${prefix}all_candidates.parquet`);
    expect(parquet.subarray(0, 4).toString()).toBe("PAR1");
    const svg = (await store.get(`${prefix}${summary.best_model.model_id}.svg`)).toString();
    expect(svg).toContain("Actual vs fitted");
    expect(await store.exists("model_summary/de/summary.json")).toBe(true);
  }, 120_000);

  it("records FAILED with the step and message, SKIPPED by the skip rules, and starts the next queued run when one ends with no API call in between (run events -> mmm-queue)", async () => {
    // A: a context variable the data lacks: prepare fails, the except branch runs the fail job.
    // B: a dependent variable the data lacks: the original's skip rule, SKIPPED and the run succeeds.
    // Each run's end is a run event, and the mmm-queue function starts the next run of the queue.
    const config = { ...tinyConfig, queue: "twin-q" };
    const a = await train(deps, { ...config, context_vars: ["weather"] });
    const b = await train(deps, { ...config, dep_var: "units" });
    expect(b.state).toBe("QUEUED");
    expect((await runStatus(deps, b.job_id)).message).toBe("position 1 in queue twin-q");
    // Only read status.json and the queue; runStatus never advances the queue itself.
    let sb = await runStatus(deps, b.job_id);
    const deadline = Date.now() + 140_000;
    while (Date.now() < deadline && !(sb.state === "SKIPPED" && sb.execution === "succeeded")) {
      await new Promise((res) => setTimeout(res, 200));
      sb = await runStatus(deps, b.job_id);
    }
    expect(sb.state, JSON.stringify(sb)).toBe("SKIPPED");
    expect(sb.skip_reason).toBe("dep_var UNITS is not in the data");
    const rb = await readRunRecord(deps.store, b.job_id);
    expect((await deps.store.get(`${rb.prefix}SKIPPED.txt`)).toString()).toContain("UNITS");
    expect(rb.config.dep_var).toBe("UNITS");
    const sa = (await request(api.url).get("/").query({ api: "status", job_id: a.job_id })).body.data;
    expect(sa.state, JSON.stringify(sa)).toBe("FAILED");
    expect(sa.step).toBe("prepare");
    expect(String(sa.message)).toContain("WEATHER");
    expect(sa.execution).toBe("failed");
    // One at a time: b started after a ended.
    expect(Date.parse(sb.start_time as string)).toBeGreaterThanOrEqual(Date.parse(sa.end_time as string));
  }, 180_000);

  it("rejects bad configs naming the field, in the envelope", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...tinyConfig, country: undefined }, "country"],
      [{ ...tinyConfig, iterations: 0 }, "iterations"],
      [{ ...tinyConfig, iterations: 10_001 }, "iterations"],
      [{ ...tinyConfig, trials: 21 }, "trials"],
      [{ ...tinyConfig, start_date: "2016-13-45x" }, "start_date"],
      [{ ...tinyConfig, end_date: "2015-01-01" }, "end_date"],
    ];
    for (const [body, field] of cases) {
      const r = await request(api.url).post("/").query({ api: "train" }).send(body);
      expect(r.status, field).toBe(400);
      expect(r.body.status).toBe("error");
      expect(r.body.data).toBeNull();
      expect(r.body.field).toBe(field);
      expect(r.body.message).toContain(field);
    }
  });

  it("answers 404 for an unknown run or country", async () => {
    const s = await request(api.url).get("/").query({ api: "status", job_id: "nope" });
    expect(s.status).toBe(404);
    expect(s.body.status).toBe("error");
    const m = await request(api.url).get("/").query({ api: "metadata", country: "fr" });
    expect(m.status).toBe(404);
  });
});
