import { join } from "node:path";
import type { Logger } from "../core/log.ts";
import type { Registry } from "../pipelines/types.ts";
import { createLocalJobs, type LocalJobSpec } from "./local/jobs.ts";
import { createLocalBus, type LocalBus } from "./local/messages.ts";
import { createLocalObjects } from "./local/objects.ts";
import { createLocalSecrets } from "./local/secrets.ts";
import { createLocalWarehouse } from "./local/warehouse.ts";
import { createLocalWideRows } from "./local/widerows.ts";
import type { Adapters, Warehouse, WideRowStore } from "./ports.ts";

/**
 * Every port's local adapter, for the local twin (`gcp/index.ts` has `createGcpAdapters` for deployed code). The warehouse and the wide-row store open on first use, so that a
 * process that never queries does not take DuckDB's file lock.
 */
export interface LocalAdapters extends Adapters {
  mode: "local";
  messages: LocalBus;
}

export type JobCatalog = Record<string, LocalJobSpec>;

/** The jobs of every registered pipeline, as Cloud Run names them (`<pipeline>-<job>`), with `env` added. */
export function jobCatalog(registry: Registry, root: string, env: Record<string, string> = {}): JobCatalog {
  const catalog: JobCatalog = {};
  for (const def of registry.list()) {
    for (const job of def.jobs) {
      catalog[`${def.id}-${job.name}`] = {
        entrypoint: join(root, job.entrypoint),
        taskCount: job.taskCount,
        parallelism: job.parallelism,
        timeoutSeconds: job.timeoutSeconds,
        maxRetries: job.maxRetries,
        env: { ...env, ...(job.env ?? {}) },
        nodeFlags: job.nodeFlags,
      };
    }
  }
  return catalog;
}

function lazy<T extends object>(
  make: () => T,
  onClose: (t: T) => Promise<void>,
): { value: T; close(): Promise<void> } {
  let made: T | undefined;
  const value = new Proxy({} as T, {
    get(_, prop) {
      made ??= make();
      const v = (made as Record<string | symbol, unknown>)[prop];
      return typeof v === "function" ? v.bind(made) : v;
    },
  });
  return { value, close: async () => (made ? onClose(made) : undefined) };
}

export interface LocalAdaptersOptions {
  stateDir: string;
  registry: Registry;
  /** Where job entrypoints are resolved from. */
  root: string;
  env: Record<string, string | undefined>;
  backoffScale?: number;
  log?: Logger;
}

export function createLocalAdapters(options: LocalAdaptersOptions): LocalAdapters {
  const { stateDir } = options;
  // releaseAfterMs 0: the twin lets go of the DuckDB file when idle, so job processes can open it in turn.
  const warehouse = lazy<Warehouse>(
    () => createLocalWarehouse({ path: join(stateDir, "warehouse.duckdb"), releaseAfterMs: 0 }),
    (w) => w.close(),
  );
  const wideRows = lazy<WideRowStore>(
    () => createLocalWideRows({ dir: join(stateDir, "bigtable") }),
    (w) => w.close(),
  );
  const messages = createLocalBus({ backoffScale: options.backoffScale, logger: options.log });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v;
  env.TESSERA_MODE = "local";
  env.TESSERA_STATE_DIR = stateDir;
  return {
    mode: "local",
    warehouse: warehouse.value,
    objects: createLocalObjects({ root: join(stateDir, "objects") }),
    messages,
    wideRows: wideRows.value,
    jobs: createLocalJobs({
      catalog: jobCatalog(options.registry, options.root, env),
      stateDir,
      root: options.root,
    }),
    secrets: createLocalSecrets({ env: options.env, file: join(stateDir, "secrets.json") }),
    async close() {
      await messages.close();
      await warehouse.close();
      await wideRows.close();
    },
  };
}
