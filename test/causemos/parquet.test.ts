import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, describe, expect, it } from "vitest";
import { scanColumns } from "../../containers/causemos/columns.ts";
import type { OutputTask } from "../../containers/causemos/params.ts";
import {
  readNumbers,
  readParquetMetadata,
  readText,
  UnsupportedParquet,
} from "../../containers/causemos/parquet.ts";
import { run } from "../../containers/causemos/pipeline.ts";
import { memoryWriter } from "../../containers/causemos/writer.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { tempDir } from "./helpers.ts";

const dir = tempDir();
afterAll(() => dir.remove());

/** 3,000 rows with nulls in every column, few and many distinct texts, ints, floats and doubles. */
const SELECT = `SELECT
    CASE WHEN i % 97 = 0 THEN NULL ELSE 1600000000000 + (i % 7) * 86400000 END::BIGINT AS timestamp,
    CASE WHEN i % 89 = 0 THEN NULL ELSE 'Ctry ' || (i % 5) END AS country,
    CASE WHEN i % 13 = 0 THEN NULL ELSE 'naïve/é ' || (i * 7919 % 2003) END AS admin1,
    CASE WHEN i % 3 = 0 THEN NULL ELSE (i % 11)::INTEGER END AS code,
    CASE WHEN i % 83 = 0 THEN NULL ELSE (i * 0.37 - 400)::DOUBLE END AS lat,
    (i % 17)::FLOAT / 4 AS lng,
    CASE WHEN i % 2 = 0 THEN 'f1' ELSE 'f2' END AS feature,
    CASE WHEN i % 71 = 0 THEN NULL ELSE (i * 1.5)::DOUBLE END AS value
  FROM range(3000) t(i)`;

async function writeWith(path: string, options: string) {
  const instance = await DuckDBInstance.create(":memory:");
  const c = await instance.connect();
  try {
    await c.run(`COPY (${SELECT}) TO '${path}' (FORMAT parquet, ${options})`);
    const rows = (await c.runAndReadAll(`SELECT * FROM read_parquet('${path}')`)).getRows();
    return rows;
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

describe("columnar Parquet reader", () => {
  for (const [label, options] of [
    ["uncompressed, small row groups", "COMPRESSION uncompressed, ROW_GROUP_SIZE 1000"],
    ["snappy", "COMPRESSION snappy, ROW_GROUP_SIZE 2048"],
    ["gzip", "COMPRESSION gzip"],
    ["zstd", "COMPRESSION zstd, ROW_GROUP_SIZE 700"],
  ] as const) {
    it(`reads what DuckDB reads (${label})`, async () => {
      const path = join(dir.path, `${label.replaceAll(/\W/g, "_")}.parquet`);
      const expected = await writeWith(path, options);
      const file = readParquetMetadata(path);
      expect(file.rows).toBe(3000);
      expect(file.columns.map((c) => `${c.name}:${c.kind}`)).toEqual([
        "timestamp:integer",
        "country:text",
        "admin1:text",
        "code:integer",
        "lat:number",
        "lng:number",
        "feature:text",
        "value:number",
      ]);
      file.columns.forEach((column, k) => {
        const want = expected.map((row) => {
          const v = row[k];
          if (column.kind === "text" || column.name === "code") return v === null ? null : String(v);
          return v === null ? Number.NaN : Number(v);
        });
        if (column.kind === "text" || column.name === "code") {
          const { codes, values } = readText([file], column.name, file.rows, null);
          expect(Array.from(codes, (c) => (c < 0 ? null : values[c]))).toEqual(want);
        } else {
          expect(Array.from(readNumbers([file], column.name, file.rows))).toEqual(want);
        }
      });
    });
  }

  it("joins several files: one dictionary per column, the missing text of a file filled in", async () => {
    const a = join(dir.path, "multi-a.parquet");
    const b = join(dir.path, "multi-b.parquet");
    await writeWith(a, "COMPRESSION snappy");
    const instance = await DuckDBInstance.create(":memory:");
    const c = await instance.connect();
    await c.run(`COPY (SELECT 'Ctry 9' AS country, 2.5 AS value FROM range(5)) TO '${b}' (FORMAT parquet)`);
    c.closeSync();
    instance.closeSync();
    const files = [readParquetMetadata(a), readParquetMetadata(b)];
    const total = files[0].rows + files[1].rows;
    const country = readText(files, "country", total, null);
    expect(country.values.filter((v) => v === "Ctry 9")).toHaveLength(1);
    expect(Array.from(country.codes.subarray(3000), (k) => country.values[k])).toEqual(
      Array(5).fill("Ctry 9"),
    );
    const code = readText(files, "code", total, "");
    expect(Array.from(code.codes.subarray(3000), (k) => code.values[k])).toEqual(Array(5).fill(""));
    const lat = readNumbers(files, "lat", total);
    expect(Array.from(lat.subarray(3000)).every(Number.isNaN)).toBe(true);
  });

  it("refuses what it does not decode (Parquet v2 encodings, non-Parquet files) so DuckDB reads them", async () => {
    const v2 = join(dir.path, "v2.parquet");
    await writeWith(v2, "COMPRESSION zstd, PARQUET_VERSION v2");
    let refused = false;
    try {
      const file = readParquetMetadata(v2);
      for (const column of file.columns) {
        if (column.kind === "text") readText([file], column.name, file.rows, null);
        else readNumbers([file], column.name, file.rows);
      }
    } catch (err) {
      refused = err instanceof UnsupportedParquet;
    }
    // DuckDB's v2 writer uses DELTA_BINARY_PACKED for integers: unsupported here.
    expect(refused).toBe(true);
    expect(
      await scanColumns([v2], { weightColumn: "", fillTimestamp: 0, rawCountThreshold: 10 }),
    ).toBeUndefined();

    // The job still reads it, through DuckDB, to the same outputs as the v1 file.
    const v1 = join(dir.path, "v1.parquet");
    await writeWith(v1, "COMPRESSION zstd");
    const quiet = createLogger({ sink: memorySink() });
    const outputs = async (path: string) => {
      const w = memoryWriter();
      const selected_output_tasks: OutputTask[] = [
        "compute_global_timeseries",
        "compute_regional_stats",
        "compute_tiles",
      ];
      await run({ model_id: "m", run_id: "r", data_paths: [path], selected_output_tasks }, w, {
        logger: quiet,
      });
      return new Map([...w.output].map(([k, v]) => [k, v.toString("hex")]));
    };
    const [fromV1, fromV2] = [await outputs(v1), await outputs(v2)];
    expect(fromV1.size).toBeGreaterThan(20);
    expect(fromV2).toEqual(fromV1);
  });
});
