import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generate, writeParquet } from "../../containers/causemos/generator.ts";
import { type CausemosJobArgs, readJobArgs, runStep } from "../../containers/causemos/main.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { tempDir } from "./helpers.ts";

const dir = tempDir();
afterAll(() => dir.remove());
const log = createLogger({ sink: memorySink() });

const argsFor = (bucket: string, path: string): CausemosJobArgs =>
  readJobArgs([], {
    TESSERA_JOB_ARGS: JSON.stringify({
      pipeline: "causemos",
      partition: "model-x/run-1",
      runId: "r1",
      params: {
        model_id: "model-x",
        run_id: "run-1",
        data_paths: [`file://${path}`],
        model_bucket: bucket,
        qualifier_map: { rainfall: ["scenario"], crop_production: ["scenario"] },
      },
    }),
  });

describe("causemos job entrypoint", () => {
  it("rejects a partition that is not model_id/run_id", () => {
    expect(() =>
      readJobArgs(
        [
          "--args",
          JSON.stringify({
            pipeline: "causemos",
            partition: "x",
            runId: "r",
            params: { model_id: "m", run_id: "r", data_paths: ["a"] },
          }),
        ],
        {},
      ),
    ).toThrow(NonRetriableError);
  });

  it("shards by feature over tasks and merges results.json to what one task writes", async () => {
    const frame = generate({
      points: 16,
      days: 35,
      features: ["crop_production", "rainfall", "temperature"],
      qualifiers: [{ name: "scenario", values: 2 }],
      fanOut: [2, 2, 1, 1],
    });
    const path = join(dir.path, "model.parquet");
    await writeParquet(frame, path);
    const objects = createLocalObjects({ root: join(dir.path, "objects") });

    await runStep(argsFor("single", path), objects, { index: 0, count: 1 }, log);
    for (const index of [0, 1]) await runStep(argsFor("sharded", path), objects, { index, count: 2 }, log);
    const merged = await runStep(
      { ...argsFor("sharded", path), step: "merge" },
      objects,
      { index: 0, count: 2 },
      log,
    );
    expect("merged" in merged && merged.recordedResults).toBe(true);

    const single = objects.bucket("single");
    const sharded = objects.bucket("sharded");
    const names = async (store: typeof single) =>
      (await store.list("model-x/run-1/")).map((o) => o.name).filter((n) => !n.includes("/results/shards/"));
    const singleNames = await names(single);
    expect(singleNames.length).toBeGreaterThan(100);
    expect(await names(sharded)).toEqual(singleNames);
    const results = async (store: typeof single) =>
      JSON.parse((await store.get("model-x/run-1/results/results.json")).toString());
    expect(await results(sharded)).toEqual(await results(single));
    for (const name of singleNames
      .filter((n) => n.endsWith(".tile") || n.endsWith("global.csv"))
      .slice(0, 50)) {
      expect((await sharded.get(name)).equals(await single.get(name))).toBe(true);
    }
  });

  it("refuses to merge before every shard wrote its results", async () => {
    const objects = createLocalObjects({ root: join(dir.path, "objects2") });
    await expect(
      runStep(
        { ...argsFor("empty", "/nowhere.parquet"), step: "merge" },
        objects,
        { index: 0, count: 3 },
        log,
      ),
    ).rejects.toThrow(/shard 0 of 3 has no results/);
  });
});
