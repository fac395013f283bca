import { describe, expect, it } from "vitest";
import type { TableSchema, Warehouse } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

export interface WarehouseFixture {
  warehouse: () => Warehouse;
  /** Write the rows of a DuckDB SELECT to a Parquet file the adapter can load; returns its URI. */
  parquet: (select: string) => Promise<string>;
}

/** The warehouse port's contract, run against every adapter. Each test uses its own dataset. */
export function warehouseContract(label: string, fixture: WarehouseFixture): void {
  let n = 0;
  const dataset = () => `contract_${n++}_${Date.now().toString(36)}`;

  const events: TableSchema = {
    description: "events of a day",
    partitionBy: "day",
    clusterBy: ["kind"],
    columns: [
      { name: "day", type: "DATE", mode: "REQUIRED" },
      { name: "kind", type: "STRING", description: "what happened" },
      { name: "n", type: "INT64" },
      { name: "big", type: "INT64" },
      { name: "x", type: "FLOAT64" },
      { name: "amount", type: "NUMERIC" },
      { name: "ok", type: "BOOL" },
      { name: "seen_at", type: "TIMESTAMP" },
      { name: "tags", type: "STRING", mode: "REPEATED" },
      {
        name: "geo",
        type: "RECORD",
        fields: [
          { name: "country", type: "STRING" },
          { name: "share", type: "FLOAT64" },
        ],
      },
    ],
  };

  const row = (day: string, i: number) => ({
    day,
    kind: i % 2 === 0 ? "even" : "odd",
    n: i,
    big: i === 0 ? "9007199254740993" : i,
    x: i / 4,
    amount: "12.5",
    ok: i % 2 === 0,
    seen_at: `${day}T01:02:03.000Z`,
    tags: [`t${i}`, "all"],
    geo: { country: "DE", share: 0.5 },
  });

  describe(`warehouse contract: ${label}`, () => {
    it("creates a table from a schema and reads the same schema back; a different schema is an error", async () => {
      const w = fixture.warehouse();
      const ref = { dataset: dataset(), table: "events" };
      expect(await w.getSchema(ref)).toBeUndefined();
      await w.ensureTable(ref, events);
      await w.ensureTable(ref, events);
      const back = await w.getSchema(ref);
      expect(back?.partitionBy).toBe("day");
      expect(back?.clusterBy).toEqual(["kind"]);
      expect(back?.description).toBe("events of a day");
      expect(back?.columns).toEqual([
        { name: "day", type: "DATE", mode: "REQUIRED" },
        { name: "kind", type: "STRING", description: "what happened" },
        { name: "n", type: "INT64" },
        { name: "big", type: "INT64" },
        { name: "x", type: "FLOAT64" },
        { name: "amount", type: "NUMERIC" },
        { name: "ok", type: "BOOL" },
        { name: "seen_at", type: "TIMESTAMP" },
        { name: "tags", type: "STRING", mode: "REPEATED" },
        {
          name: "geo",
          type: "RECORD",
          fields: [
            { name: "country", type: "STRING" },
            { name: "share", type: "FLOAT64" },
          ],
        },
      ]);
      const other: TableSchema = {
        ...events,
        columns: events.columns.map((c) => (c.name === "n" ? { ...c, type: "STRING" } : c)),
      };
      await expect(w.ensureTable(ref, other)).rejects.toThrow(/another schema.*n/);
    });

    it("inserts rows and answers parameterised BigQuery SQL with plain JS values", async () => {
      const w = fixture.warehouse();
      const ds = dataset();
      const ref = { dataset: ds, table: "events" };
      await w.ensureTable(ref, events);
      await w.insertRows(
        ref,
        [0, 1, 2, 3].map((i) => row("2024-03-01", i)),
      );
      const rows = await w.query(
        `SELECT day, kind, n, big, x, amount, ok, \`seen_at\`, tags, geo FROM \`tessera-test.${ds}.events\`
         WHERE day = CAST(@day AS DATE) AND n >= @min AND kind IN UNNEST(@kinds) ORDER BY n`,
        { day: "2024-03-01", min: 0, kinds: ["even"] },
      );
      expect(rows).toEqual([
        {
          day: "2024-03-01",
          kind: "even",
          n: 0,
          big: "9007199254740993",
          x: 0,
          amount: 12.5,
          ok: true,
          seen_at: "2024-03-01T01:02:03.000Z",
          tags: ["t0", "all"],
          geo: { country: "DE", share: 0.5 },
        },
        expect.objectContaining({ n: 2, big: 2, x: 0.5 }),
      ]);
      const agg = await w.query<{ total: number; c: number }>(
        `SELECT SUM(n) AS total, COUNT(*) AS c FROM \`${ds}.events\` WHERE kind = @kind`,
        { kind: "odd" },
      );
      expect(agg).toEqual([{ total: 4, c: 2 }]);
    });

    it("rejects rows that do not fit the table, naming the row and column", async () => {
      const w = fixture.warehouse();
      const ref = { dataset: dataset(), table: "events" };
      await w.ensureTable(ref, events);
      await expect(w.insertRows(ref, [{ ...row("2024-03-01", 1), extra: 1 }])).rejects.toThrow(
        /row 0.*extra/,
      );
      await expect(
        w.insertRows(ref, [row("2024-03-01", 1), { ...row("2024-03-01", 2), day: null }]),
      ).rejects.toBeInstanceOf(NonRetriableError);
      await expect(w.insertRows(ref, [{ ...row("2024-03-01", 1), n: "seven" }])).rejects.toThrow(
        /row 0.*\bn\b/,
      );
      await expect(
        w.insertRows({ dataset: ref.dataset, table: "nope" }, [row("2024-03-01", 1)]),
      ).rejects.toBeInstanceOf(NonRetriableError);
    });

    it("replaces one partition atomically with rows, leaving the others", async () => {
      const w = fixture.warehouse();
      const ds = dataset();
      const ref = { dataset: ds, table: "events" };
      await w.ensureTable(ref, events);
      await w.insertRows(ref, [row("2024-03-01", 1), row("2024-03-02", 2), row("2024-03-02", 3)]);
      const res = await w.replacePartition(
        ref,
        { column: "day", value: "2024-03-02" },
        {
          rows: [row("2024-03-02", 10), row("2024-03-02", 11), row("2024-03-02", 12)],
        },
      );
      expect(res).toEqual({ rows: 3 });
      const counts = await w.query(
        `SELECT CAST(day AS STRING) AS d, COUNT(*) AS c, SUM(n) AS s FROM \`${ds}.events\` GROUP BY d ORDER BY d`,
      );
      expect(counts).toEqual([
        { d: "2024-03-01", c: 1, s: 1 },
        { d: "2024-03-02", c: 3, s: 33 },
      ]);
      // A row outside the partition fails the whole replacement; the old partition stays.
      await expect(
        w.replacePartition(
          ref,
          { column: "day", value: "2024-03-02" },
          { rows: [row("2024-03-02", 20), row("2024-03-03", 21)] },
        ),
      ).rejects.toBeInstanceOf(NonRetriableError);
      expect(
        await w.query(`SELECT SUM(n) AS s FROM \`${ds}.events\` WHERE day = CAST(@d AS DATE)`, {
          d: "2024-03-02",
        }),
      ).toEqual([{ s: 33 }]);
      await expect(
        w.replacePartition(ref, { column: "kind", value: "x" }, { rows: [] }),
      ).rejects.toBeInstanceOf(NonRetriableError);
      await expect(
        w.replacePartition(ref, { column: "day", value: "2024-02-30" }, { rows: [] }),
      ).rejects.toBeInstanceOf(NonRetriableError);
    });

    it("replaces one partition from Parquet files", async () => {
      const w = fixture.warehouse();
      const ds = dataset();
      const ref = { dataset: ds, table: "daily" };
      const schema: TableSchema = {
        partitionBy: "ds",
        columns: [
          { name: "ds", type: "DATE" },
          { name: "metric", type: "STRING" },
          { name: "value", type: "FLOAT64" },
        ],
      };
      await w.ensureTable(ref, schema);
      await w.insertRows(ref, [
        { ds: "2024-01-01", metric: "old", value: 1 },
        { ds: "2024-01-02", metric: "keep", value: 2 },
      ]);
      const a = await fixture.parquet(
        "SELECT DATE '2024-01-01' AS ds, 'm' || i AS metric, i * 1.5 AS value FROM range(0, 50) t(i)",
      );
      const b = await fixture.parquet(
        "SELECT DATE '2024-01-01' AS ds, 'n' || i AS metric, i * 1.0 AS value FROM range(0, 25) t(i)",
      );
      const res = await w.replacePartition(
        ref,
        { column: "ds", value: "2024-01-01" },
        { parquetUris: [a, b] },
      );
      expect(res).toEqual({ rows: 75 });
      const got = await w.query(
        `SELECT CAST(ds AS STRING) AS ds, COUNT(*) AS c FROM \`${ds}.daily\` GROUP BY 1 ORDER BY 1`,
      );
      expect(got).toEqual([
        { ds: "2024-01-01", c: 75 },
        { ds: "2024-01-02", c: 1 },
      ]);
      expect(await w.query(`SELECT COUNT(*) AS c FROM \`${ds}.daily\` WHERE metric = 'old'`)).toEqual([
        { c: 0 },
      ]);
    });

    it("validates identifiers and parameters: no SQL through names", async () => {
      const w = fixture.warehouse();
      const ds = dataset();
      await expect(
        w.ensureTable({ dataset: ds, table: 'x"; DROP TABLE y; --' }, events),
      ).rejects.toBeInstanceOf(NonRetriableError);
      await expect(w.ensureTable({ dataset: "a b", table: "t" }, events)).rejects.toBeInstanceOf(
        NonRetriableError,
      );
      await expect(
        w.ensureTable({ dataset: ds, table: "t" }, { columns: [{ name: "a) ; DROP", type: "STRING" }] }),
      ).rejects.toBeInstanceOf(NonRetriableError);
      await expect(w.getSchema({ dataset: ds, table: "t;--" })).rejects.toBeInstanceOf(NonRetriableError);
      await expect(w.query("SELECT @missing AS m")).rejects.toThrow(/missing/);
      expect(await w.query("SELECT @v AS v, @s AS s", { v: 3, s: "it's; DROP" })).toEqual([
        { v: 3, s: "it's; DROP" },
      ]);
      await expect(w.query("SELEC nonsense")).rejects.toBeInstanceOf(Error);
    });
  });
}
