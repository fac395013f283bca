import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPool } from "../../containers/mozaggregator/pool.ts";
import type { TableFileTask } from "../../containers/mozaggregator/table-file.ts";
import { readParquetRows } from "./expected.ts";

const constants = {
  ingestDate: "2026-11-24",
  aggregateType: "build_id",
  dsNodash: "20191201",
  channel: "beta",
  version: "70",
};

describe("the converter pool (this thread and worker threads taking tables from a shared counter)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mz-pool-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function tables(n: number, bad = -1): Promise<TableFileTask[]> {
    const tasks: TableFileTask[] = [];
    for (let t = 0; t < n; t++) {
      const lines = Array.from(
        { length: 50 + t },
        (_, i) => `{"os": "Linux", "metric": "M${t}", "label": "${i}"}\t{${i},${t},${i + t}}`,
      );
      if (t === bad) lines[7] = `{"os": "Linux"}\t{1,oops,3}`;
      const input = join(dir, `${n}-${bad}-${t}.dat.gz`);
      await writeFile(input, gzipSync(`${lines.join("\n")}\n\\.\n`));
      tasks.push({ input, output: join(dir, `${n}-${bad}-${t}.parquet`), constants });
    }
    return tasks;
  }

  it.each([1, 3])("converts every table once, results in task order, on %i thread(s)", async (threads) => {
    const tasks = await tables(7);
    const done: string[] = [];
    const results = await runPool(tasks, threads, (r) => done.push(r.input));
    expect(results.map((r) => r.input)).toEqual(tasks.map((t) => t.input));
    expect(results.map((r) => r.rows)).toEqual(tasks.map((_, t) => 50 + t));
    expect([...done].sort()).toEqual(tasks.map((t) => t.input).sort());
    const rows = await readParquetRows(results.map((r) => r.output));
    expect(rows).toHaveLength(tasks.reduce((a, _, t) => a + 50 + t, 0));
    expect(rows.filter((r) => r.metric === "M6" && r.label === "9")).toEqual([
      expect.objectContaining({ aggregate: "[9,6,15]", histogram: ["9"], sum: "6", count: "15" }),
    ]);
  });

  it("stops at the first failure and rethrows it with file, line and reason", async () => {
    const tasks = await tables(6, 4);
    const err = await runPool(tasks, 2).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.name).toBe("CopyFormatError");
    expect(err?.message).toMatch(new RegExp(`^${tasks[4].input}:8: histogram "\\{1,oops,3\\}"`));
  });
});
