/**
 * The ports a TAAR job process needs, built by the process itself: locally the DuckDB file (released when
 * idle so that the twin's other jobs take turns), the objects directory and the embedded wide-row store under
 * TESSERA_STATE_DIR; on Google Cloud the real adapters.
 */
import { join } from "node:path";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import { createLocalWideRows } from "../../shared/adapters/local/widerows.ts";
import type { ObjectStore, Warehouse, WideRowStore } from "../../shared/adapters/ports.ts";
import { loadRuntimeConfig } from "../../shared/runtime/config.ts";

export interface TaarPorts {
  mode: "local" | "gcp";
  warehouse: Warehouse;
  data: ObjectStore;
  wideRows: WideRowStore;
  /** Bigtable coordinates for the profile load's bulk path (gcp mode only; the twin's store uses the port). */
  bigtable?: { projectId: string; instanceId: string };
  close(): Promise<void>;
}

export async function openPorts(env: Record<string, string | undefined> = process.env): Promise<TaarPorts> {
  const config = loadRuntimeConfig(env);
  if (config.mode === "local") {
    const warehouse = createLocalWarehouse({
      path: join(config.stateDir, "warehouse.duckdb"),
      releaseAfterMs: 0,
      lockTimeoutMs: 180_000,
    });
    const wideRows = createLocalWideRows({ dir: join(config.stateDir, "bigtable") });
    const data = createLocalObjects({ root: join(config.stateDir, "objects") }).bucket(config.dataBucket);
    return {
      mode: "local",
      warehouse,
      data,
      wideRows,
      async close() {
        await warehouse.close();
        await wideRows.close();
      },
    };
  }
  const { createGcpAdapters } = await import("../../shared/adapters/gcp/index.ts");
  const bigtable = { projectId: config.project!, instanceId: env.TESSERA_BIGTABLE_INSTANCE ?? "tessera" };
  const a = await createGcpAdapters({
    projectId: config.project!,
    region: config.region,
    bigtableInstance: bigtable.instanceId,
  });
  return {
    mode: "gcp",
    warehouse: a.warehouse,
    data: a.objects.bucket(config.dataBucket),
    wideRows: a.wideRows,
    bigtable,
    close: () => a.close(),
  };
}
