import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SUCCESS_FILE } from "../../containers/mozaggregator/convert.ts";
import { pgDumpPath } from "../../containers/mozaggregator/dump.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { mozaggregator } from "../../shared/pipelines/mozaggregator.ts";
import { createRegistry, repoRoot } from "../../shared/pipelines/types.ts";
import { startTwin, type Twin } from "../../shared/runtime/twin.ts";
import { postgresAvailable } from "../helpers/postgres.ts";
import { expectedRow, sortRows, type TextRow } from "./expected.ts";
import { type AggregatesFixture, startAggregates } from "./fixture.ts";

/**
 * mozaggregator end to end on the local twin: the workflow claims the day, the dump job (one task per type)
 * runs the real pg_dump with the DSN from the secrets port, the convert job (two tasks) writes Parquet and the
 * _SUCCESS manifests under the data bucket, and the load job replaces the day's partitions in DuckDB. A
 * pg_dump wrapper corrupts one line of one table's data for BAD_DAY only, as a damaged dump would be.
 */
const DAY = "2019-12-01";
const BAD_DAY = "2019-12-02";
const EMPTY_DAY = "2019-11-30";
const NOW = new Date("2019-12-03T06:00:00Z");
const TABLES = ["submission_date_aggregates", "build_id_aggregates"] as const;

let fx: AggregatesFixture;
let twin: Twin;
let stateDir: string;

async function warehouseRows(table: string, day: string): Promise<TextRow[]> {
  const file = join(stateDir, "warehouse.duckdb");
  if (!existsSync(file)) return [];
  const db = await DuckDBInstance.create(file, { access_mode: "READ_ONLY" });
  const c = await db.connect();
  try {
    const exists = await c.runAndReadAll(
      `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'telemetry' AND table_name = '${table}'`,
    );
    if (Number(exists.getRowsJS()[0][0]) === 0) return [];
    const r = await c.runAndReadAll(
      `SELECT ingest_date::VARCHAR AS ingest_date, aggregate_type, ds_nodash, channel, version, os, child, label,
         metric, osVersion, application, architecture, aggregate, histogram::VARCHAR[] AS histogram,
         sum::VARCHAR AS sum, count::VARCHAR AS count
       FROM telemetry.${table} WHERE ingest_date = DATE '${day}'`,
    );
    return r.getRowObjectsJson() as TextRow[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

async function expectedRows(type: string, day: string): Promise<TextRow[]> {
  const rows: TextRow[] = [];
  for (const t of fx.tables.filter((t) => t.type === type && t.ds === day)) {
    for (const r of await fx.sourceRows(t.name))
      rows.push(expectedRow(t.name, day, r.dimensions, r.histogram));
  }
  return rows;
}

/** The first run shards the conversion over two tasks; the others take one task, one thread (less startup). */
async function run(
  partition: string,
  force = false,
  params: Record<string, number> = { convertTasks: 1, threads: 1 },
) {
  const e = await twin.workflows.execute("mozaggregator", {
    pipeline: "mozaggregator",
    partition,
    force,
    params,
  });
  return twin.workflows.wait(e.name);
}

describe.skipIf(!postgresAvailable())("mozaggregator on the local twin", () => {
  beforeAll(async () => {
    fx = await startAggregates([DAY, BAD_DAY], { tablesPerDay: 2, rowsPerTable: 300, seed: 11 });
    stateDir = join(fx.dir, "state");
    // pg_dump as installed, except that for BAD_DAY one line of the first data file gets a malformed array.
    const bin = join(fx.dir, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(bin, "pg_dump"),
      `#!/bin/sh
"${pgDumpPath({})}" "$@" || exit $?
case "$*" in *_${BAD_DAY.replaceAll("-", "")}*) ;; *) exit 0 ;; esac
while [ $# -gt 0 ]; do [ "$1" = "--file" ] && dir="$2"; shift; done
f=$(ls "$dir"/*.dat.gz | sort | head -n 1)
gzip -dc "$f" | sed '3s/\t{/\t{x/' | gzip > "$f.tmp" && mv "$f.tmp" "$f"
`,
    );
    await chmod(join(bin, "pg_dump"), 0o755);
    twin = await startTwin({
      registry: createRegistry([mozaggregator]),
      root: repoRoot(),
      stateDir,
      log: createLogger({ sink: memorySink() }),
      env: { ...process.env, TESSERA_SECRET_POSTGRES_DSN: fx.cluster.url(), TESSERA_PG_BIN: bin },
      pollSeconds: 0.1,
      backoffScale: 0.01,
      now: () => NOW,
    });
  }, 60_000);

  afterAll(async () => {
    await twin?.close();
    await fx?.stop();
  });

  const first: Record<string, string[]> = {};

  it("dumps, converts and loads one day: every source row once, with equal values", async () => {
    const done = await run(DAY, false, { convertTasks: 2 });
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    expect(done.result).toMatchObject({ partition: DAY, status: "loaded" });
    for (const table of TABLES) {
      const type = table.replace("_aggregates", "");
      const got = sortRows(await warehouseRows(table, DAY));
      const want = sortRows(await expectedRows(type, DAY));
      expect(want.length).toBe(600);
      expect(got).toEqual(want);
      first[table] = got;
    }
    const parquet = join(
      stateDir,
      "objects",
      "tessera-data",
      "mozaggregator",
      "parquet",
      "build_id",
      "20191201",
    );
    expect(readdirSync(parquet)).toContain(SUCCESS_FILE);
    expect((await twin.ctx.ledger.partitionState("mozaggregator", DAY))?.state).toBe("succeeded");
  }, 180_000);

  it("reruns the day with force: the same rows, no duplicates", async () => {
    const done = await run(DAY, true);
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    for (const table of TABLES) expect(sortRows(await warehouseRows(table, DAY))).toEqual(first[table]);
  }, 180_000);

  it("ends a day without tables as succeeded with reason no-data", async () => {
    const done = await run(EMPTY_DAY);
    expect(done.state, JSON.stringify(done.error)).toBe("SUCCEEDED");
    const result = done.result as { status: string; reason: string };
    expect(result.status).toBe("no-data");
    expect(result.reason).toMatch(/^no-data: no submission_date tables for 2019-11-30 .*no matching tables/);
    expect(result.reason).toContain("no build_id tables");
    const status = JSON.parse(
      (
        await twin.adapters.objects.bucket("tessera-data").get(`mozaggregator/status/${EMPTY_DAY}.json`)
      ).toString(),
    );
    expect(status).toMatchObject({ ds: EMPTY_DAY, status: "no-data" });
    for (const table of TABLES) expect(await warehouseRows(table, EMPTY_DAY)).toEqual([]);
  }, 180_000);

  it("fails a day with a corrupt dump with file, line and reason, and publishes nothing of it", async () => {
    const done = await run(BAD_DAY);
    expect(done.state).toBe("FAILED");
    const error = JSON.stringify(done.error);
    // file:line: column "value": reason
    expect(error).toMatch(
      /dumps\/\w+\/20191202\/\d+\.dat\.gz:3: histogram \\+"\{x[\d,.}]+\\+": unexpected character/,
    );
    const ledger = await twin.ctx.ledger.partitionState("mozaggregator", BAD_DAY);
    expect(ledger?.state).toBe("failed");
    for (const table of TABLES) expect(await warehouseRows(table, BAD_DAY)).toEqual([]);
    const dir = join(
      stateDir,
      "objects",
      "tessera-data",
      "mozaggregator",
      "parquet",
      "submission_date",
      "20191202",
    );
    expect(existsSync(join(dir, SUCCESS_FILE))).toBe(false);
    expect(
      await twin.adapters.objects.bucket("tessera-data").exists(`mozaggregator/status/${BAD_DAY}.json`),
    ).toBe(false);
    // The good day is untouched.
    for (const table of TABLES) expect(sortRows(await warehouseRows(table, DAY))).toEqual(first[table]);
  }, 180_000);
});
