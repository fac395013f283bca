import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dump } from "../../containers/mozaggregator/dump.ts";
import { parseToc, readToc, tableData } from "../../containers/mozaggregator/toc.ts";
import { postgresAvailable } from "../helpers/postgres.ts";
import { type AggregatesFixture, startAggregates } from "./fixture.ts";

// Three days with 6, 1 and 3 submission_date tables, each dumped by the real pg_dump.
describe.skipIf(!postgresAvailable())("toc.dat of real pg_dump archives", () => {
  let fx: AggregatesFixture;
  const dumps: Record<string, string> = {};

  beforeAll(async () => {
    fx = await startAggregates(["2019-12-01"], {
      tablesPerDay: 6,
      rowsPerTable: 20,
      types: ["submission_date"],
    });
    const { generate } = await import("../../containers/mozaggregator/generator.ts");
    await generate(fx.connection, {
      days: ["2019-12-02"],
      tablesPerDay: 1,
      rowsPerTable: 20,
      seed: 3,
      types: ["submission_date"],
    });
    await generate(fx.connection, {
      days: ["2019-12-03"],
      tablesPerDay: 3,
      rowsPerTable: 20,
      seed: 4,
      types: ["submission_date"],
    });
    for (const day of ["2019-12-01", "2019-12-02", "2019-12-03"]) {
      const outDir = join(fx.dir, "dumps", "submission_date", day);
      const r = await dump({ connection: fx.connection, ds: day, type: "submission_date", outDir });
      expect(r.status).toBe("dumped");
      dumps[day] = outDir;
    }
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it.each([
    ["2019-12-02", 1],
    ["2019-12-03", 3],
    ["2019-12-01", 6],
  ])("parses the %s dump with %i tables: header, TABLE, TABLE DATA and INDEX entries", async (day, count) => {
    const toc = await readToc(join(dumps[day], "toc.dat"));
    expect(toc.header.version).toEqual({ major: 1, minor: 14, rev: 0 });
    expect(toc.header.format).toBe(3);
    expect(toc.header.intSize).toBe(4);
    expect(toc.header.offSize).toBe(8);
    expect(toc.header.dbname).toBe(fx.cluster.database);
    expect(toc.header.dumpVersion).toMatch(/^15\./);
    expect(toc.header.created.year).toBeGreaterThan(100);

    const byDesc = (d: string) => toc.entries.filter((e) => e.desc === d);
    const tables = byDesc("TABLE");
    const data = byDesc("TABLE DATA");
    const indexes = byDesc("INDEX");
    expect(tables).toHaveLength(count);
    expect(data).toHaveLength(count);
    expect(indexes).toHaveLength(count);
    const nodash = day.replaceAll("-", "");
    for (const t of tables) {
      expect(t.tag).toMatch(new RegExp(`^submission_date_[a-z]+_\\d+_${nodash}$`));
      expect(t.section).toBe("pre-data");
      expect(t.owner).toBe(fx.cluster.user);
      expect(t.tableam).toBe("heap");
      expect(t.defn).toContain(`CREATE TABLE public.${t.tag}`);
      const d = data.find((e) => e.tag === t.tag);
      expect(d?.dependencies).toEqual([t.dumpId]);
      expect(d?.filename).toBe(`${d?.dumpId}.dat`);
      expect(d?.copyStmt).toBe(`COPY public.${t.tag} (dimensions, histogram) FROM stdin;\n`);
      const idx = indexes.find((e) => e.tag === `${t.tag}_dimensions_idx`);
      expect(idx?.section).toBe("post-data");
      expect(idx?.defn).toContain("USING gin (dimensions jsonb_path_ops)");
      expect(idx?.dependencies).toEqual([t.dumpId]);
      expect(idx?.filename).toBeNull();
    }
    const files = (await readdir(dumps[day])).filter((f) => f.endsWith(".dat.gz")).sort();
    expect(
      tableData(toc)
        .map((t) => `${t.filename}.gz`)
        .sort(),
    ).toEqual(files);
  });

  const tocOf = () => readFile(join(dumps["2019-12-03"], "toc.dat"));

  it("rejects a truncated TOC at every cut with the file, the byte offset and the reason", async () => {
    const buf = await tocOf();
    for (const cut of [3, 20, 100, Math.floor(buf.length / 2), buf.length - 1]) {
      expect(() => parseToc(buf.subarray(0, cut), "x/toc.dat")).toThrow(
        /^x\/toc\.dat: corrupt TOC at byte \d+: /,
      );
    }
    expect(() => parseToc(buf.subarray(0, buf.length - 1), "x/toc.dat")).toThrow(/file ends after/);
  });

  it("rejects a bad magic string, an unknown version, a wrong format and trailing bytes", async () => {
    const buf = await tocOf();
    const magic = Buffer.from(buf);
    magic.write("XXXXX", 0, "latin1");
    expect(() => parseToc(magic, "t.dat")).toThrow(/t\.dat: corrupt TOC at byte 0: no "PGDMP" magic/);
    const version = Buffer.from(buf);
    version[6] = 99;
    expect(() => parseToc(version, "t.dat")).toThrow(
      /t\.dat: unsupported pg_dump archive version 1\.99\.0 at byte 5/,
    );
    const major = Buffer.from(buf);
    major[5] = 2;
    expect(() => parseToc(major, "t.dat")).toThrow(/unsupported pg_dump archive version 2\.14/);
    const format = Buffer.from(buf);
    format[10] = 1;
    expect(() => parseToc(format, "t.dat")).toThrow(/byte 10: format byte 1 \(custom\)/);
    expect(() => parseToc(Buffer.concat([buf, Buffer.from([0, 0])]), "t.dat")).toThrow(
      /2 unexpected bytes after/,
    );
  });

  it("rejects a corrupt entry: a dump id of 0 and an impossible string length", async () => {
    const buf = await tocOf();
    const toc = parseToc(buf);
    const first = toc.entries[0].offset;
    const zeroId = Buffer.from(buf);
    zeroId.fill(0, first, first + 5);
    expect(() => parseToc(zeroId, "t.dat")).toThrow(`t.dat: corrupt TOC at byte ${first}: entry 1 of`);
    const longTag = Buffer.from(buf);
    // tableoid string of entry 1 starts after dumpId and hadDumper (2 ints of 5 bytes)
    longTag.writeUInt32LE(0x7ffffff0, first + 10 + 1);
    expect(() => parseToc(longTag, "t.dat")).toThrow(/runs past the end of the file/);
  });

  it("reports a missing toc.dat as a NonRetriableError naming the path", async () => {
    const dir = join(fx.dir, "empty");
    await mkdir(dir, { recursive: true });
    await expect(readToc(join(dir, "toc.dat"))).rejects.toThrow(/empty\/toc\.dat: cannot read the TOC/);
    await copyFile(join(dumps["2019-12-02"], "toc.dat"), join(dir, "toc.dat"));
    await writeFile(join(dir, "x"), "");
    expect((await readToc(join(dir, "toc.dat"))).entries.length).toBeGreaterThan(3);
  });
});
