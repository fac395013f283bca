import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scanColumns } from "../../containers/causemos/columns.ts";
import type { DojoFrame } from "../../containers/causemos/frame.ts";
import { generate, writeParquet } from "../../containers/causemos/generator.ts";
import { run } from "../../containers/causemos/pipeline.ts";
import { startDecodeThread, takeSpareThread } from "../../containers/causemos/stream-decode.ts";
import { memoryWriter } from "../../containers/causemos/writer.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { frameFromRows, type Row, tempDir, tileCentre, writeParquetSql } from "./helpers.ts";

const dir = tempDir();
afterAll(() => dir.remove());
const quiet = () => createLogger({ sink: memorySink() });

const sqlValue = (v: unknown, type: string) =>
  v === null || v === undefined
    ? `NULL::${type}`
    : type === "VARCHAR" || (typeof v === "number" && !Number.isFinite(v))
      ? `'${String(v).replaceAll("'", "''")}'::${type}`
      : `${v}::${type}`;

async function parquetOf(rows: Row[], path: string, extra: { name: string; type: string }[]) {
  const cols = [
    { name: "timestamp", type: "BIGINT" },
    ...["country", "admin1", "admin2", "admin3"].map((name) => ({ name, type: "VARCHAR" })),
    { name: "lat", type: "DOUBLE" },
    { name: "lng", type: "DOUBLE" },
    { name: "feature", type: "VARCHAR" },
    { name: "value", type: "DOUBLE" },
    ...extra,
  ];
  const values = rows.map((r) => `(${cols.map((c) => sqlValue(r[c.name], c.type)).join(", ")})`).join(",\n");
  await writeParquetSql(
    path,
    `SELECT * FROM (VALUES ${values}) t(${cols.map((c) => `"${c.name}"`).join(", ")})`,
  );
}

/** The file read by the columnar reader (default) and by DuckDB, and the frame in memory. */
async function both(params: Record<string, unknown>, path: string, frame: DojoFrame) {
  const base = { model_id: "m", run_id: "r", data_paths: [path], ...params };
  const fromFile = memoryWriter();
  const fromDuckDB = memoryWriter();
  const fromFrame = memoryWriter();
  await run(base, fromFile, { logger: quiet() });
  await run(base, fromDuckDB, { logger: quiet(), reader: "duckdb" });
  await run(base, fromFrame, { frame, logger: quiet() });
  expectSameOutputs(fromFile.output, fromDuckDB.output);
  return { fromFile: fromFile.output, fromFrame: fromFrame.output };
}

async function via(paths: string[], rawCountThreshold: number, weightColumn = "") {
  const scan = await scanColumns(paths, { weightColumn, fillTimestamp: 0, rawCountThreshold });
  return scan?.via ?? "columns";
}

/** The file scanned in one pass (stream.ts) and by whole columns (taken when every feature fits raw.csv). */
async function streamAndWhole(path: string, weightColumn: string) {
  const options = { weightColumn, fillTimestamp: 0, threads: 1 };
  const stream = await scanColumns([path], { ...options, rawCountThreshold: 0 });
  const whole = await scanColumns([path], { ...options, rawCountThreshold: 1e9 });
  expect(stream?.via).toBe("stream");
  expect(whole?.via ?? "columns").toBe("columns");
  return { stream, whole };
}

function expectSameOutputs(a: Map<string, Buffer>, b: Map<string, Buffer>) {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [name, body] of a)
    expect({ name, body: body.toString("hex") }).toEqual({
      name,
      body: (b.get(name) as Buffer).toString("hex"),
    });
}

describe("the columnar file path and the DuckDB scan path equal the in-memory path", () => {
  it("on edge cases: missing and invalid timestamps, missing values, nulls, // in names, NaN values", async () => {
    const P1 = {
      country: "A",
      admin1: "A//1",
      admin2: null,
      admin3: "x",
      ...tileCentre(14, 9632, 7755),
      scenario: "s1",
    };
    const P2 = {
      country: "A",
      admin1: "A1",
      admin2: null,
      admin3: "x",
      ...tileCentre(14, 10041, 7726),
      scenario: null,
    };
    const rows: Row[] = [
      { ...P1, timestamp: Date.UTC(2021, 0, 3), feature: "f1", value: 1 },
      { ...P2, timestamp: Date.UTC(2021, 0, 5), feature: "f1", value: 2 },
      { ...P1, timestamp: Date.UTC(2021, 1, 5), feature: "f1", value: null },
      { ...P2, timestamp: null, feature: "f1", value: 3.25 },
      { ...P2, timestamp: 9.3e12, feature: "f2", value: 7 },
      { ...P1, timestamp: Date.UTC(1969, 11, 31, 12), feature: "f2", value: 5 },
      { ...P1, lat: null, lng: null, timestamp: Date.UTC(2022, 5, 1), feature: "f2", value: 6 },
      { ...P2, timestamp: Date.UTC(2022, 5, 2), feature: "f2", value: Number.POSITIVE_INFINITY },
    ];
    const path = join(dir.path, "edge.parquet");
    await parquetOf(rows, path, [{ name: "scenario", type: "VARCHAR" }]);
    // raw_count_threshold 0: no feature is small enough for raw.csv, so the one-pass reader takes the file.
    for (const threshold of [10_000, 0]) {
      const { fromFile, fromFrame } = await both(
        { qualifier_map: { f1: ["scenario"], f2: ["scenario"] }, raw_count_threshold: threshold },
        path,
        frameFromRows(rows),
      );
      expect(fromFile.has("m/r/results/results.json")).toBe(true);
      expectSameOutputs(fromFile, fromFrame);
      expect(await via([path], threshold)).toBe(threshold === 0 ? "stream" : "columns");
    }
  });

  it("in one pass over the row groups of several files, with a qualifier one file lacks", async () => {
    const frame = generate({
      points: 40,
      days: 20,
      qualifiers: [{ name: "scenario", values: 3 }],
      weightColumn: "w",
    });
    const first = join(dir.path, "multi-1.parquet");
    const second = join(dir.path, "multi-2.parquet");
    await writeParquet(frame, first);
    const plain = generate({ points: 25, days: 10, seed: 7, weightColumn: "w" });
    await writeParquet(plain, second);
    const params = {
      model_id: "m",
      run_id: "r",
      data_paths: [first, second],
      weight_column: "w",
      qualifier_map: { rainfall: ["scenario"] },
      raw_count_threshold: 0,
    };
    expect(await via([first, second], 0, "w")).toBe("stream");
    const fromFile = memoryWriter();
    const fromDuckDB = memoryWriter();
    await run(params, fromFile, { logger: quiet() });
    await run(params, fromDuckDB, { logger: quiet(), reader: "duckdb" });
    expect(fromFile.output.size).toBeGreaterThan(100);
    expectSameOutputs(fromFile.output, fromDuckDB.output);
  });

  it("decoding row groups on a second thread gives the one-pass read exactly what decoding inline gives", async () => {
    const generated = join(dir.path, "groups-src.parquet");
    await writeParquet(
      generate({ points: 60, days: 12, qualifiers: [{ name: "scenario", values: 3 }], weightColumn: "w" }),
      generated,
    );
    const second = join(dir.path, "groups-src-2.parquet");
    await writeParquet(generate({ points: 25, days: 9, seed: 3, weightColumn: "w" }), second);
    // Many small row groups (12), so the decoding thread runs ahead of the reduction and reuses its buffer sets
    // (4 at most); the first group is decoded by the calling thread and, for its dictionaries, by the thread.
    const paths = [join(dir.path, "groups-1.parquet"), join(dir.path, "groups-2.parquet")];
    await writeParquetSql(paths[0], `SELECT * FROM read_parquet('${generated}')`, "ROW_GROUP_SIZE 100");
    await writeParquetSql(paths[1], `SELECT * FROM read_parquet('${second}')`, "ROW_GROUP_SIZE 70");
    const options = { weightColumn: "w", fillTimestamp: 0, rawCountThreshold: 0 };
    const inline = await scanColumns(paths, { ...options, threads: 1 });
    const threaded = await scanColumns(paths, { ...options, decodeThreadRows: 0 });
    expect(inline?.via).toBe("stream");
    expect(threaded?.via).toBe("stream");
    expect(threaded).toEqual(inline);
    const single = await scanColumns([paths[0]], { ...options, decodeThreadRows: 0 });
    expect(single).toEqual(await scanColumns([paths[0]], { ...options, threads: 1 }));
    // A thread started before the read (the job's entry does so) decodes the first group as well.
    startDecodeThread();
    let reading = 0;
    const early = await scanColumns(paths, {
      ...options,
      decodeThreadRows: 0,
      whileReading: () => reading++,
    });
    expect(early).toEqual(inline);
    expect(reading).toBe(1);
    // The read took the early thread and left it as the spare: there is no other.
    const spare = takeSpareThread();
    expect(spare).toBeDefined();
    expect(takeSpareThread()).toBeUndefined();
    await spare?.terminate();
  });

  it("in one pass when rows come in no time order over many months (cell chains, then the cell hash)", async () => {
    // 900 days (~30 months per series) in a hashed order: cell lookups walk each series' chain of cells, and
    // walks longer than 16 cells switch the pass to the (series, month) hash. The whole-column path (taken
    // when a feature is small enough for raw.csv) sums the same cells in the same row order.
    const src = join(dir.path, "months-src.parquet");
    await writeParquet(generate({ points: 8, days: 900, weightColumn: "w" }), src);
    const path = join(dir.path, "months-shuffled.parquet");
    await writeParquetSql(
      path,
      `SELECT * FROM read_parquet('${src}') ORDER BY hash(timestamp, lat, feature)`,
      "ROW_GROUP_SIZE 1000",
    );
    const { stream, whole } = await streamAndWhole(path, "w");
    expect(stream?.month.rows).toBeGreaterThan(16 * 16);
    expect(stream?.month).toEqual(whole?.month);
    expect(stream?.series).toEqual(whole?.series);
    expect(stream?.counters).toEqual(whole?.counters);
    expect(stream?.frame.timestamp).toEqual(whole?.frame.timestamp);
  });

  it("in one pass when a time step makes thousands of new series (hashes and slots read ahead in chunks)", async () => {
    // Scenario B's shape, small: 3,000 points x 2 features make 6,000 new series in the first time step (each
    // chunk of rows is hashed ahead and the series table grows and rehashes meanwhile); the later steps
    // repeat them, predicted, except for a stretch of rows in another order (lookups by hash again).
    const src = join(dir.path, "new-series-src.parquet");
    await writeParquet(generate({ points: 3000, days: 3, seed: 11 }), src);
    const path = join(dir.path, "new-series.parquet");
    await writeParquetSql(
      path,
      `SELECT * FROM read_parquet('${src}')
       ORDER BY timestamp, CASE WHEN timestamp = (SELECT max(timestamp) FROM read_parquet('${src}'))
         THEN hash(lat, feature) ELSE 0 END`,
      "ROW_GROUP_SIZE 2048",
    );
    const { stream, whole } = await streamAndWhole(path, "");
    expect(stream?.series.count).toBe(6000);
    expect(stream?.month).toEqual(whole?.month);
    expect(stream?.series).toEqual(whole?.series);
    expect(stream?.frame.lat).toEqual(whole?.frame.lat);
    expect(stream?.frame.regions).toEqual(whole?.frame.regions);
  });

  it("on a generated model with qualifiers and weights", async () => {
    const frame = generate({
      points: 30,
      days: 40,
      qualifiers: [{ name: "scenario", values: 3 }],
      weightColumn: "w",
      fanOut: [2, 3, 2, 1],
    });
    const path = join(dir.path, "gen.parquet");
    await writeParquet(frame, path);
    const { fromFile, fromFrame } = await both(
      { weight_column: "w", qualifier_map: { rainfall: ["scenario"] }, raw_count_threshold: 0 },
      path,
      frame,
    );
    expect(fromFile.size).toBeGreaterThan(100);
    expectSameOutputs(fromFile, fromFrame);
  });
});
