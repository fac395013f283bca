import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";

/** Another process writing to the same DuckDB file: `warehouse-child.ts <path> <first id> <count>`. */
const [path, first, count] = process.argv.slice(2);
const w = createLocalWarehouse({ path, releaseAfterMs: 0 });
const rows = Array.from({ length: Number(count) }, (_, i) => ({
  id: Number(first) + i,
  who: `child-${process.pid}`,
}));
await w.insertRows({ dataset: "shared", table: "t" }, rows);
await w.close();
