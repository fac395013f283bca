import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertTableFile } from "../../containers/mozaggregator/table-file.ts";
import { readParquetRows } from "./expected.ts";

const constants = {
  ingestDate: "2026-11-24",
  aggregateType: "submission_date",
  dsNodash: "20191201",
  channel: "nightly",
  version: "71",
};

describe("one table's COPY data -> Parquet", () => {
  let dir: string;
  let n = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mz-table-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const gz = (lines: string[]) => gzipSync(Buffer.from(`${lines.join("\n")}\n\\.\n\n`));
  const row = (h: string) => `{"os": "Linux", "metric": "GC_MS", "label": ""}\t${h}`;
  async function run(data: Buffer) {
    const input = join(dir, `${++n}.dat.gz`);
    const output = join(dir, `${n}.parquet`);
    await writeFile(input, data);
    return { input, output, result: convertTableFile({ input, output, constants }) };
  }

  it.each([
    [
      "a line with three columns",
      [row("{1,2,3}"), `${row("{1,2,3}")}\textra`],
      2,
      /expected 2 tab-separated columns/,
    ],
    [
      "a line with one column",
      [row("{1,2,3}"), row("{1,2}"), "justone"],
      3,
      /expected 2 tab-separated columns/,
    ],
    [
      "a non-numeric element",
      [row("{1,x,3}")],
      1,
      /histogram "\{1,x,3\}": unexpected character "x" at offset 3/,
    ],
    [
      "a third column after an element past 15 digits",
      [row("{1,2}"), `${row("{1,12345678901234567,3}")}\textra`],
      2,
      /expected 2 tab-separated columns/,
    ],
    ["a bad element after one past 15 digits", [row("{12345678901234567,x}")], 1, /unexpected character "x"/],
    ["one element past 15 digits alone", [row("{12345678901234567}")], 1, /fewer than 2 elements/],
    ["a NULL element", [row("{1,2}"), row("{1,NULL,3}")], 2, /element 2 is NULL/],
    ["an empty element", [row("{1,,3}")], 1, /element 2 is empty/],
    ["an empty array", [row("{}")], 1, /is empty/],
    ["a multi-dimensional array", [row("{{1,2},{3,4}}")], 1, /multi-dimensional/],
    ["a too-short array", [row("{7}")], 1, /fewer than 2 elements/],
    [
      "an INT64 overflow",
      [row("{1,9223372036854775808}")],
      1,
      /element 9223372036854775808 does not fit INT64/,
    ],
    ["a NULL histogram", [row("\\N")], 1, /histogram "\\\\N": is NULL/],
    ["a non-array histogram", [row("[1,2]")], 1, /is not an array literal/],
    ["NULL dimensions", ["\\N\t{1,2}"], 1, /dimensions is NULL/],
    ["dimensions that are not JSON", ["{os: Linux}\t{1,2}"], 1, /dimensions is not valid JSON/],
    ["dimensions that are a JSON array", ['["a"]\t{1,2}'], 1, /dimensions is not a JSON object/],
    ["a lone backslash", ['{"os": "a"}\\\t{1,2}'], 1, /lone backslash/],
  ])("%s: fails with file, line and reason, and leaves no output", async (_name, lines, line, reason) => {
    const { input, output, result } = await run(gz(lines as string[]));
    const err = await result.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.name).toBe("CopyFormatError");
    expect(err?.message.startsWith(`${input}:${line}: `)).toBe(true);
    expect(err?.message).toMatch(reason);
    expect(existsSync(output)).toBe(false);
  });

  it("fails on a missing end-of-data marker and on a file that is not gzip", async () => {
    const a = await run(gzipSync(Buffer.from(`${row("{1,2}")}\n${row("{3,4}")}\n`)));
    await expect(a.result).rejects.toThrow(`${a.input}:2: data ends without the end-of-data marker`);
    const b = await run(Buffer.from("not gzip at all"));
    await expect(b.result).rejects.toThrow(new RegExp(`^${b.input}:1: gzip data is truncated or corrupt`));
    expect(existsSync(b.output)).toBe(false);
  });

  it("fails on bytes after the end of the gzip data", async () => {
    const c = await run(Buffer.concat([gz([row("{1,2}")]), Buffer.from([0, 0, 0, 0])]));
    await expect(c.result).rejects.toThrow(
      new RegExp(`^${c.input}:\\d+: gzip data is truncated or corrupt \\(unexpected bytes after the end`),
    );
    expect(existsSync(c.output)).toBe(false);
  });

  it("reads concatenated gzip members and lines longer than the parse buffer, as gzip -dc does", async () => {
    // 400,000 elements: a line of ~1.6 MB, longer than the 1 MB buffer the lines are parsed from
    const long = Array.from({ length: 400_000 }, (_, i) => i % 1000);
    const first = gzipSync(Buffer.from(`${row(`{${long.join(",")}}`)}\n${row("{1,2}")}\n`));
    const second = gzipSync(Buffer.from(`${row("{3,4,5}")}\n\\.\n`));
    const { output, result } = await run(Buffer.concat([first, second]));
    const r = await result;
    expect(r.rows).toBe(3);
    const rows = await readParquetRows([output]);
    expect(rows.map((x) => [x.histogram?.length, x.sum, x.count])).toEqual([
      [399_998, String(long[399_998]), String(long[399_999])],
      [0, "1", "2"],
      [1, "4", "5"],
    ]);
    expect(rows[0].aggregate).toBe(`[${long.join(",")}]`);
  });

  it("keeps elements past 15 digits exact next to escaped values and unknown keys", async () => {
    const lines = [
      '{"os": "a\\\\"b", "metric": "M5", "e10sEnabled": "x"}\t{1234567890123456,-2,9007199254740993,4}',
      '{"os": "Linux", "metric": "M6"}\t{1,2,3}',
      '{"label": "t\\\\tab", "metric": "M7"}\t{-9007199254740993,0,1}',
    ];
    const { output, result } = await run(gz(lines));
    const r = await result;
    expect(r.rows).toBe(3);
    expect(r.unknownKeys).toEqual({ e10sEnabled: 1 });
    const rows = await readParquetRows([output]);
    expect(rows.map((x) => [x.metric, x.os, x.label, x.aggregate, x.histogram, x.sum, x.count])).toEqual([
      [
        "M5",
        'a"b',
        null,
        "[1234567890123456,-2,9007199254740993,4]",
        ["1234567890123456", "-2"],
        "9007199254740993",
        "4",
      ],
      ["M6", "Linux", null, "[1,2,3]", ["1"], "2", "3"],
      ["M7", null, "t\tab", "[-9007199254740993,0,1]", ["-9007199254740993"], "0", "1"],
    ]);
  });

  it("decodes escapes and non-string JSON values, and counts unknown keys", async () => {
    const lines = [
      '{"os": "Lin\\\\tux", "child": true, "label": "a\\\\"b", "metric": "M1", "osVersion": null, "x": 1}\t{5,6,7}',
      '{"os":"A","child":"false","label":"","metric":"M2","osVersion":"1","application":"Firefox","architecture":"x86"}\t{-5,0,-9223372036854775808}',
      '{"os": "\\\\u00e9t\\\\u00e9", "metric": "M3", "label": "\\\\\\\\N", "architecture": "tab\\\\there"}\t{1,2}',
      '{"os": "Linux", "metric": "M4", "x": "1", "y": "2"}\t{0,9223372036854775807,18446744073709551,1}',
    ];
    const { output, result } = await run(gz(lines));
    const r = await result;
    expect(r.rows).toBe(4);
    expect(r.unknownKeys).toEqual({ x: 2, y: 1 });
    const rows = await readParquetRows([output]);
    expect(
      rows.map((x) => [
        x.metric,
        x.os,
        x.child,
        x.label,
        x.osVersion,
        x.architecture,
        x.aggregate,
        x.histogram,
        x.sum,
        x.count,
      ]),
    ).toEqual([
      ["M1", "Lin\tux", "true", 'a"b', null, null, "[5,6,7]", ["5"], "6", "7"],
      [
        "M2",
        "A",
        "false",
        "",
        "1",
        "x86",
        "[-5,0,-9223372036854775808]",
        ["-5"],
        "0",
        "-9223372036854775808",
      ],
      ["M3", "été", null, "\\N", null, "tab\there", "[1,2]", [], "1", "2"],
      [
        "M4",
        "Linux",
        null,
        null,
        null,
        null,
        "[0,9223372036854775807,18446744073709551,1]",
        ["0", "9223372036854775807"],
        "18446744073709551",
        "1",
      ],
    ]);
    expect(rows[0]).toMatchObject({
      ingest_date: "2026-11-24",
      aggregate_type: "submission_date",
      ds_nodash: "20191201",
      channel: "nightly",
      version: "71",
      application: null,
    });
  });
});
