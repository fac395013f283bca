import { createReadStream } from "node:fs";
import { closeSync, openSync, writeSync } from "node:fs";
import { createGunzip } from "node:zlib";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { CopyFormatError, LineSplitter } from "./copy.ts";
import { RowConverter } from "./rows.ts";

/**
 * One table's data file (`<dumpId>.dat.gz`, or `.dat` from an uncompressed dump) -> the intermediate file of
 * {@link RowConverter} lines. Streams: memory stays at a few chunks whatever the table's size.
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

const FLUSH_CHARS = 1 << 20;

export async function convertTableFile(input: string, output: string): Promise<TableFileResult> {
  const converter = new RowConverter(input);
  const fd = openSync(output, "w");
  let parts: string[] = [];
  let pending = 0;
  const flush = () => {
    if (parts.length === 0) return;
    writeSync(fd, parts.join(""));
    parts = [];
    pending = 0;
  };
  const splitter = new LineSplitter(input, (buf, start, end, line) => {
    const out = converter.convert(buf, start, end, line);
    parts.push(out);
    pending += out.length;
    if (pending >= FLUSH_CHARS) flush();
  });
  let copyBytes = 0;
  let fileBytes = 0;
  const source = createReadStream(input, { highWaterMark: 1 << 20 });
  source.on("data", (c) => {
    fileBytes += c.length;
  });
  const gz = input.endsWith(".gz");
  const stream = gz ? source.pipe(createGunzip({ chunkSize: 256 * 1024 })) : source;
  if (gz) source.on("error", (err) => stream.destroy(err));
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      copyBytes += chunk.length;
      splitter.push(chunk);
    }
    splitter.end();
    flush();
  } catch (err) {
    source.destroy();
    if (err instanceof NonRetriableError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (gz && typeof code === "string" && code.startsWith("Z_")) {
      throw new CopyFormatError(
        input,
        splitter.lines + 1,
        `gzip data is truncated or corrupt (${(err as Error).message}) after ${copyBytes} uncompressed bytes`,
      );
    }
    throw new NonRetriableError(`${input}: cannot read the table data (${(err as Error).message})`, {
      field: input,
      fix: "check that the dump directory is complete",
      cause: err,
    });
  } finally {
    closeSync(fd);
  }
  return {
    input,
    output,
    rows: converter.rows,
    copyBytes,
    fileBytes,
    unknownKeys: Object.fromEntries(converter.unknownKeys),
  };
}
