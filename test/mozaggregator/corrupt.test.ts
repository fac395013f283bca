import { existsSync } from "node:fs";
import { cp, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convert, SUCCESS_FILE } from "../../containers/mozaggregator/convert.ts";
import { dump } from "../../containers/mozaggregator/dump.ts";
import { postgresAvailable } from "../helpers/postgres.ts";
import { type AggregatesFixture, startAggregates } from "./fixture.ts";

const DAY = "2019-12-01";
const OTHER = "2019-12-02";

describe.skipIf(!postgresAvailable())("mozaggregator bad input: loud failure, nothing published", () => {
  let fx: AggregatesFixture;
  let good: string;
  let n = 0;

  beforeAll(async () => {
    fx = await startAggregates([DAY, OTHER], {
      tablesPerDay: 2,
      rowsPerTable: 200,
      types: ["submission_date"],
    });
    good = join(fx.dir, "good");
    for (const day of [DAY, OTHER]) {
      const r = await dump({
        connection: fx.connection,
        ds: day,
        type: "submission_date",
        outDir: join(good, "submission_date", day.replaceAll("-", "")),
      });
      expect(r.status).toBe("dumped");
    }
  });
  afterAll(async () => {
    await fx?.stop();
  });

  /** A copy of the good dumps, a published output of both days, and the first data file of DAY. */
  async function scenario() {
    const root = join(fx.dir, `case-${n++}`);
    const input = join(root, "in");
    const output = join(root, "out");
    await cp(good, input, { recursive: true });
    for (const ds of [DAY, OTHER]) {
      const r = await convert({ input, output, ds, types: ["submission_date"], threads: 1 });
      expect(r.completedDay).toBe(true);
    }
    const dir = join(input, "submission_date", "20191201");
    const dataFile = join(dir, (await readdir(dir)).filter((f) => f.endsWith(".dat.gz")).sort()[0]);
    const run = () => convert({ input, output, ds: DAY, types: ["submission_date"], threads: 2 });
    return { input, output, dir, dataFile, run };
  }

  /** The day is unpublished (no _SUCCESS, no staging left over); the other day is untouched. */
  async function expectUnpublished(output: string) {
    const dir = join(output, "submission_date", "20191201");
    expect(existsSync(join(dir, SUCCESS_FILE))).toBe(false);
    expect((await readdir(dir)).filter((f) => f.startsWith(".staging") || f.startsWith("_task-"))).toEqual(
      [],
    );
    expect(existsSync(join(output, "submission_date", "20191202", SUCCESS_FILE))).toBe(true);
  }

  it("a truncated gzip names the file and fails the day", async () => {
    const s = await scenario();
    await truncate(s.dataFile, Math.floor((await stat(s.dataFile)).size / 2));
    await expect(s.run()).rejects.toThrow(
      new RegExp(`^${s.dataFile}:\\d+: gzip data is truncated or corrupt \\(unexpected end of file\\)`),
    );
    await expectUnpublished(s.output);
  });

  it("a corrupt TOC names toc.dat, the byte offset and the reason", async () => {
    const s = await scenario();
    const toc = join(s.dir, "toc.dat");
    const buf = await readFile(toc);
    await writeFile(toc, buf.subarray(0, buf.length - 7));
    await expect(s.run()).rejects.toThrow(new RegExp(`^${toc}: corrupt TOC at byte \\d+: file ends after`));
    await expectUnpublished(s.output);
  });

  it("an unknown dump format version is refused", async () => {
    const s = await scenario();
    const toc = join(s.dir, "toc.dat");
    const buf = await readFile(toc);
    buf[6] = 42;
    await writeFile(toc, buf);
    await expect(s.run()).rejects.toThrow(/toc\.dat: unsupported pg_dump archive version 1\.42\.0/);
    await expectUnpublished(s.output);
  });

  it("a malformed COPY line names file and line and fails the day", async () => {
    const s = await scenario();
    const lines = ['{"os": "Linux"}\t{1,2}', '{"os": "Linux"}\t{1,2}\tthird'];
    await writeFile(s.dataFile, gzipSync(Buffer.from(`${lines.join("\n")}\n\\.\n`)));
    await expect(s.run()).rejects.toThrow(`${s.dataFile}:2: expected 2 tab-separated columns`);
    await expectUnpublished(s.output);
  });
});
