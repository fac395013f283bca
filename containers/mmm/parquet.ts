import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * CSV text to Parquet bytes through an in-memory DuckDB (the candidate models' Parquet artifact, as the
 * original exported its model tables). Column types are inferred by DuckDB's CSV reader.
 */
export async function csvToParquet(csv: string): Promise<Buffer> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const dir = mkdtempSync(join(tmpdir(), "mmm-parquet-"));
  try {
    const src = join(dir, "in.csv");
    const out = join(dir, "out.parquet");
    writeFileSync(src, csv);
    const db = await DuckDBInstance.create(":memory:");
    const conn = await db.connect();
    try {
      await conn.run(
        `COPY (SELECT * FROM read_csv_auto('${src.replaceAll("'", "''")}', header = true)) TO '${out.replaceAll("'", "''")}' (FORMAT PARQUET)`,
      );
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
