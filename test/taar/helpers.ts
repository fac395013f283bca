import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaarPorts } from "../../containers/taar/adapters.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import { createLocalWideRows } from "../../shared/adapters/local/widerows.ts";

/** Ports on a fresh state directory, as a local job builds them. */
export function localPorts(
  stateDir = mkdtempSync(join(tmpdir(), "taar-")),
): TaarPorts & { stateDir: string } {
  const warehouse = createLocalWarehouse({ path: join(stateDir, "warehouse.duckdb"), releaseAfterMs: 0 });
  const wideRows = createLocalWideRows({ dir: join(stateDir, "bigtable") });
  const data = createLocalObjects({ root: join(stateDir, "objects") }).bucket("tessera-data");
  return {
    mode: "local",
    stateDir,
    warehouse,
    wideRows,
    data,
    async close() {
      await warehouse.close();
      await wideRows.close();
    },
  };
}
