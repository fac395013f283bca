import { join } from "node:path";
import type { Objects, Warehouse } from "../../shared/adapters/ports.ts";
import type { Logger } from "../../shared/core/log.ts";
import { loadRuntimeConfig } from "../../shared/runtime/config.ts";

/**
 * The ports a mozaic-daily job process needs, picked by TESSERA_MODE: locally the DuckDB file and object tree
 * under TESSERA_STATE_DIR (the warehouse lets go of the file when idle, so the runtime and other tasks can
 * take their turn), on GCP BigQuery and Cloud Storage.
 */
export interface JobAdapters {
  warehouse: Warehouse;
  objects: Objects;
  dataBucket: string;
  close(): Promise<void>;
}

export async function openJobAdapters(
  env: Record<string, string | undefined>,
  log?: Logger,
): Promise<JobAdapters> {
  const config = loadRuntimeConfig(env);
  if (config.mode === "gcp") {
    const { createGcpAdapters } = await import("../../shared/adapters/gcp/index.ts");
    const a = await createGcpAdapters({ projectId: config.project as string, region: config.region, log });
    return {
      warehouse: a.warehouse,
      objects: a.objects,
      dataBucket: config.dataBucket,
      close: () => a.close(),
    };
  }
  const [{ createLocalWarehouse }, { createLocalObjects }] = await Promise.all([
    import("../../shared/adapters/local/warehouse.ts"),
    import("../../shared/adapters/local/objects.ts"),
  ]);
  const warehouse = createLocalWarehouse({
    path: join(config.stateDir, "warehouse.duckdb"),
    releaseAfterMs: 50,
    lockTimeoutMs: 300_000,
  });
  return {
    warehouse,
    objects: createLocalObjects({ root: join(config.stateDir, "objects") }),
    dataBucket: config.dataBucket,
    close: () => warehouse.close(),
  };
}
