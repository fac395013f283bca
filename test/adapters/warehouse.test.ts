import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, describe, expect, it } from "vitest";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import { translateSql } from "../../shared/adapters/local/warehouse-sql.ts";
import type { Warehouse } from "../../shared/adapters/ports.ts";
import { warehouseContract } from "./warehouse-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "tessera-warehouse-"));
const opened: Warehouse[] = [];
let files = 0;

/** Writes the rows of a SELECT to a Parquet file with a throwaway in-memory DuckDB. */
async function writeParquet(select: string, path: string): Promise<void> {
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  await c.run(`COPY (${select}) TO '${path.replace(/'/g, "''")}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
}

afterAll(async () => {
  for (const w of opened) await w.close();
  rmSync(dir, { recursive: true, force: true });
});

let shared: Warehouse | undefined;
warehouseContract("DuckDB file", {
  warehouse: () => {
    if (!shared) {
      shared = createLocalWarehouse({ path: join(dir, "contract.duckdb") });
      opened.push(shared);
    }
    return shared;
  },
  parquet: async (select) => {
    const path = join(dir, `part-${files++}.parquet`);
    await writeParquet(select, path);
    return pathToFileURL(path).href;
  },
});

describe("BigQuery -> DuckDB SQL translation", () => {
  it.each([
    ["SELECT * FROM `p-1.ds.t` WHERE a = @a", 'SELECT * FROM "ds"."t" WHERE a = $a', ["a"]],
    ["SELECT @a, @a, @b_2 FROM `ds.t`", 'SELECT $a, $a, $b_2 FROM "ds"."t"', ["a", "b_2"]],
    ["SELECT '@not', \"@nor\", x -- @nope\nFROM t", "SELECT '@not', \"@nor\", x -- @nope\nFROM t", []],
    ["SELECT 'it''s @x' AS s, email@host", "SELECT 'it''s @x' AS s, email@host", []],
    [
      "SELECT SAFE_CAST(x AS FLOAT64), CAST(y AS NUMERIC), CAST(z AS BYTES)",
      "SELECT TRY_CAST(x AS DOUBLE), CAST(y AS DECIMAL(38,9)), CAST(z AS BLOB)",
      [],
    ],
    [
      "SELECT 1 WHERE k IN UNNEST(@ks) AND f(1) # note",
      "SELECT 1 WHERE k IN (SELECT UNNEST($ks)) AND f(1) -- note",
      ["ks"],
    ],
  ])("%s", (bq, duck, params) => {
    expect(translateSql(bq)).toEqual({ sql: duck, params });
  });

  it("refuses backtick names that are not [project.]dataset.table or carry quotes", () => {
    expect(() => translateSql("SELECT * FROM `a.b.c.d`")).toThrow(/dataset\.table/);
    expect(() => translateSql('SELECT * FROM `ds.t"x`')).toThrow(/not a valid identifier/);
    expect(() => translateSql("SELECT 'open")).toThrow(/unterminated/);
  });
});

describe("local warehouse specifics", () => {
  it("keeps data in the file across close and reopen, and inserts 100k rows through the appender", async () => {
    const path = join(dir, "reopen.duckdb");
    const w = createLocalWarehouse({ path });
    const ref = { dataset: "bulk", table: "t" };
    await w.ensureTable(ref, {
      columns: [
        { name: "id", type: "INT64" },
        { name: "s", type: "STRING" },
      ],
    });
    await w.insertRows(
      ref,
      Array.from({ length: 100_000 }, (_, i) => ({ id: i, s: `row ${i}` })),
    );
    await w.close();
    await expect(w.query("SELECT 1")).rejects.toThrow(/closed/);
    const again = createLocalWarehouse({ path });
    opened.push(again);
    expect(await again.query("SELECT COUNT(*) AS c, MAX(id) AS m FROM `bulk.t`")).toEqual([
      { c: 100_000, m: 99_999 },
    ]);
  });

  it("refuses gs:// Parquet URIs locally, naming the field", async () => {
    const w = createLocalWarehouse({ path: ":memory:" });
    opened.push(w);
    const ref = { dataset: "p", table: "t" };
    await w.ensureTable(ref, { partitionBy: "d", columns: [{ name: "d", type: "DATE" }] });
    await expect(
      w.replacePartition(ref, { column: "d", value: "2024-01-01" }, { parquetUris: ["gs://b/x.parquet"] }),
    ).rejects.toThrow(/parquetUris\[0\].*file:\/\//);
  });
});
