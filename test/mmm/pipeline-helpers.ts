import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApiDeps } from "../../containers/mmm/api.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { mmm } from "../../shared/pipelines/mmm.ts";
import { TOPICS } from "../../shared/pipelines/platform.ts";
import { createRegistry } from "../../shared/pipelines/types.ts";
import { startTwin, type Twin } from "../../shared/runtime/twin.ts";

/** A local twin over a registry holding only `mmm`, its demo table seeded, and the API's dependencies on it. */
export async function mmmTwin(): Promise<{ twin: Twin; stateDir: string; deps: ApiDeps }> {
  const stateDir = mkdtempSync(join(tmpdir(), "tessera-mmm-"));
  const log = createLogger({ sink: memorySink(), minSeverity: "WARNING" });
  const twin = await startTwin({
    registry: createRegistry([mmm]),
    stateDir,
    log,
    pollSeconds: 0.05,
    backoffScale: 0.01,
  });
  await mmm.local?.seed?.({ adapters: twin.adapters, stateDir, buckets: twin.buckets, log, now: new Date() });
  const deps: ApiDeps = {
    store: twin.adapters.objects.bucket(twin.buckets.data),
    start: async (runId, config) => {
      await twin.bus.publish(TOPICS.scheduleTicks, { pipeline: "mmm", partition: runId, params: config });
    },
    executionState: async (runId) => (await twin.ctx.ledger.partitionState("mmm", runId))?.state,
  };
  return { twin, stateDir, deps };
}

/** A config small enough for tests: Robyn's demo data, few iterations. */
export const tinyConfig = {
  country: "DE",
  revision: "test",
  date_var: "DATE",
  start_date: "2016-01-04",
  end_date: "2018-12-31",
  dep_var: "revenue",
  iterations: 20,
  trials: 2,
  paid_media_spends: "tv_S, ooh_S, print_S, facebook_S, search_S",
  context_vars: ["competitor_sales_B"],
  organic_vars: ["newsletter"],
};
