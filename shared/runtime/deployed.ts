import { createLogger } from "../core/log.ts";
import { createLedger } from "../ledger/ledger.ts";
import { setContextFactory } from "../ops/handlers.ts";
import { registry } from "../pipelines/index.ts";
import { loadRuntimeConfig } from "./config.ts";

/**
 * Imported by every function module: when deployed (TESSERA_MODE=gcp), the operations context is built once
 * per instance from the environment, on the first request. The client libraries load then, and only those a
 * function uses (see `adapters/gcp/index.ts`). The local twin provides its own context instead.
 */
setContextFactory(async () => {
  const config = loadRuntimeConfig(process.env);
  const log = createLogger({ labels: { component: "function" } });
  if (config.mode !== "gcp") throw new Error("TESSERA_MODE is not gcp and no local twin provided a context");
  const [{ createGcpAdapters }, { createGcpWorkflows }] = await Promise.all([
    import("../adapters/gcp/index.ts"),
    import("../adapters/gcp/workflows.ts"),
  ]);
  const adapters = await createGcpAdapters({ projectId: config.project!, region: config.region, log });
  const state = adapters.objects.bucket(config.stateBucket);
  return {
    registry,
    ledger: createLedger(state),
    state,
    workflows: createGcpWorkflows({ projectId: config.project!, region: config.region }),
    messages: adapters.messages,
    log,
    now: () => new Date(),
  };
});
