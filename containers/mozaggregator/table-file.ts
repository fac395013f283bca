import { closeSync, createReadStream, openSync, readSync, rmSync } from "node:fs";
import zlib from "node:zlib";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { CopyFormatError } from "./copy.ts";
import { ParquetWriter, type WriterOptions } from "./parquet-writer.ts";
import { OUTPUT_SCHEMA, RowConverter, type TableConstants } from "./rows.ts";

/**
 * One table's data file (`<dumpId>.dat.gz`, or `.dat` from an uncompressed dump) -> one Parquet file of
 * {@link OUTPUT_SCHEMA}. Streams: memory stays at a few buffers (1 MB of COPY text, 256 KB of input, one
 * row group's compressed pages) whatever the table's size.
 *
 * The gunzip runs synchronously in this thread, straight into the buffer the rows are parsed from: zlib's
 * native handle is driven step by step (`writeSync`, as zlib's own *Sync functions do), which costs a third
 * of what the stream interface costs in callbacks, thread-pool hops and chunk copies. Node versions without
 * that handle take the stream interface.
 */

export interface TableFileResult {
  input: string;
  output: string;
  rows: number;
  /** Bytes of COPY text after gunzip. */
  copyBytes: number;
  /** Bytes read from disk. */
  fileBytes: number;
  unknownKeys: Record<string, number>;
}

export interface TableFileTask {
  input: string;
  /** The Parquet file to write; removed again when the conversion fails. */
  output: string;
  constants: TableConstants;
  writer?: WriterOptions;
}

const NL = 10;
const WORK_BYTES = 1 << 20;
const READ_BYTES = 256 << 10;
/** Free space below which the line buffer grows (one line longer than the buffer). */
const MIN_ROOM = 64 << 10;

/**
 * Buffers of finished conversions, taken again by the next conversion of this thread: fresh ones fault their
 * pages in again (~20 us a page fault on this project's VMs; the line and input buffers were ~6,000 faults
 * of a day's conversion). Taken and given back around each conversion, so concurrent ones never share one.
 */
const lineBuffers: Buffer[] = [];
const inputBuffers: Buffer[] = [];
function giveBack(pool: Buffer[], b: Buffer, size: number): void {
  // A buffer grown for an unusually long line goes to the garbage collector.
  if (b.length === size) pool.push(b);
}

/** COPY text in, complete lines out to the converter; a partial last line is kept for the next chunk. */
class LineBuffer {
  buf = lineBuffers.pop() ?? Buffer.allocUnsafe(WORK_BYTES);
  len = 0;
  bytes = 0;
  private readonly converter: RowConverter;
  constructor(converter: RowConverter) {
    this.converter = converter;
  }

  /** Free bytes after the kept partial line (at least {@link MIN_ROOM}). */
  room(): number {
    if (this.buf.length - this.len < MIN_ROOM) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    return this.buf.length - this.len;
  }

  /** `n` bytes were written at `buf[len]`: convert every complete line. */
  commit(n: number): void {
    this.len += n;
    this.bytes += n;
    const last = this.buf.lastIndexOf(NL, this.len - 1);
    if (last < 0) return;
    this.converter.convertLines(this.buf, 0, last + 1);
    this.buf.copyWithin(0, last + 1, this.len);
    this.len -= last + 1;
  }

  append(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(this.room(), chunk.length - at);
      chunk.copy(this.buf, this.len, at, at + n);
      at += n;
      this.commit(n);
    }
  }

  release(): void {
    giveBack(lineBuffers, this.buf, WORK_BYTES);
  }

  /** End of data: a last line without a newline counts; then the end-of-data marker must have been seen. */
  end(): void {
    if (this.len > 0) {
      this.room();
      this.buf[this.len] = NL;
      this.converter.convertLines(this.buf, 0, this.len + 1);
      this.len = 0;
    }
    this.converter.finish();
  }
}

/** zlib's native handle and stream state (see the module comment). */
interface NativeGunzip {
  _handle?: {
    writeSync(
      flush: number,
      input: Buffer,
      inOff: number,
      inLen: number,
      out: Buffer,
      outOff: number,
      outLen: number,
    ): void;
  } | null;
  _writeState?: Uint32Array;
  errored?: Error | null;
  on(event: "error", listener: () => void): unknown;
  close(): void;
}

/** Synchronous streaming gunzip of a file, or null when this Node's zlib has no usable native handle. */
class GunzipReader {
  fileBytes = 0;
  private readonly fd: number;
  private readonly stream: NativeGunzip;
  private readonly input = inputBuffers.pop() ?? Buffer.allocUnsafe(READ_BYTES);
  private inOff = 0;
  private inLen = 0;
  private eof = false;
  private done = false;

  static open(path: string): GunzipReader | null {
    const stream = zlib.createGunzip() as unknown as NativeGunzip;
    stream.on("error", () => {
      // read back through `errored` right after the step that failed
    });
    if (typeof stream._handle?.writeSync !== "function" || !(stream._writeState instanceof Uint32Array)) {
      stream.close();
      return null;
    }
    return new GunzipReader(path, stream);
  }

  private constructor(path: string, stream: NativeGunzip) {
    this.stream = stream;
    this.fd = openSync(path, "r");
  }

  /** Inflate into `out[off, off + len)`; returns the bytes written, 0 at the end of the data. */
  read(out: Buffer, off: number, len: number): number {
    const s = this.stream;
    const state = s._writeState as Uint32Array;
    for (;;) {
      if (this.done) return 0;
      if (this.inLen === 0 && !this.eof) {
        const r = readSync(this.fd, this.input, 0, this.input.length, null);
        this.fileBytes += r;
        this.inOff = 0;
        this.inLen = r;
        this.eof = r === 0;
      }
      const flush = this.eof ? zlib.constants.Z_FINISH : zlib.constants.Z_NO_FLUSH;
      s._handle?.writeSync(flush, this.input, this.inOff, this.inLen, out, off, len);
      if (s.errored) throw s.errored;
      const availOut = state[0];
      const availIn = state[1];
      const consumed = this.inLen - availIn;
      this.inOff += consumed;
      this.inLen = availIn;
      if (availOut < len) return len - availOut;
      if (this.eof) {
        this.done = true;
        return 0;
      }
      if (consumed === 0 && this.inLen > 0) {
        throw Object.assign(new Error("unexpected bytes after the end of the gzip data"), {
          code: "Z_DATA_ERROR",
        });
      }
    }
  }

  close(): void {
    this.stream.close();
    closeSync(this.fd);
    giveBack(inputBuffers, this.input, READ_BYTES);
  }
}

/** Fill `lines` from the file: gunzip through the native handle, else zlib's stream; plain `.dat` as is. */
async function pump(input: string, lines: LineBuffer): Promise<number> {
  const gz = input.endsWith(".gz");
  const reader = gz ? GunzipReader.open(input) : null;
  if (reader !== null) {
    try {
      for (;;) {
        const room = lines.room();
        const n = reader.read(lines.buf, lines.len, room);
        if (n === 0) break;
        lines.commit(n);
      }
      return reader.fileBytes;
    } finally {
      reader.close();
    }
  }
  let fileBytes = 0;
  const source = createReadStream(input, { highWaterMark: READ_BYTES });
  source.on("data", (c) => {
    fileBytes += c.length;
  });
  const stream = gz ? source.pipe(zlib.createGunzip({ chunkSize: READ_BYTES })) : source;
  if (gz) source.on("error", (err) => stream.destroy(err));
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) lines.append(chunk);
  } finally {
    source.destroy();
  }
  return fileBytes;
}

export async function convertTableFile(task: TableFileTask): Promise<TableFileResult> {
  const { input, output } = task;
  const writer = new ParquetWriter(output, OUTPUT_SCHEMA, task.writer);
  const converter = new RowConverter(input, writer, task.constants);
  const lines = new LineBuffer(converter);
  let fileBytes = 0;
  let ok = false;
  try {
    fileBytes = await pump(input, lines);
    lines.end();
    writer.close();
    ok = true;
  } catch (err) {
    if (err instanceof NonRetriableError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (input.endsWith(".gz") && typeof code === "string" && code.startsWith("Z_")) {
      throw new CopyFormatError(
        input,
        converter.lines + 1,
        `gzip data is truncated or corrupt (${(err as Error).message}) after ${lines.bytes} uncompressed bytes`,
      );
    }
    // A file system error (ENOENT, EACCES, ...) is bad input; anything else is a fault of this process.
    if (typeof code !== "string") throw err;
    throw new NonRetriableError(`${input}: cannot read the table data (${(err as Error).message})`, {
      field: input,
      fix: "check that the dump directory is complete",
      cause: err,
    });
  } finally {
    lines.release();
    if (!ok) {
      writer.abort();
      rmSync(output, { force: true });
    }
  }
  return {
    input,
    output,
    rows: converter.rows,
    copyBytes: lines.bytes,
    fileBytes,
    unknownKeys: Object.fromEntries(converter.unknownKeys),
  };
}
