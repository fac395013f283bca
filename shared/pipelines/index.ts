import { causemos } from "./causemos.ts";
import { mmm } from "./mmm.ts";
import { mozaggregator } from "./mozaggregator.ts";
import { mozaicDaily } from "./mozaic-daily.ts";
import { taarDaily, taarWeekly } from "./taar.ts";
import { createRegistry, type Registry } from "./types.ts";

/**
 * Every pipeline Tessera runs. A pipeline registers itself here in its own change; Pulumi, the local twin,
 * the CLI and the tests all read this list.
 */
export const registry: Registry = createRegistry([
  mozaicDaily,
  taarDaily,
  taarWeekly,
  mmm,
  mozaggregator,
  causemos,
]);

export * from "./types.ts";
