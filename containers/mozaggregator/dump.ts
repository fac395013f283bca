import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";
import { type AggregateType, nodash } from "./tables.ts";
import { readToc, tableData } from "./toc.ts";

/**
 * One `pg_dump --format directory --table "<type>_*_<ds>*"` per (day, aggregate type), as the original's
 * bin/pg_dump_by_day ran it. The password goes to pg_dump through PGPASSWORD in its environment, never on its
 * command line. The dump is written next to `outDir` and renamed into place only when pg_dump succeeded, so a
 * failed dump never leaves a half-written directory where a converter would look.
 */

export interface PgConnection {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
}

export interface DumpOptions {
  connection: PgConnection;
  /** The day, YYYY-MM-DD. */
  ds: string;
  type: AggregateType;
  /** The directory to create (`<root>/<type>/<ds_nodash>`); replaced when it exists. */
  outDir: string;
  /** pg_dump's path; default `$TESSERA_PG_BIN/pg_dump`, or `pg_dump` on PATH. */
  pgDump?: string;
  /** pg_dump -j: tables dumped in parallel. */
  jobs?: number;
  timeoutMs?: number;
}

export type DumpResult =
  | { status: "dumped"; type: AggregateType; ds: string; dir: string; tables: string[]; bytes: number }
  | { status: "no-data"; type: AggregateType; ds: string; reason: string };

const NO_MATCH = "no matching tables were found";

export function pgDumpPath(env: Record<string, string | undefined> = process.env): string {
  if (env.TESSERA_PG_BIN) return join(env.TESSERA_PG_BIN, "pg_dump");
  const debian = "/usr/lib/postgresql/15/bin/pg_dump";
  return existsSync(debian) ? debian : "pg_dump";
}

/** The table pattern for one day and type, as the original passed it to pg_dump. */
export function tablePattern(type: AggregateType, ds: string): string {
  return `${type}_*_${nodash(ds)}*`;
}

export async function dump(options: DumpOptions): Promise<DumpResult> {
  const { connection: c, ds, type, outDir } = options;
  const tmp = `${outDir}.partial-${process.pid}-${Date.now()}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(dirname(outDir), { recursive: true });
  const args = [
    "--host",
    c.host,
    "--port",
    String(c.port),
    "--username",
    c.user,
    "--dbname",
    c.database,
    "--no-password",
    "--format",
    "directory",
    "--table",
    tablePattern(type, ds),
    "--file",
    tmp,
  ];
  if (options.jobs && options.jobs > 1) args.push("--jobs", String(options.jobs));
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? "15" };
  delete env.PGPASSWORD;
  if (c.password !== undefined) env.PGPASSWORD = c.password;
  const bin = options.pgDump ?? pgDumpPath();
  const { code, stderr } = await run(bin, args, env, options.timeoutMs ?? 3_600_000);
  if (code !== 0) {
    await rm(tmp, { recursive: true, force: true });
    if (stderr.includes(NO_MATCH)) {
      return {
        status: "no-data",
        type,
        ds,
        reason: `no ${type} tables for ${ds} in database ${c.database} (pg_dump: ${NO_MATCH} for "${tablePattern(type, ds)}")`,
      };
    }
    const message = `pg_dump of ${type} ${ds} failed (exit ${code}): ${stderr.trim() || "no message"}`;
    if (
      /could not connect|timeout expired|Connection refused|server closed the connection|could not translate/i.test(
        stderr,
      )
    ) {
      throw new RetryableError(message);
    }
    throw new NonRetriableError(message, {
      field: "connection",
      fix: "check the PostgreSQL host, user, password and permissions for the aggregates database",
    });
  }
  const toc = await readToc(join(tmp, "toc.dat"));
  const tables = tableData(toc).map((t) => t.table);
  let bytes = 0;
  for (const t of tableData(toc)) {
    const file = join(tmp, `${t.filename}.gz`);
    const plain = join(tmp, t.filename);
    bytes += (await stat(existsSync(file) ? file : plain)).size;
  }
  await rm(outDir, { recursive: true, force: true });
  await rename(tmp, outDir);
  return { status: "dumped", type, ds, dir: outDir, tables, bytes };
}

function run(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (s: string) => {
      if (stderr.length < 64_000) stderr += s;
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(
        new NonRetriableError(`cannot run pg_dump at ${bin}: ${err.message}`, {
          field: "TESSERA_PG_BIN",
          fix: "install the PostgreSQL client (pg_dump) or set TESSERA_PG_BIN to its directory",
        }),
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stderr: signal ? `${stderr}\nkilled by ${signal}` : stderr,
      });
    });
  });
}
