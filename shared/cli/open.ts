import { isAbsolute, join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLocalBus } from "../adapters/local/messages.ts";
import { createLocalObjects } from "../adapters/local/objects.ts";
import { createLogger } from "../core/log.ts";
import { WorkflowEngine } from "../engine/index.ts";
import { createLedger } from "../ledger/ledger.ts";
import type { OpsContext } from "../ops/context.ts";
import { registry as defaultRegistry, type Registry, repoRoot } from "../pipelines/index.ts";
import { loadRuntimeConfig } from "../runtime/config.ts";
import { createLocalWorkflows } from "../runtime/local-workflows.ts";
import { startTwin, type Twin } from "../runtime/twin.ts";
import type { Io } from "./verb.ts";

/** `--project`/`--region`: act on a deployed stack instead of the local twin. */
export const targetOptions = { project: { type: "string" }, region: { type: "string" } } as const;

export interface OpenOps {
  mode: "local" | "gcp";
  ctx: OpsContext;
  twin?: Twin;
  close(): Promise<void>;
}

/**
 * The registry the CLI acts on: the project's own, or the module named by `TESSERA_REGISTRY_MODULE`
 * (exporting `registry` and `root`), which is how the tests point the CLI at fixture pipelines.
 */
export async function loadRegistry(
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<{ registry: Registry; root: string }> {
  const module = env.TESSERA_REGISTRY_MODULE;
  if (!module) return { registry: defaultRegistry, root: repoRoot() };
  const m = (await import(pathToFileURL(isAbsolute(module) ? module : join(cwd, module)).href)) as {
    registry: Registry;
    root: string;
  };
  return { registry: m.registry, root: m.root };
}

/**
 * Open the operations context for a verb. Locally: the whole twin (functions, engine, jobs) when the verb
 * runs workflows, or a read-only view of the state directory (`twin: false`). On GCP: the real services.
 */
export async function openOps(
  io: Io,
  flags: { project?: string; region?: string },
  options: { twin?: boolean } = {},
): Promise<OpenOps> {
  const env = {
    ...io.env,
    ...(flags.project ? { TESSERA_MODE: "gcp", GOOGLE_CLOUD_PROJECT: flags.project } : {}),
    ...(flags.region ? { TESSERA_REGION: flags.region } : {}),
  };
  const config = loadRuntimeConfig(env, io.cwd);
  const { registry, root } = await loadRegistry(env, io.cwd);
  const log = createLogger({ labels: { component: "cli" } });
  if (config.mode === "gcp") {
    const [{ createGcpAdapters }, { createGcpWorkflows }] = await Promise.all([
      import("../adapters/gcp/index.ts"),
      import("../adapters/gcp/workflows.ts"),
    ]);
    const adapters = await createGcpAdapters({ projectId: config.project!, region: config.region, log });
    const state = adapters.objects.bucket(config.stateBucket);
    const ctx: OpsContext = {
      registry,
      ledger: createLedger(state),
      state,
      workflows: createGcpWorkflows({ projectId: config.project!, region: config.region }),
      messages: adapters.messages,
      log,
      now: () => new Date(),
    };
    return { mode: "gcp", ctx, close: () => adapters.close() };
  }
  if (options.twin !== false) {
    const twin = await startTwin({
      registry,
      root,
      stateDir: config.stateDir,
      log,
      buckets: { data: config.dataBucket, artifacts: config.artifactsBucket, state: config.stateBucket },
    });
    return { mode: "local", ctx: twin.ctx, twin, close: () => twin.close() };
  }
  const objects = createLocalObjects({ root: join(config.stateDir, "objects") });
  const state = objects.bucket(config.stateBucket);
  const engine = new WorkflowEngine({ stateDir: config.stateDir });
  const workflows = createLocalWorkflows(engine, config.stateDir);
  const messages = createLocalBus();
  const ctx: OpsContext = {
    registry,
    ledger: createLedger(state),
    state,
    workflows,
    messages,
    log,
    now: () => new Date(),
  };
  return {
    mode: "local",
    ctx,
    close: async () => {
      workflows.close();
      await messages.close();
    },
  };
}
