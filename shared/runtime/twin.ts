import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLocalAdapters, type LocalAdapters } from "../adapters/index.ts";
import type { LocalBus } from "../adapters/local/messages.ts";
import { createLocalRecords } from "../console/records.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { WorkflowEngine } from "../engine/index.ts";
import { createLedger } from "../ledger/ledger.ts";
import { BACKFILL_WORKFLOW_ID, type OpsContext, workflowIdOf } from "../ops/context.ts";
import { provideContext } from "../ops/handlers.ts";
import { PLATFORM_FUNCTIONS, TOPICS } from "../pipelines/platform.ts";
import { type Registry, repoRoot } from "../pipelines/types.ts";
import { deliver, type HostedFunction, hostFunction, stopFunction } from "./functions-host.ts";
import { createLocalWorkflows, type LocalWorkflows } from "./local-workflows.ts";
import { startScheduler } from "./scheduler.ts";

/**
 * The local twin: every port on its local adapter, the platform functions hosted on 127.0.0.1 and fed by the
 * in-process bus as Pub/Sub push would feed them, the workflows of `workflows-yaml/` on the local interpreter,
 * jobs as child processes, and all state under one directory. The same `OpsContext` the deployed functions
 * build from their environment is built here, so every operation runs the same code in both places.
 */
export interface TwinOptions {
  registry: Registry;
  stateDir: string;
  /** Where the registry's `workflows-yaml/` and `containers/` live (the repository; tests pass a fixture). */
  root?: string;
  log?: Logger;
  /** The environment jobs inherit (default process.env). */
  env?: Record<string, string | undefined>;
  project?: string;
  location?: string;
  /** How often the backfill driver polls a child execution, seconds (default 0.2 locally). */
  pollSeconds?: number;
  /** Run the cron scheduler from the registry (the long-running twin); off for one-shot verbs and tests. */
  schedule?: boolean;
  /** Backoff multiplier of the bus (tests make redeliveries quick). */
  backoffScale?: number;
  now?: () => Date;
  buckets?: { data?: string; artifacts?: string; state?: string };
}

export interface Twin {
  ctx: OpsContext;
  adapters: LocalAdapters;
  engine: WorkflowEngine;
  workflows: LocalWorkflows;
  bus: LocalBus;
  /** Function name -> its 127.0.0.1 URL (`console` is the web console). */
  urls: Record<string, string>;
  buckets: { data: string; artifacts: string; state: string };
  /** Names of executions a killed process had left ACTIVE, marked interrupted at start. */
  interrupted: string[];
  close(): Promise<void>;
}

export async function startTwin(options: TwinOptions): Promise<Twin> {
  const root = options.root ?? repoRoot();
  const log = options.log ?? createLogger();
  const now = options.now ?? (() => new Date());
  const project = options.project ?? "local-project";
  const location = options.location ?? "local";
  const buckets = {
    data: options.buckets?.data ?? "tessera-data",
    artifacts: options.buckets?.artifacts ?? "tessera-artifacts",
    state: options.buckets?.state ?? "tessera-state",
  };

  const adapters = createLocalAdapters({
    stateDir: options.stateDir,
    registry: options.registry,
    root,
    env: options.env ?? process.env,
    backoffScale: options.backoffScale,
    log,
  });
  const bus = adapters.messages;
  const state = adapters.objects.bucket(buckets.state);
  const ledger = createLedger(state);

  // The platform functions register their targets when imported.
  await Promise.all([
    import("../../functions/dispatch/index.ts"),
    import("../../functions/backfill/index.ts"),
    import("../../functions/runs/index.ts"),
  ]);
  const consoleModule = await import("../../functions/console/index.ts");
  const hosted: HostedFunction[] = [];
  for (const f of PLATFORM_FUNCTIONS) {
    hosted.push(await hostFunction(f.name, f.target));
  }
  // The console (loopback only locally), whether or not the platform list names it yet.
  if (!hosted.some((h) => h.name === "console"))
    hosted.push(await hostFunction("console", consoleModule.CONSOLE_TARGET));
  // The pipelines' own functions (e.g. the mmm API), hosted the same way; their URLs reach the workflows as
  // TESSERA_FUNCTION_<NAME>_URL, as the Pulumi program passes them.
  const functionEnv: Record<string, string> = {};
  const pipelineTopicFunctions: { fn: HostedFunction; topic: string }[] = [];
  for (const def of options.registry.list()) {
    for (const f of def.functions) {
      const file = join(root, "functions", f.source, "index.ts");
      if (!existsSync(file)) {
        log.warn(`${def.id}: function ${f.name} has no functions/${f.source}/index.ts; not hosted`);
        continue;
      }
      await import(pathToFileURL(file).href);
      const h = await hostFunction(`${def.id}-${f.name}`, f.target);
      hosted.push(h);
      functionEnv[`TESSERA_FUNCTION_${f.name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_URL`] = h.url;
      if (f.trigger.kind === "topic") pipelineTopicFunctions.push({ fn: h, topic: f.trigger.topic });
    }
  }
  const urls = Object.fromEntries(hosted.map((h) => [h.name, h.url]));

  const resolveWorkflow = (id: string) => {
    const def = options.registry.list().find((d) => workflowIdOf(d) === id);
    const file = def
      ? join(root, "workflows-yaml", def.workflow)
      : id === BACKFILL_WORKFLOW_ID
        ? join(repoRoot(), "workflows-yaml", "backfill.workflows.yaml")
        : undefined;
    return file ? { file, text: readFileSync(file, "utf8") } : undefined;
  };
  const host = {
    jobs: adapters.jobs,
    objects: adapters.objects,
    messages: bus,
    secrets: adapters.secrets,
    resolveWorkflow,
    get warehouse() {
      return adapters.warehouse;
    },
  };
  const engine = new WorkflowEngine({
    host,
    stateDir: options.stateDir,
    project,
    location,
    env: {
      TESSERA_RUNS_URL: urls.runs,
      TESSERA_DATA_BUCKET: buckets.data,
      TESSERA_ARTIFACTS_BUCKET: buckets.artifacts,
      TESSERA_STATE_BUCKET: buckets.state,
      ...functionEnv,
    },
    onLog: (e) =>
      log
        .child({ execution: e.execution.split("/").pop(), workflow: e.workflow })
        .info(e.text ?? JSON.stringify(e.json)),
  });
  const workflows = createLocalWorkflows(engine, options.stateDir);
  const interrupted = workflows.reconcile();
  if (interrupted.length > 0)
    log.warn(
      `${interrupted.length} execution(s) were left running by a stopped process and are marked interrupted`,
    );

  const ctx: OpsContext = {
    registry: options.registry,
    ledger,
    state,
    workflows,
    messages: bus,
    log,
    now,
    pollSeconds: options.pollSeconds ?? 0.2,
    takeoverSeconds: 30,
  };
  provideContext(ctx);
  consoleModule.setConsoleDeps({
    ctx,
    data: adapters.objects.bucket(buckets.data),
    mode: "local",
    records: createLocalRecords({ stateDir: options.stateDir, getExecution: (id) => engine.get(id) }),
  });
  // A backfill whose driver was interrupted ends failed, so that `status` tells the truth; its partitions are
  // resumed with a new backfill (`--reprocess missing` runs the interrupted ones again).
  for (const name of interrupted) {
    const e = await workflows.get(name);
    const id = e.labels.backfill_id;
    if (e.workflow === BACKFILL_WORKFLOW_ID && id)
      await ledger.setBackfillState(id, "failed", "interrupted: the process running its driver stopped");
  }

  // Pub/Sub push subscriptions of the topic-triggered functions, with the deployed retry and dead-letter policy.
  const subscribePush = async (fn: HostedFunction, topic: string, maxDeliveryAttempts: number) => {
    const subscription = `${fn.name}-push`;
    await bus.ensureTopic(topic);
    await bus.subscribe(
      subscription,
      topic,
      (message) => deliver(fn, message, { project, topic, subscription }),
      {
        maxDeliveryAttempts,
        deadLetterTopic: TOPICS.deadLetters,
        minBackoffSeconds: 1,
        maxBackoffSeconds: 60,
      },
    );
  };
  for (const f of PLATFORM_FUNCTIONS) {
    if (f.trigger.kind === "topic") {
      await subscribePush(
        hosted.find((h) => h.name === f.name)!,
        f.trigger.topic,
        f.maxDeliveryAttempts ?? 5,
      );
    }
  }
  for (const { fn, topic } of pipelineTopicFunctions) await subscribePush(fn, topic, 5);
  for (const t of Object.values(TOPICS)) await bus.ensureTopic(t);

  const scheduler = options.schedule
    ? startScheduler({
        registry: options.registry,
        publish: (tick) => bus.publish(TOPICS.scheduleTicks, tick),
        log,
        now,
      })
    : undefined;

  return {
    ctx,
    adapters,
    engine,
    workflows,
    bus,
    urls,
    buckets,
    interrupted,
    async close() {
      scheduler?.stop();
      await bus.idle();
      for (const e of engine.list({ state: "ACTIVE" })) if (engine.isLive(e.id)) await engine.cancel(e.id);
      workflows.close();
      provideContext(undefined);
      consoleModule.setConsoleDeps(undefined);
      for (const h of hosted) await stopFunction(h);
      await adapters.close();
    },
  };
}
