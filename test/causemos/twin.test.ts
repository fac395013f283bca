import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeTile } from "../../containers/causemos/tile-proto.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { causemos, demoPartition } from "../../shared/pipelines/causemos.ts";
import { createRegistry, repoRoot } from "../../shared/pipelines/types.ts";
import { startTwin, type Twin } from "../../shared/runtime/twin.ts";

/**
 * causemos end to end on the local twin: `local.seed` puts a small generated Dojo model into the data bucket,
 * the workflow claims the run and runs the `causemos-run` job (one task, or two tasks and `causemos-merge`) as
 * child processes; the outputs land in the data bucket with results.json. A rerun without force is skipped;
 * a corrupt input fails the run with its reason and writes nothing.
 */
const NOW = new Date("2026-03-02T10:00:00Z");
const DEMO = demoPartition(NOW);
let stateDir: string;
let twin: Twin;
const logs = memorySink();

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "tessera-causemos-"));
  twin = await startTwin({
    registry: createRegistry([causemos]),
    root: repoRoot(),
    stateDir,
    log: createLogger({ sink: logs }),
    pollSeconds: 0.1,
    backoffScale: 0.01,
    now: () => NOW,
  });
  await causemos.local?.seed?.({
    adapters: twin.adapters,
    stateDir,
    buckets: twin.buckets,
    log: createLogger({ sink: logs }),
    now: NOW,
  });
}, 60_000);

afterAll(async () => {
  await twin?.close();
});

/** Executions of a job so far (the local runner keeps one record file per execution). */
const executionsOf = (job: string) => {
  const dir = join(stateDir, "jobs", job);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")).length : 0;
};

const data = () => twin.adapters.objects.bucket(twin.buckets.data);

async function runOnce(partition: string, params: Record<string, unknown> = {}, force = false) {
  const e = await twin.workflows.execute("causemos", { partition, params, force });
  return twin.workflows.wait(e.name);
}

interface Results {
  data_info: { num_rows: number; features: string[]; [k: string]: unknown };
  output_agg_values: unknown;
}

describe("causemos on the local twin", () => {
  let oneTask: Results;

  it("runs the seeded demo model from the tick's partition: every output and results.json", async () => {
    expect(causemos.partition.fromTick?.(NOW)).toBe("demo-model/20260302");
    // As `npm start` runs it: the tick's partition with the pipeline's start params (the demo's qualifier).
    const done = await runOnce(DEMO, causemos.local?.startParams);
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    expect(done.result).toMatchObject({
      partition: DEMO,
      runTasks: 1,
      results: `gs://${twin.buckets.data}/${DEMO}/results/results.json`,
    });
    const names = (await data().list(`${DEMO}/`)).map((o) => o.name);
    oneTask = JSON.parse((await data().get(`${DEMO}/results/results.json`)).toString());
    expect(oneTask.data_info.features.sort()).toEqual(["crop_production", "rainfall"]);
    expect(oneTask.data_info.num_rows).toBe(60 * 30 * 2);
    for (const feature of oneTask.data_info.features) {
      expect(names).toContain(`${DEMO}/month/${feature}/timeseries/global/global.csv`);
      expect(names).toContain(`${DEMO}/year/${feature}/timeseries/global/global.csv`);
      expect(names).toContain(`${DEMO}/raw/${feature}/raw/raw.csv`);
    }
    expect(names.some((n) => n.startsWith(`${DEMO}/month/rainfall/timeseries/qualifiers/scenario/`))).toBe(
      true,
    );
    const tiles = names.filter((n) => n.endsWith(".tile"));
    expect(tiles.length).toBeGreaterThan(0);
    expect(Object.keys(decodeTile(await data().get(tiles[0])).bins.stats).length).toBeGreaterThan(0);
    expect(names.some((n) => n.includes("/results/shards/"))).toBe(false);
    const state = await twin.ctx.ledger.partitionState("causemos", DEMO);
    expect(state?.state).toBe("succeeded");

    const described = (await causemos.local?.describe?.(
      {
        adapters: twin.adapters,
        stateDir,
        buckets: twin.buckets,
        log: createLogger({ sink: logs }),
        now: NOW,
      },
      DEMO,
    )) as string;
    expect(described).toContain("results.json");
    const svg = /tile preview: (\S+\.svg)/.exec(described)?.[1] as string;
    expect(readFileSync(svg, "utf8")).toMatch(/^<svg[\s\S]*<rect/);
  });

  it("skips a rerun without force and leaves the outputs alone", async () => {
    const before = (await data().list(`${DEMO}/`)).map((o) => `${o.name}:${o.size}`);
    const done = await runOnce(DEMO);
    expect(done.state).toBe("SUCCEEDED");
    expect(done.result).toMatchObject({ skipped: true, state: "succeeded" });
    expect((await data().list(`${DEMO}/`)).map((o) => `${o.name}:${o.size}`)).toEqual(before);
    expect((await twin.ctx.ledger.partitionState("causemos", DEMO))?.attempt).toBe(1);
  });

  it("shards the run step over two tasks and merges results.json to the one-task results", async () => {
    const partition = "demo-model/sharded";
    const done = await runOnce(partition, {
      run_tasks: 2,
      data_paths: [`gs://${twin.buckets.data}/causemos/dojo/${DEMO}/output.parquet`],
    });
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    expect(done.result).toMatchObject({ runTasks: 2 });
    const names = (await data().list(`${partition}/results/`)).map((o) => o.name).sort();
    expect(names).toEqual([
      `${partition}/results/results.json`,
      `${partition}/results/shards/0-of-2.json`,
      `${partition}/results/shards/1-of-2.json`,
    ]);
    const merged: Results = JSON.parse((await data().get(`${partition}/results/results.json`)).toString());
    expect(merged.data_info.num_rows).toBe(oneTask.data_info.num_rows);
    expect([...merged.data_info.features].sort()).toEqual([...oneTask.data_info.features].sort());
  });

  it("fails a corrupt input with the job's reason, without retrying, and writes nothing", async () => {
    const partition = "bad-model/run-1";
    const runsBefore = executionsOf("causemos-run");
    await data().put(`causemos/dojo/${partition}/output.parquet`, Buffer.from("this is not parquet\n"));
    const done = await runOnce(partition);
    expect(done.state).toBe("FAILED");
    const state = await twin.ctx.ledger.partitionState("causemos", partition);
    expect(state?.state).toBe("failed");
    expect(state?.reason).toMatch(/output\.parquet/);
    expect(state?.reason).toMatch(/NonRetriableError/);
    expect(await data().list(`${partition}/`)).toEqual([]);
    expect(executionsOf("causemos-run")).toBe(runsBefore + 1);
  });
});
