import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convert, NO_DATA_FILE, SUCCESS_FILE } from "../../containers/mozaggregator/convert.ts";
import { dump } from "../../containers/mozaggregator/dump.ts";
import { main } from "../../containers/mozaggregator/main.ts";
import { postgresAvailable } from "../helpers/postgres.ts";
import { expectedRow, readParquetRows, sortRows, type TextRow } from "./expected.ts";
import { type AggregatesFixture, startAggregates } from "./fixture.ts";

const DAY = "2019-12-01";
const INGEST = "2026-11-24";

describe.skipIf(!postgresAvailable())("mozaggregator round trip: PostgreSQL -> pg_dump -> Parquet", () => {
  let fx: AggregatesFixture;
  let dumps: string;
  let expected: TextRow[];

  beforeAll(async () => {
    fx = await startAggregates([DAY], { tablesPerDay: 2, rowsPerTable: 400 });
    dumps = join(fx.dir, "dumps");
    for (const type of ["submission_date", "build_id"] as const) {
      const r = await dump({
        connection: fx.connection,
        ds: DAY,
        type,
        outDir: join(dumps, type, "20191201"),
      });
      expect(r).toMatchObject({ status: "dumped", tables: expect.any(Array) });
    }
    expected = [];
    for (const t of fx.tables) {
      for (const s of await fx.sourceRows(t.name))
        expected.push(expectedRow(t.name, INGEST, s.dimensions, s.histogram));
    }
  });
  afterAll(async () => {
    await fx?.stop();
  });

  const partsOf = async (out: string) => {
    const files: string[] = [];
    for (const type of ["submission_date", "build_id"]) {
      const dir = join(out, type, "20191201");
      for (const f of await readdir(dir)) if (f.endsWith(".parquet")) files.push(join(dir, f));
    }
    return files;
  };

  it("writes every source row exactly once with equal values, sharded over two tasks", async () => {
    expect(expected.length).toBe(4 * 400);
    expect(
      expected.some((r) => (r.label as string).includes('"') && (r.label as string).includes("\t")),
    ).toBe(true);
    expect(expected.some((r) => BigInt(r.sum as string) > 2n ** 53n)).toBe(true);
    const out = join(fx.dir, "out-2");
    const common = { input: dumps, output: out, ds: DAY, types: ["submission_date", "build_id"] as const };
    const first = await convert({ ...common, taskIndex: 0, taskCount: 2, threads: 2, ingestDate: INGEST });
    expect(first.completedDay).toBe(false);
    expect(existsSync(join(out, "build_id", "20191201", SUCCESS_FILE))).toBe(false);
    const second = await convert({ ...common, taskIndex: 1, taskCount: 2, threads: 2, ingestDate: INGEST });
    expect(second.completedDay).toBe(true);
    expect(first.rows + second.rows).toBe(expected.length);
    expect(
      first.outputs.flatMap((o) => o.tables).length + second.outputs.flatMap((o) => o.tables).length,
    ).toBe(4);
    const e10s = (first.unknownKeys.e10sEnabled ?? 0) + (second.unknownKeys.e10sEnabled ?? 0);
    expect(e10s).toBeGreaterThan(0);
    expect(e10s).toBe(await countKey("e10sEnabled"));
    const rows = await readParquetRows(await partsOf(out));
    expect(rows.length).toBe(expected.length);
    expect(sortRows(rows)).toEqual(sortRows(expected));

    const manifest = JSON.parse(
      await readFile(join(out, "submission_date", "20191201", SUCCESS_FILE), "utf8"),
    );
    expect(manifest).toMatchObject({ ds: DAY, type: "submission_date", status: "complete" });
    expect(manifest.parts).toHaveLength(2);
    expect(manifest.rows).toBe(2 * 400);
  });

  async function countKey(key: string): Promise<number> {
    let n = 0;
    for (const t of fx.tables)
      for (const s of await fx.sourceRows(t.name)) if (key in JSON.parse(s.dimensions)) n++;
    return n;
  }

  it("reruns idempotently, also with another task count, leaving one copy of each row", async () => {
    const out = join(fx.dir, "out-rerun");
    const common = { input: dumps, output: out, ds: DAY, types: ["submission_date", "build_id"] as const };
    await convert({ ...common, taskIndex: 0, taskCount: 2, threads: 1, ingestDate: INGEST });
    await convert({ ...common, taskIndex: 1, taskCount: 2, threads: 1, ingestDate: INGEST });
    const again = await convert({ ...common, taskIndex: 0, taskCount: 1, threads: 1, ingestDate: INGEST });
    expect(again.completedDay).toBe(true);
    const names = await readdir(join(out, "build_id", "20191201"));
    expect(names.filter((n) => n.startsWith("_task-"))).toEqual(["_task-00000-of-00001.json"]);
    expect(names.filter((n) => n.startsWith(".staging"))).toEqual([]);
    expect(sortRows(await readParquetRows(await partsOf(out)))).toEqual(sortRows(expected));
  });

  it("records a day without tables as no-data with the reason, and fails loudly on a bad password", async () => {
    const outDir = join(fx.dir, "nodata", "build_id", "20191205");
    const r = await dump({ connection: fx.connection, ds: "2019-12-05", type: "build_id", outDir });
    expect(r).toEqual({
      status: "no-data",
      type: "build_id",
      ds: "2019-12-05",
      reason: expect.stringContaining("no matching tables were found"),
    });
    expect(existsSync(outDir)).toBe(false);
    await expect(
      dump({ connection: { ...fx.connection, password: "wrong" }, ds: DAY, type: "build_id", outDir }),
    ).rejects.toThrow(/pg_dump of build_id 2019-12-01 failed \(exit 1\): .*password authentication failed/s);
    expect(existsSync(outDir)).toBe(false);
  });

  it("runs both steps through the job entrypoint with Cloud Run's env, no-data included", async () => {
    const root = join(fx.dir, "job");
    const env = {
      POSTGRES_HOST: fx.connection.host,
      POSTGRES_PORT: String(fx.connection.port),
      POSTGRES_DB: fx.connection.database,
      POSTGRES_USER: fx.connection.user,
      POSTGRES_PASS: fx.connection.password,
      CLOUD_RUN_TASK_INDEX: "0",
      CLOUD_RUN_TASK_COUNT: "1",
    };
    const base = { pipeline: "mozaggregator", runId: "r1", params: {} };
    for (const partition of [DAY, "2019-12-05"]) {
      const dumpArgs = { ...base, partition, step: "dump", output: join(root, "dumps") };
      expect(await main(["--args", JSON.stringify(dumpArgs)], env)).toBe(0);
      const convertArgs = {
        ...base,
        partition,
        step: "convert",
        input: join(root, "dumps"),
        output: join(root, "parquet"),
        ingestDate: INGEST,
      };
      expect(await main([], { ...env, TESSERA_JOB_ARGS: JSON.stringify(convertArgs) })).toBe(0);
    }
    expect(existsSync(join(root, "dumps", "build_id", "20191205", NO_DATA_FILE))).toBe(true);
    const noData = JSON.parse(
      await readFile(join(root, "parquet", "build_id", "20191205", SUCCESS_FILE), "utf8"),
    );
    expect(noData).toMatchObject({ status: "no-data", rows: 0, parts: [] });
    expect(noData.reason).toContain("no matching tables were found");
    const rows = await readParquetRows(await partsOf(join(root, "parquet")));
    expect(sortRows(rows)).toEqual(sortRows(expected));

    expect(
      await main(
        ["--args", JSON.stringify({ ...base, partition: "2019-13-01", step: "dump", output: root })],
        env,
      ),
    ).toBe(3);
    expect(await main(["--args", "{"], env)).toBe(3);
  });
});
