import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { PgConnection } from "../../containers/mozaggregator/dump.ts";
import { type GeneratedTable, generate } from "../../containers/mozaggregator/generator.ts";
import type { AggregateType } from "../../containers/mozaggregator/tables.ts";
import { type PostgresCluster, startPostgres } from "../helpers/postgres.ts";

/** A throwaway PostgreSQL with generated aggregates, and a scratch directory, for one test file. */
export interface AggregatesFixture {
  cluster: PostgresCluster;
  connection: PgConnection;
  tables: GeneratedTable[];
  dir: string;
  /** The source rows of a table as PostgreSQL prints them: dimensions::text, histogram::text. */
  sourceRows(table: string): Promise<{ dimensions: string; histogram: string }[]>;
  stop(): Promise<void>;
}

export async function startAggregates(
  days: string[],
  options: { tablesPerDay?: number; rowsPerTable?: number; seed?: number; types?: AggregateType[] } = {},
): Promise<AggregatesFixture> {
  const cluster = await startPostgres();
  const dir = await mkdtemp(join(tmpdir(), "mozaggregator-test-"));
  try {
    const connection: PgConnection = {
      host: cluster.host,
      port: cluster.port,
      user: cluster.user,
      database: cluster.database,
      password: cluster.password,
    };
    const tables = await generate(connection, {
      days,
      tablesPerDay: options.tablesPerDay ?? 2,
      rowsPerTable: options.rowsPerTable ?? 500,
      seed: options.seed ?? 7,
      types: options.types,
    });
    const sourceRows = async (table: string) => {
      const client = new pg.Client({ connectionString: cluster.url() });
      await client.connect();
      try {
        const r = await client.query(`SELECT dimensions::text AS d, histogram::text AS h FROM "${table}"`);
        return r.rows.map((row: { d: string; h: string }) => ({ dimensions: row.d, histogram: row.h }));
      } finally {
        await client.end();
      }
    };
    return {
      cluster,
      connection,
      tables,
      dir,
      sourceRows,
      stop: async () => {
        await cluster.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
