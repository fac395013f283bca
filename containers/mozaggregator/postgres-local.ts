import { execFile, execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/**
 * A throwaway PostgreSQL cluster for the local twin (`npm start`), tests and benches: data directory and socket in a fresh temp dir, TCP on
 * 127.0.0.1 only, a free port, password (SCRAM) authentication over TCP. initdb/postgres refuse to run as
 * root, so when this process is root the server runs as the `postgres` OS user (`su postgres`); the temp dir is
 * chowned to it. `stop()` stops it by `pg_ctl stop` and, failing that, by the postmaster's PID; `stopSync()`
 * does the same synchronously, for a process `exit` hook.
 */

export const DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin";

export interface PostgresCluster {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  binDir: string;
  dataDir: string;
  /** The postmaster's PID. */
  pid: number;
  /** A `postgres://` URL with the password: for the `pg` client and the local secrets file only. */
  url(database?: string): string;
  /** Create a database owned by the cluster's user. */
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
  /** Stop synchronously (pg_ctl, else SIGQUIT to the PID) and remove the temp dir; for `process.on("exit")`. */
  stopSync(): void;
}

export interface StartOptions {
  binDir?: string;
  user?: string;
  password?: string;
  database?: string;
}

/** Whether PostgreSQL's server binaries are installed (tests skip and `npm start` skips the pipeline when not). */
export function postgresAvailable(binDir = process.env.TESSERA_PG_BIN ?? DEFAULT_PG_BIN): boolean {
  return existsSync(join(binDir, "initdb")) && existsSync(join(binDir, "pg_ctl"));
}

export async function startPostgres(options: StartOptions = {}): Promise<PostgresCluster> {
  const binDir = options.binDir ?? process.env.TESSERA_PG_BIN ?? DEFAULT_PG_BIN;
  const user = options.user ?? "tessera";
  const password = options.password ?? "tessera-test-password";
  const database = options.database ?? "aggregates";
  if (!postgresAvailable(binDir)) throw new Error(`PostgreSQL server binaries not found in ${binDir}`);

  const root = await mkdtemp(join(tmpdir(), "tessera-pg-"));
  const asRoot = process.getuid?.() === 0;
  const pwFile = join(root, "pw");
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (asRoot) {
    const { uid, gid } = await postgresIds();
    await chown(root, uid, gid);
    await chown(pwFile, uid, gid);
  }
  const dataDir = join(root, "data");
  await runAsPostgres(asRoot, join(binDir, "initdb"), [
    "-D",
    dataDir,
    "-U",
    user,
    `--pwfile=${pwFile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C.UTF-8",
    "--no-sync",
  ]);
  await rm(pwFile, { force: true });

  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const opts = [
      "-c listen_addresses=127.0.0.1",
      `-p ${port}`,
      `-c unix_socket_directories=${root}`,
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c max_connections=20",
    ].join(" ");
    try {
      await runAsPostgres(asRoot, join(binDir, "pg_ctl"), [
        "-D",
        dataDir,
        "-l",
        join(root, "server.log"),
        "-w",
        "-t",
        "30",
        "-o",
        opts,
        "start",
      ]);
      break;
    } catch (err) {
      if (attempt >= 2) {
        const log = await readFile(join(root, "server.log"), "utf8").catch(() => "");
        throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`);
      }
    }
  }
  const pid = Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
  const host = "127.0.0.1";
  const url = (db = database) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(db)}`;

  const createDatabase = async (name: string) => {
    const client = new pg.Client({ connectionString: url("postgres") });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    } finally {
      await client.end();
    }
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await runAsPostgres(asRoot, join(binDir, "pg_ctl"), [
        "-D",
        dataDir,
        "-m",
        "fast",
        "-w",
        "-t",
        "20",
        "stop",
      ]);
    } catch {
      try {
        process.kill(pid, "SIGQUIT");
      } catch {
        // already gone
      }
    }
    await rm(root, { recursive: true, force: true });
  };
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    const [cmd, argv] = commandAs(asRoot, join(binDir, "pg_ctl"), [
      "-D",
      dataDir,
      "-m",
      "fast",
      "-w",
      "-t",
      "20",
      "stop",
    ]);
    try {
      execFileSync(cmd, argv, { stdio: "ignore", timeout: 30_000 });
    } catch {
      try {
        process.kill(pid, "SIGQUIT");
      } catch {
        // already gone
      }
    }
    rmSync(root, { recursive: true, force: true });
  };
  const cluster: PostgresCluster = {
    host,
    port,
    user,
    password,
    database,
    binDir,
    dataDir,
    pid,
    url,
    createDatabase,
    stop,
    stopSync,
  };
  try {
    await createDatabase(database);
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const line = passwd.split("\n").find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("running as root but there is no `postgres` OS user to run the server as");
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function commandAs(asRoot: boolean, file: string, args: string[]): [string, string[]] {
  return asRoot
    ? ["su", ["postgres", "-s", "/bin/sh", "-c", [file, ...args].map(shellQuote).join(" ")]]
    : [file, args];
}

function runAsPostgres(asRoot: boolean, file: string, args: string[]): Promise<string> {
  const [cmd, argv] = commandAs(asRoot, file, args);
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.at(-1)} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
