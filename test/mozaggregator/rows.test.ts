import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ParquetWriter, type WriterOptions } from "../../containers/mozaggregator/parquet-writer.ts";
import { OUTPUT_SCHEMA, RowConverter } from "../../containers/mozaggregator/rows.ts";
import { expectedRow, readParquetRows, sortRows } from "./expected.ts";

const TABLE = "submission_date_nightly_72_20191201";
const INGEST = "2026-11-24";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mozagg-rows-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Convert COPY lines (without the end marker) through one RowConverter into a Parquet file. */
async function convertLines(name: string, lines: string[], options: WriterOptions = {}) {
  const path = join(dir, `${name}.parquet`);
  const w = new ParquetWriter(path, OUTPUT_SCHEMA, options);
  const conv = new RowConverter(`${name}.dat`, w, {
    ingestDate: INGEST,
    aggregateType: "submission_date",
    dsNodash: "20191201",
    channel: "nightly",
    version: "72",
  });
  const buf = Buffer.from(`${lines.join("\n")}\n\\.\n`, "utf8");
  conv.convertLines(buf, 0, buf.length);
  conv.finish();
  expect(w.close()).toBe(lines.length);
  return { rows: await readParquetRows([path]), unknown: conv.unknownKeys };
}

const expected = (lines: string[]) =>
  sortRows(
    lines.map((l) => {
      const [d, h] = l.split("\t");
      return expectedRow(TABLE, INGEST, d, h);
    }),
  );

const dims = (os: string, metric: string, extra = "") =>
  `{"os": "${os}", "child": "false", "label": "", "metric": "${metric}", "osVersion": "10.0", "application": "Firefox", "architecture": "x86-64"${extra}}`;

describe("RowConverter's dimension columns", () => {
  it("gives repeated objects and objects one byte apart their own values, across row groups", async () => {
    const objects = [
      dims("Linux", "GC_MS"),
      dims("Linuy", "GC_MS"), // one byte apart in a value
      dims("Linux", "GC_MT"),
      `{"os": "Linux", "child": "false", "label": "", "metric": "GC_MS", "osVersion": "10.0", "application": "Firefox"}`,
      dims("Linux", "GC_MS", ', "e10sEnabled": "true"'),
      dims("Linux", "GC_MS", ', "e10sEnabled": "truf"'),
      '{"os": "Linux"}',
      "{}",
    ];
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++)
      lines.push(`${objects[(i * 7) % objects.length]}\t{${i},${i % 3},${i * 2},7}`);
    // 1,024-row row groups: each row group's dictionaries start again.
    const { rows, unknown } = await convertLines("repeats", lines, { rowGroupRows: 1024, pageBytes: 2048 });
    expect(rows.length).toBe(5000);
    expect(sortRows(rows)).toEqual(expected(lines));
    expect(unknown.get("e10sEnabled")).toBe(lines.filter((l) => l.includes("e10sEnabled")).length);
  });

  it("decodes escaped values as JSON does, in every column and across row groups", async () => {
    // COPY doubles every backslash of the JSON text; the expected rows come from the JSON text itself.
    const copyEscape = (json: string) => json.replaceAll("\\", "\\\\");
    const values = [
      '"quoted"',
      "back\\slash\\",
      "tab\there",
      "new\nline\r",
      "\b\f",
      "é ü 日本",
      "\u0001 control",
      "x".repeat(5000) + '"', // longer than the decoding buffer starts
      "",
    ];
    const raw = ['"a\\/b"', '"\\u00e9t\\u00e9"', '"\\\\"']; // JSON text as written: \/, \u escapes, \\
    const jsons: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const v = values[i % values.length];
      const w = values[(i * 5 + 1) % values.length];
      const r = raw[i % raw.length];
      const extra =
        i % 4 === 0
          ? `, "e10s\\"Enabled": ${JSON.stringify(w)}`
          : i % 4 === 1
            ? `, "extra": ${JSON.stringify(v)}`
            : "";
      jsons.push(
        `{"os": ${JSON.stringify(v)}, "child": "false", "label": ${r}, "metric": ${JSON.stringify(`M${i % 7}${w}`)}, "osVersion": "10.0", "application": ${JSON.stringify(w)}, "architecture": "x86-64"${extra}}`,
      );
    }
    const lines = jsons.map((j, i) => `${copyEscape(j)}\t{${i},${i % 3},4}`);
    const { rows, unknown } = await convertLines("escaped", lines, { rowGroupRows: 1024, pageBytes: 4096 });
    const want = sortRows(jsons.map((j, i) => expectedRow(TABLE, INGEST, j, `{${i},${i % 3},4}`)));
    expect(sortRows(rows)).toEqual(want);
    expect(unknown.get("extra")).toBe(750);
    expect(unknown.get('e10s"Enabled')).toBe(750);
  });

  it("keeps objects that do not repeat exact", async () => {
    const lines: string[] = [];
    for (let i = 0; i < 9000; i++) lines.push(`${dims("Darwin", `M_${i}`)}\t{${i},1,2}`);
    lines.push(`${dims("Darwin", "M_5")}\t{5,1,2}`);
    const { rows } = await convertLines("unique", lines);
    expect(sortRows(rows)).toEqual(expected(lines));
  });

  it("writes a repeated object's values PLAIN once its column's dictionary is full", async () => {
    const lines: string[] = [];
    // Every other row repeats one object while `metric` passes the dictionary's 1 MB.
    const pad = "x".repeat(200);
    for (let i = 0; i < 12_000; i++) {
      lines.push(
        i % 2 === 0 ? `${dims("Android", "SAME")}\t{1,2,3}` : `${dims("Android", `U${i}${pad}`)}\t{${i},0,0}`,
      );
    }
    const { rows } = await convertLines("full", lines, { rowGroupRows: 100_000 });
    expect(rows.length).toBe(lines.length);
    expect(sortRows(rows)).toEqual(expected(lines));
  });
});
