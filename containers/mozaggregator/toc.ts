import { readFile } from "node:fs/promises";
import { NonRetriableError } from "../../shared/core/errors.ts";

/**
 * A parser of pg_dump's directory-format `toc.dat` (the archiver's binary table of contents), written from
 * the layout pg_backup_archiver.c reads and writes:
 *
 *   header:  "PGDMP", version major, minor, revision (bytes), intSize, offSize, format (bytes),
 *            compression (>= 1.15: algorithm byte; >= 1.4: int), creation time as 7 ints (sec, min, hour,
 *            mday, mon, year-1900, isdst), then (>= 1.10) dbname, server version, pg_dump version.
 *   entries: an int count, then per entry dumpId, hadDumper (ints), tableoid, oid (decimal strings, tableoid
 *            >= 1.8), tag, desc, section (int, >= 1.11), defn, dropStmt, copyStmt (>= 1.3), namespace
 *            (>= 1.6), tablespace (>= 1.10), tableam (>= 1.14), relkind (int, >= 1.16), owner, withOids
 *            ("true"/"false", >= 1.9), dependencies (strings up to a NULL string, >= 1.5) and the format's
 *            extra field: for directory archives the data file name (`<dumpId>.dat`, "" when none).
 *   int:     a sign byte (0 or 1) then intSize bytes, least significant first.
 *   string:  an int length (-1 = NULL) then that many bytes (no terminator), UTF-8 here.
 *
 * The directory format writes toc.dat with the tar format byte (3), so both 3 and 5 are accepted. Every
 * problem is a NonRetriableError naming the file, the byte offset and the reason.
 */

export const TOC_MIN_VERSION = [1, 10] as const;
export const TOC_MAX_VERSION = [1, 16] as const;

export type TocSection = "none" | "pre-data" | "data" | "post-data";
const SECTIONS: Record<number, TocSection> = { 1: "none", 2: "pre-data", 3: "data", 4: "post-data" };
const FORMATS: Record<number, string> = { 1: "custom", 3: "tar", 4: "null", 5: "directory" };

export interface TocHeader {
  version: { major: number; minor: number; rev: number };
  intSize: number;
  offSize: number;
  /** The format byte: 3 (tar) is what the directory format writes into toc.dat. */
  format: number;
  /** The compression level (< 1.15) or algorithm byte (>= 1.15); -1 is zlib's default level. */
  compression: number;
  /** The dump's start as pg_dump's local time fields. */
  created: { sec: number; min: number; hour: number; mday: number; mon: number; year: number; isdst: number };
  dbname: string | null;
  serverVersion: string | null;
  dumpVersion: string | null;
}

export interface TocEntry {
  dumpId: number;
  hadDumper: boolean;
  tableoid: number;
  oid: number;
  tag: string | null;
  desc: string | null;
  section: TocSection;
  defn: string | null;
  dropStmt: string | null;
  copyStmt: string | null;
  namespace: string | null;
  tablespace: string | null;
  tableam: string | null;
  relkind: number | null;
  owner: string | null;
  withOids: boolean;
  dependencies: number[];
  /** The data file as written in the TOC (`3355.dat`; the file on disk has `.gz` when compressed), or null. */
  filename: string | null;
  /** Where the entry starts in toc.dat. */
  offset: number;
}

export interface Toc {
  file: string;
  header: TocHeader;
  entries: TocEntry[];
}

export interface TableData {
  dumpId: number;
  namespace: string | null;
  table: string;
  /** The data file name as written in the TOC (`<dumpId>.dat`). */
  filename: string;
  /** The dump's owner of the table, from the TOC. */
  owner: string | null;
}

class Reader {
  pos = 0;
  intSize = 4;
  version = 0;
  readonly buf: Buffer;
  readonly file: string;
  constructor(buf: Buffer, file: string) {
    this.buf = buf;
    this.file = file;
  }

  fail(reason: string, at = this.pos): never {
    throw new NonRetriableError(`${this.file}: corrupt TOC at byte ${at}: ${reason}`, {
      field: "toc.dat",
      fix: "re-run the dump for this day; the archive is damaged or not a pg_dump directory archive",
    });
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      this.fail(`file ends after ${this.buf.length} bytes while reading ${what} (needs ${n} more bytes)`);
    }
  }

  byte(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }

  int(what: string): number {
    const at = this.pos;
    const sign = this.version > 0x010000 ? this.byte(what) : 0;
    if (sign > 1) this.fail(`${what}: sign byte is ${sign}, expected 0 or 1`, at);
    this.need(this.intSize, what);
    let value = 0;
    let scale = 1;
    for (let i = 0; i < this.intSize; i++) {
      value += this.buf[this.pos++] * scale;
      scale *= 256;
    }
    if (value > 0x7fffffff) this.fail(`${what}: ${value} does not fit a 32-bit int`, at);
    return sign ? -value : value;
  }

  str(what: string): string | null {
    const at = this.pos;
    const len = this.int(`${what} length`);
    if (len < 0) {
      if (len !== -1) this.fail(`${what}: string length ${len}`, at);
      return null;
    }
    if (this.pos + len > this.buf.length) {
      this.fail(
        `${what}: string of ${len} bytes runs past the end of the file (${this.buf.length} bytes)`,
        at,
      );
    }
    const s = this.buf.toString("utf8", this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
}

const v = (major: number, minor: number, rev = 0) => (major << 16) | (minor << 8) | rev;

export function parseToc(buf: Buffer, file = "toc.dat"): Toc {
  const r = new Reader(buf, file);
  r.need(5, "the magic string");
  if (buf.toString("latin1", 0, 5) !== "PGDMP") {
    r.fail(
      `no "PGDMP" magic string (found ${JSON.stringify(buf.toString("latin1", 0, 5))}); not a pg_dump archive`,
      0,
    );
  }
  r.pos = 5;
  const major = r.byte("version major");
  const minor = r.byte("version minor");
  const rev = major > 1 || (major === 1 && minor > 0) ? r.byte("version revision") : 0;
  r.version = v(major, minor, rev);
  if (r.version < v(...TOC_MIN_VERSION) || r.version > v(...TOC_MAX_VERSION, 255)) {
    throw new NonRetriableError(
      `${file}: unsupported pg_dump archive version ${major}.${minor}.${rev} at byte 5 (this reader knows ${TOC_MIN_VERSION.join(".")} to ${TOC_MAX_VERSION.join(".")})`,
      {
        field: "toc.dat",
        fix: "dump with pg_dump 9.0 to 17 (archive versions 1.12-1.16), or extend containers/mozaggregator/toc.ts",
      },
    );
  }
  const intAt = r.pos;
  r.intSize = r.byte("intSize");
  if (r.intSize < 1 || r.intSize > 8) r.fail(`intSize ${r.intSize} is out of range 1..8`, intAt);
  const offSize = r.version >= v(1, 7) ? r.byte("offSize") : r.intSize;
  if (offSize < 1 || offSize > 16) r.fail(`offSize ${offSize} is out of range 1..16`, intAt + 1);
  const fmtAt = r.pos;
  const format = r.byte("format");
  if (format !== 3 && format !== 5) {
    r.fail(
      `format byte ${format} (${FORMATS[format] ?? "unknown"}) is not a directory archive's toc.dat (3 or 5)`,
      fmtAt,
    );
  }
  let compression: number;
  if (r.version >= v(1, 15)) compression = r.byte("compression algorithm");
  else if (r.version >= v(1, 4)) compression = r.int("compression");
  else compression = r.byte("compression");
  const created = {
    sec: r.int("created.sec"),
    min: r.int("created.min"),
    hour: r.int("created.hour"),
    mday: r.int("created.mday"),
    mon: r.int("created.mon"),
    year: r.int("created.year"),
    isdst: r.int("created.isdst"),
  };
  const header: TocHeader = {
    version: { major, minor, rev },
    intSize: r.intSize,
    offSize,
    format,
    compression,
    created,
    dbname: r.str("dbname"),
    serverVersion: r.str("server version"),
    dumpVersion: r.str("pg_dump version"),
  };

  const countAt = r.pos;
  const count = r.int("TOC entry count");
  // Every entry takes far more than 8 bytes, so a larger count cannot be real.
  if (count < 0 || count > (buf.length - r.pos) / 8) {
    r.fail(`TOC entry count ${count} is impossible for ${buf.length - r.pos} remaining bytes`, countAt);
  }
  const entries: TocEntry[] = [];
  for (let i = 0; i < count; i++) {
    const offset = r.pos;
    const what = (field: string) => `entry ${i + 1} of ${count} ${field}`;
    const dumpId = r.int(what("dumpId"));
    if (dumpId <= 0) r.fail(`${what("dumpId")} ${dumpId} is out of range`, offset);
    const hadDumper = r.int(what("hadDumper"));
    if (hadDumper !== 0 && hadDumper !== 1)
      r.fail(`${what("hadDumper")} is ${hadDumper}, expected 0 or 1`, offset);
    const tableoid = r.version >= v(1, 8) ? oidOf(r, what("tableoid")) : 0;
    const oid = oidOf(r, what("oid"));
    const tag = r.str(what("tag"));
    const desc = r.str(what("desc"));
    let section: TocSection = "none";
    if (r.version >= v(1, 11)) {
      const at = r.pos;
      const s = r.int(what("section"));
      section = SECTIONS[s] ?? r.fail(`${what("section")} ${s} is not 1..4`, at);
    }
    const defn = r.str(what("defn"));
    const dropStmt = r.str(what("dropStmt"));
    const copyStmt = r.version >= v(1, 3) ? r.str(what("copyStmt")) : null;
    const namespace = r.version >= v(1, 6) ? r.str(what("namespace")) : null;
    const tablespace = r.version >= v(1, 10) ? r.str(what("tablespace")) : null;
    const tableam = r.version >= v(1, 14) ? r.str(what("tableam")) : null;
    const relkind = r.version >= v(1, 16) ? r.int(what("relkind")) : null;
    const owner = r.str(what("owner"));
    let withOids = false;
    if (r.version >= v(1, 9)) {
      const at = r.pos;
      const w = r.str(what("withOids"));
      if (w !== "true" && w !== "false") r.fail(`${what("withOids")} is ${JSON.stringify(w)}`, at);
      withOids = w === "true";
    }
    const dependencies: number[] = [];
    if (r.version >= v(1, 5)) {
      for (;;) {
        const at = r.pos;
        const d = r.str(what("dependency"));
        if (d === null) break;
        if (!/^\d+$/.test(d)) r.fail(`${what("dependency")} ${JSON.stringify(d)} is not a dump id`, at);
        dependencies.push(Number(d));
      }
    }
    const fileAt = r.pos;
    const rawName = r.str(what("data file name"));
    const filename = rawName === null || rawName === "" ? null : rawName;
    if (filename !== null && !/^[0-9]+\.dat$/.test(filename) && filename !== "blobs.toc") {
      r.fail(`${what("data file name")} ${JSON.stringify(filename)} is not <dumpId>.dat`, fileAt);
    }
    entries.push({
      dumpId,
      hadDumper: hadDumper === 1,
      tableoid,
      oid,
      tag,
      desc,
      section,
      defn,
      dropStmt,
      copyStmt,
      namespace,
      tablespace,
      tableam,
      relkind,
      owner,
      withOids,
      dependencies,
      filename,
      offset,
    });
  }
  if (r.pos !== buf.length) {
    r.fail(`${buf.length - r.pos} unexpected bytes after the last of ${count} TOC entries`);
  }
  return { file, header, entries };
}

function oidOf(r: Reader, what: string): number {
  const at = r.pos;
  const s = r.str(what);
  if (s === null || !/^\d+$/.test(s) || Number(s) > 0xffffffff)
    r.fail(`${what} ${JSON.stringify(s)} is not an OID`, at);
  return Number(s);
}

export async function readToc(path: string): Promise<Toc> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new NonRetriableError(`${path}: cannot read the TOC (${(err as Error).message})`, {
      field: "toc.dat",
      fix: "point the job at a pg_dump --format directory output",
      cause: err,
    });
  }
  return parseToc(buf, path);
}

/** The TABLE DATA entries: one data file per dumped table. */
export function tableData(toc: Toc): TableData[] {
  const out: TableData[] = [];
  for (const e of toc.entries) {
    if (e.desc !== "TABLE DATA") continue;
    if (!e.hadDumper || e.filename === null || e.tag === null) {
      throw new NonRetriableError(
        `${toc.file}: TABLE DATA entry ${e.dumpId} (byte ${e.offset}) has no data file`,
        {
          field: "toc.dat",
          fix: "dump without --schema-only",
        },
      );
    }
    out.push({
      dumpId: e.dumpId,
      namespace: e.namespace,
      table: e.tag,
      filename: e.filename,
      owner: e.owner,
    });
  }
  return out;
}
