import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ColumnSpec,
  DICT_MAX_ENTRIES,
  hashBytes,
  ParquetWriter,
} from "../../containers/mozaggregator/parquet-writer.ts";

function halves(v: bigint): [number, number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn), Number(u >> 32n)];
}

describe("ParquetWriter", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqw-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const schema: ColumnSpec[] = [
    { name: "d", kind: "date" },
    { name: "s", kind: "string" },
    { name: "h", kind: "int64-list" },
    { name: "n", kind: "int64" },
  ];
  const extremes = [
    0n,
    1n,
    -1n,
    4294967295n,
    4294967296n,
    9007199254740993n,
    9223372036854775807n,
    -9223372036854775808n,
  ];

  async function readBack(path: string) {
    const db = await DuckDBInstance.create();
    const c = await db.connect();
    try {
      const r = await c.runAndReadAll(
        `SELECT d::VARCHAR AS d, s, h::VARCHAR[] AS h, n::VARCHAR AS n FROM read_parquet('${path}')`,
      );
      const d = await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`);
      return { rows: r.getRowObjectsJson(), types: d.getRows().map((x) => `${x[0]} ${x[1]}`) };
    } finally {
      c.closeSync();
      db.closeSync();
    }
  }

  it.each([
    ["one row group, one page", { rowGroupRows: 1_000_000 }],
    ["many row groups and pages", { rowGroupRows: 1024, pageBytes: 512 }],
  ])("writes what DuckDB reads back: %s", async (_name, options) => {
    const path = join(dir, `t-${options.rowGroupRows}.parquet`);
    const w = new ParquetWriter(path, schema, options);
    const expected: { d: string; s: string | null; h: string[]; n: string }[] = [];
    const lo = new Uint32Array(16);
    const hi = new Uint32Array(16);
    for (let i = 0; i < 5000; i++) {
      const s = i % 7 === 0 ? null : i % 11 === 0 ? "" : `v${i} ünï "q"\t`;
      const len = i % 5; // includes empty lists
      const values = Array.from({ length: len }, (_, k) =>
        k === 0 ? extremes[i % extremes.length] : BigInt(i * k),
      );
      values.forEach((v, k) => {
        [lo[k], hi[k]] = halves(v);
      });
      const n = extremes[(i + 3) % extremes.length];
      w.date(0, 18000 + (i % 3));
      w.string(1, s);
      w.list(2, lo, hi, 0, len);
      w.int64Parts(3, ...halves(n));
      w.endRow();
      const day = new Date((18000 + (i % 3)) * 86_400_000).toISOString().slice(0, 10);
      expected.push({ d: day, s, h: values.map(String), n: String(n) });
    }
    expect(w.close()).toBe(5000);
    const { rows, types } = await readBack(path);
    expect(types).toEqual(["d DATE", "s VARCHAR", "h BIGINT[]", "n BIGINT"]);
    expect(rows).toEqual(expected);
  });

  it("encodes list pages as DELTA_BINARY_PACKED and falls back to PLAIN for huge values", async () => {
    const path = join(dir, "delta.parquet");
    const w = new ParquetWriter(path, schema, { rowGroupRows: 4096, pageBytes: 4096 });
    const expected: string[][] = [];
    const lo = new Uint32Array(300);
    const hi = new Uint32Array(300);
    let seed = 1;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let i = 0; i < 3000; i++) {
      const len = Math.floor(rand() * 200);
      const values: bigint[] = [];
      for (let k = 0; k < len; k++) {
        const r = rand();
        // small counts, zeros, negatives, values near the DELTA limit (2^50), and rarely beyond int53
        const v =
          r < 0.5
            ? 0n
            : r < 0.8
              ? BigInt(Math.floor(rand() * 1000))
              : r < 0.9
                ? -BigInt(Math.floor(rand() * 2 ** 40))
                : r < 0.999
                  ? BigInt(Math.floor(rand() * 2 ** 50)) - 2n ** 49n
                  : 9223372036854775807n - BigInt(i);
        values.push(v);
        [lo[k], hi[k]] = halves(v);
      }
      w.date(0, 0);
      w.string(1, null);
      w.list(2, lo, hi, 0, len);
      w.int64Parts(3, 0, 0);
      w.endRow();
      expected.push(values.map(String));
    }
    w.close();
    const { rows } = await readBack(path);
    expect(rows.map((r) => r.h)).toEqual(expected);
  });

  it("dictionary-encodes string columns, falling back to PLAIN when a row group's dictionary is full", async () => {
    const path = join(dir, "dict.parquet");
    const dictSchema: ColumnSpec[] = [
      { name: "few", kind: "string", dictionary: true },
      { name: "many", kind: "string", dictionary: true },
      { name: "nulls", kind: "string", dictionary: true },
    ];
    const w = new ParquetWriter(path, dictSchema, { rowGroupRows: 50_000, pageBytes: 8192 });
    const rows = DICT_MAX_ENTRIES + 30_000;
    const expected: { few: string | null; many: string; nulls: string | null }[] = [];
    const hash = (s: string) => {
      const b = Buffer.from(s, "utf8");
      return { b, h: hashBytes(b, 0, b.length) };
    };
    for (let i = 0; i < rows; i++) {
      const few = i % 13 === 0 ? null : i % 5 === 0 ? "" : `ü${i % 7}`;
      // distinct values: the first row group's dictionary fills up and the rest of it goes PLAIN
      const many = `value-${i}`;
      w.string(0, few);
      const { b, h } = hash(many);
      w.stringHashed(1, b, 0, b.length, h);
      w.nullValue(2);
      w.endRow();
      expected.push({ few, many, nulls: null });
    }
    w.close();
    const db = await DuckDBInstance.create();
    const c = await db.connect();
    try {
      const r = await c.runAndReadAll(`SELECT few, many, nulls FROM read_parquet('${path}')`);
      expect(r.getRowObjectsJson()).toEqual(expected);
      const m = await c.runAndReadAll(
        `SELECT path_in_schema, row_group_id, encodings FROM parquet_metadata('${path}') ORDER BY ALL`,
      );
      const encodings = m.getRows().map((x) => `${x[0]} ${x[1]} ${x[2]}`);
      expect(encodings).toContain("few 0 PLAIN, RLE, RLE_DICTIONARY");
      expect(encodings).toContain("many 0 PLAIN, RLE, RLE_DICTIONARY");
      // row group 1 starts a fresh dictionary
      expect(encodings).toContain("many 1 PLAIN, RLE, RLE_DICTIONARY");
    } finally {
      c.closeSync();
      db.closeSync();
    }
  });

  it("reuses an aborted and a closed writer's buffers for exact later files, with long level runs and hash-alike values", async () => {
    const spec: ColumnSpec[] = [
      { name: "s", kind: "string" },
      { name: "k", kind: "string", dictionary: true },
      { name: "n", kind: "int64" },
    ];
    // An aborted writer hands back buffers holding half a page.
    const aborted = new ParquetWriter(join(dir, "aborted.parquet"), spec);
    for (let i = 0; i < 5000; i++) {
      aborted.string(0, `abandoned-${i}`.repeat(3));
      aborted.string(1, "x");
      aborted.int64Parts(2, i, 0);
      aborted.endRow();
    }
    aborted.abort();
    // Values alike in length and in their first, middle and last four bytes: the sampled hash is equal, the
    // dictionary tells them apart by their bytes.
    const alike = ["AAAA-1-MMMM-2-ZZZZ", "AAAA-3-MMMM-4-ZZZZ", "AAAA-5-MMMM-6-ZZZZ"];
    const b0 = Buffer.from(alike[0]);
    const b1 = Buffer.from(alike[1]);
    expect(hashBytes(b0, 0, b0.length)).toBe(hashBytes(b1, 0, b1.length));
    for (const [name, rows] of [
      ["pooled-1.parquet", 3000],
      ["pooled-2.parquet", 1200],
    ] as const) {
      const path = join(dir, name);
      const w = new ParquetWriter(path, spec, { pageBytes: 4096 });
      const expected: { s: string | null; k: string | null; n: string }[] = [];
      for (let i = 0; i < rows; i++) {
        // alternating NULLs: a page's definition levels outgrow the room kept in front of its values
        const s = i % 2 === 0 ? null : `${name}-${i}`;
        const k = i % 7 === 0 ? null : alike[i % 3];
        w.string(0, s);
        w.string(1, k);
        w.int64Parts(2, i, 0);
        w.endRow();
        expected.push({ s, k, n: String(i) });
      }
      expect(w.close()).toBe(rows);
      const db = await DuckDBInstance.create();
      const c = await db.connect();
      try {
        const r = await c.runAndReadAll(`SELECT s, k, n::VARCHAR AS n FROM read_parquet('${path}')`);
        expect(r.getRowObjectsJson()).toEqual(expected);
      } finally {
        c.closeSync();
        db.closeSync();
      }
    }
  });

  it("writes a valid file with no rows", async () => {
    const path = join(dir, "empty.parquet");
    const w = new ParquetWriter(path, schema);
    expect(w.close()).toBe(0);
    expect((await readBack(path)).rows).toEqual([]);
  });
});
