import { existsSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import type { Objects, Secrets, Warehouse } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { Logger } from "../../shared/core/log.ts";
import { loadRuntimeConfig } from "../../shared/runtime/config.ts";
import type { PgConnection } from "./dump.ts";
import { pgDumpPath } from "./dump.ts";

/**
 * The ports a mozaggregator job process uses, picked by TESSERA_MODE: locally the object tree and DuckDB file
 * under TESSERA_STATE_DIR and the local secrets (env `TESSERA_SECRET_POSTGRES_DSN` or `<stateDir>/secrets.json`);
 * on Google Cloud Cloud Storage, BigQuery and Secret Manager. The warehouse opens on first use only.
 */
export interface JobPorts {
  mode: "local" | "gcp";
  stateDir: string;
  project?: string;
  objects: Objects;
  secrets: Secrets;
  warehouse(): Promise<Warehouse>;
  close(): Promise<void>;
}

export const DSN_SECRET = "postgres-dsn";

export async function openJobPorts(env: Record<string, string | undefined>, log?: Logger): Promise<JobPorts> {
  const config = loadRuntimeConfig(env);
  if (config.mode === "gcp") {
    const { createGcpAdapters } = await import("../../shared/adapters/gcp/index.ts");
    const a = await createGcpAdapters({ projectId: config.project as string, region: config.region, log });
    return {
      mode: "gcp",
      stateDir: config.stateDir,
      project: config.project,
      objects: a.objects,
      secrets: a.secrets,
      warehouse: async () => a.warehouse,
      close: () => a.close(),
    };
  }
  const [{ createLocalObjects }, { createLocalSecrets }] = await Promise.all([
    import("../../shared/adapters/local/objects.ts"),
    import("../../shared/adapters/local/secrets.ts"),
  ]);
  let warehouse: Warehouse | undefined;
  return {
    mode: "local",
    stateDir: config.stateDir,
    objects: createLocalObjects({ root: join(config.stateDir, "objects") }),
    secrets: createLocalSecrets({ env, file: join(config.stateDir, "secrets.json") }),
    async warehouse() {
      const { createLocalWarehouse } = await import("../../shared/adapters/local/warehouse.ts");
      warehouse ??= createLocalWarehouse({
        path: join(config.stateDir, "warehouse.duckdb"),
        releaseAfterMs: 50,
        lockTimeoutMs: 300_000,
      });
      return warehouse;
    },
    close: async () => warehouse?.close(),
  };
}

/** `postgres://user:password@host:port/database` -> the dump's connection; the password stays out of argv. */
export function parseDsn(dsn: string): PgConnection {
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    throw new NonRetriableError(`secret ${DSN_SECRET} is not a URL`, {
      field: DSN_SECRET,
      fix: "store postgres://user:password@host:port/database",
    });
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new NonRetriableError(`secret ${DSN_SECRET} must be a postgres:// URL, got ${url.protocol}`, {
      field: DSN_SECRET,
      fix: "store postgres://user:password@host:port/database",
    });
  }
  return {
    host: decodeURIComponent(url.hostname) || "127.0.0.1",
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username) || "postgres",
    database: decodeURIComponent(url.pathname.replace(/^\//, "")) || "aggregates",
    password: url.password ? decodeURIComponent(url.password) : undefined,
  };
}

/** pg_dump's resolved path, or undefined when PostgreSQL's client is not installed. */
export function findPgDump(env: Record<string, string | undefined>): string | undefined {
  const bin = pgDumpPath(env);
  if (isAbsolute(bin)) return existsSync(bin) ? bin : undefined;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}
