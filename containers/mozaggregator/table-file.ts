import { createReadStream, rmSync } from "node:fs";
import { createGunzip } from "node:zlib";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { CopyFormatError, LineSplitter } from "./copy.ts";
import { ParquetWriter, type WriterOptions } from "./parquet-writer.ts";
import { OUTPUT_SCHEMA, RowConverter, type TableConstants } from "./rows.ts";

/**
 * One table's data file (`<dumpId>.dat.gz`, or `.dat` from an uncompressed dump) -> one Parquet file of
 * {@link OUTPUT_SCHEMA}. Streams: memory stays at a few chunks whatever the table's size.
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

export async function convertTableFile(task: TableFileTask): Promise<TableFileResult> {
  const { input, output } = task;
  const writer = new ParquetWriter(output, OUTPUT_SCHEMA, task.writer);
  const converter = new RowConverter(input, writer, task.constants);
  const splitter = new LineSplitter(input, (buf, start, end, line) =>
    converter.convert(buf, start, end, line),
  );
  let copyBytes = 0;
  let fileBytes = 0;
  const source = createReadStream(input, { highWaterMark: 256 << 10 });
  source.on("data", (c) => {
    fileBytes += c.length;
  });
  const gz = input.endsWith(".gz");
  const stream = gz ? source.pipe(createGunzip({ chunkSize: 256 * 1024 })) : source;
  if (gz) source.on("error", (err) => stream.destroy(err));
  let ok = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      copyBytes += chunk.length;
      splitter.push(chunk);
    }
    splitter.end();
    writer.close();
    ok = true;
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
    // A file system error (ENOENT, EACCES, ...) is bad input; anything else is a fault of this process.
    if (typeof code !== "string") throw err;
    throw new NonRetriableError(`${input}: cannot read the table data (${(err as Error).message})`, {
      field: input,
      fix: "check that the dump directory is complete",
      cause: err,
    });
  } finally {
    if (!ok) {
      writer.abort();
      rmSync(output, { force: true });
    }
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
