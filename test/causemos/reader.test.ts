import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { textAt } from "../../containers/causemos/frame.ts";
import { generate, writeParquet } from "../../containers/causemos/generator.ts";
import { run } from "../../containers/causemos/pipeline.ts";
import { readDojo } from "../../containers/causemos/reader.ts";
import { objectStoreWriter } from "../../containers/causemos/writer.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { tempDir, writeParquetSql } from "./helpers.ts";

const dir = tempDir();
afterAll(() => dir.remove());

const BASE_SELECT = (extra: string) =>
  `SELECT * FROM (VALUES (1609459200000, 'Kenya', 'Nairobi', NULL, NULL, -1.28, 36.82, 'rain', 1.5${extra}),
                         (1609545600000, 'Kenya', 'Nairobi', NULL, NULL, -1.28, 36.82, 'rain', 2.5${extra}))`;

describe("readDojo", () => {
  it("reads the generator's Parquet back to the same frame", async () => {
    const frame = generate({
      points: 30,
      days: 3,
      qualifiers: [{ name: "scenario", values: 2 }],
      weightColumn: "w",
      seed: 5,
    });
    const path = join(dir.path, "gen.parquet");
    await writeParquet(frame, path);
    const { frame: back } = await readDojo([path], { weightColumn: "w" });
    expect(back.rows).toBe(frame.rows);
    expect(Array.from(back.value)).toEqual(Array.from(frame.value));
    expect(Array.from(back.timestamp)).toEqual(Array.from(frame.timestamp));
    expect(Array.from(back.lat as Float64Array)).toEqual(Array.from(frame.lat as Float64Array));
    expect(Array.from(back.weight?.values ?? [])).toEqual(Array.from(frame.weight?.values ?? []));
    for (let i = 0; i < frame.rows; i += 7) {
      expect(textAt(back.feature, i)).toBe(textAt(frame.feature, i));
      expect(textAt(back.regions.admin3 as never, i)).toBe(textAt(frame.regions.admin3 as never, i));
      expect(textAt(back.qualifiers.get("scenario") as never, i)).toBe(
        textAt(frame.qualifiers.get("scenario") as never, i),
      );
    }
    expect(back.columns).toEqual(frame.columns);
  });

  it("skips _str files and harmonises qualifier columns across files", async () => {
    const a = join(dir.path, "run.1.parquet.gzip");
    const b = join(dir.path, "run.2.parquet.gzip");
    const s = join(dir.path, "run_str.1.parquet.gzip");
    const cols = "timestamp, country, admin1, admin2, admin3, lat, lng, feature, value";
    await writeParquetSql(a, `SELECT * FROM (${BASE_SELECT(", 'ssp1'")}) t(${cols}, scenario)`);
    await writeParquetSql(b, `SELECT * FROM (${BASE_SELECT(", 'maize'")}) t(${cols}, crop)`);
    await writeParquetSql(s, `SELECT * FROM (${BASE_SELECT("")}) t(${cols})`);
    const result = await readDojo([a, b, s]);
    expect(result.skipped).toEqual([s]);
    const f = result.frame;
    expect(f.rows).toBe(4);
    expect([...f.qualifiers.keys()]).toEqual(["scenario", "crop"]);
    const scenario = f.qualifiers.get("scenario");
    const crop = f.qualifiers.get("crop");
    expect([0, 1, 2, 3].map((i) => textAt(scenario as never, i))).toEqual(["ssp1", "ssp1", "", ""]);
    expect([0, 1, 2, 3].map((i) => textAt(crop as never, i))).toEqual(["", "", "maize", "maize"]);
    expect([0, 1, 2, 3].map((i) => textAt(f.regions.admin2 as never, i))).toEqual([null, null, null, null]);
  });
});

describe("bad input fails with a clear reason and writes nothing", () => {
  const attempt = async (paths: string[]) => {
    const objects = createLocalObjects({ root: join(dir.path, "objects") });
    const store = objects.bucket("models");
    const writer = objectStoreWriter(store);
    const error = await run({ model_id: "m", run_id: "r", data_paths: paths }, writer, {
      logger: createLogger({ sink: memorySink() }),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(await store.list("m/")).toEqual([]);
    return error as Error;
  };

  it("an empty file", async () => {
    const p = join(dir.path, "empty.parquet");
    await writeParquetSql(
      p,
      "SELECT 0::BIGINT AS timestamp, 'x' AS country, 'x' AS admin1, 'x' AS admin2, 'x' AS admin3, 0.0 AS lat, 0.0 AS lng, 'f' AS feature, 1.0 AS value WHERE false",
    );
    const e = await attempt([p]);
    expect(e).toBeInstanceOf(NonRetriableError);
    expect(e.message).toMatch(/no rows/);
  });

  it("a file that is not Parquet", async () => {
    const p = join(dir.path, "junk.parquet");
    writeFileSync(p, "this is not parquet");
    const e = await attempt([p]);
    expect(e).toBeInstanceOf(NonRetriableError);
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/cannot be read as Parquet/);
  });

  it("a missing value column", async () => {
    const p = join(dir.path, "novalue.parquet");
    await writeParquetSql(p, "SELECT 0::BIGINT AS timestamp, 'f' AS feature");
    const e = await attempt([p]);
    expect(e.message).toMatch(/required column "value" is missing/);
    expect((e as NonRetriableError).field).toBe("value");
  });

  it("a text value column", async () => {
    const p = join(dir.path, "textvalue.parquet");
    await writeParquetSql(p, "SELECT 0::BIGINT AS timestamp, 'f' AS feature, 'high' AS value");
    const e = await attempt([p]);
    expect(e.message).toMatch(/non-numeric value \("high"\)/);
  });

  it("only string-valued files", async () => {
    const e = await attempt([join(dir.path, "x_str.parquet.gzip")]);
    expect(e.message).toMatch(/no numeric parquet files/);
  });

  it("rows without a feature", async () => {
    const p = join(dir.path, "nofeature.parquet");
    await writeParquetSql(p, "SELECT 0::BIGINT AS timestamp, NULL::VARCHAR AS feature, 1.0 AS value");
    const e = await attempt([p]);
    expect(e.message).toMatch(/feature is null in 1 row/);
  });
});
