import { createLogger } from "../core/log.ts";
import { workflowIdOf } from "../ops/context.ts";
import { TOPICS } from "../pipelines/platform.ts";
import { loadRuntimeConfig } from "../runtime/config.ts";
import { startTwin } from "../runtime/twin.ts";
import doctor from "./doctor.ts";
import { loadRegistry } from "./open.ts";
import { parseVerbArgs, table, type Verb } from "./verb.ts";

const verb: Verb = {
  name: "start",
  summary: "Run a full local cycle of every registered pipeline on the local twin (what `npm start` does)",
  help: `Usage: tessera start [--serve]

Prints the doctor report, starts the local twin (functions on 127.0.0.1, the in-process bus, the Workflows
interpreter, jobs as child processes, state under TESSERA_STATE_DIR), and publishes one schedule tick per
registered pipeline, exactly as Cloud Scheduler would. It waits for every run and ends with a summary of
what ran, how it ended and where its outputs are.

  --serve   keep running afterwards with the cron scheduler on (Ctrl-C stops it)

Example:
  npm start
`,
  async run(argv, io) {
    const { values } = parseVerbArgs(argv, { serve: { type: "boolean" } }, false);
    await doctor.run([], io);
    const config = loadRuntimeConfig(io.env, io.cwd);
    const { registry, root } = await loadRegistry(io.env, io.cwd);
    const pipelines = registry.list();
    io.stdout.write(`\nLocal cycle (state in ${config.stateDir}):\n`);
    if (pipelines.length === 0 && !values.serve) {
      io.stdout.write("  no pipelines are registered yet, so there is nothing to run.\n");
      return 0;
    }
    const twin = await startTwin({
      registry,
      root,
      stateDir: config.stateDir,
      log: createLogger(),
      schedule: values.serve === true,
      buckets: { data: config.dataBucket, artifacts: config.artifactsBucket, state: config.stateBucket },
    });
    try {
      io.stdout.write(
        `  functions: ${Object.entries(twin.urls)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}\n`,
      );
      io.stdout.write(
        `  console: ${twin.urls.console}/ (while this runs; \`tessera start --serve\` keeps it up)\n`,
      );
      const seedContext = {
        adapters: twin.adapters,
        stateDir: config.stateDir,
        buckets: twin.buckets,
        log: twin.ctx.log,
        now: twin.ctx.now(),
      };
      for (const def of pipelines) {
        if (!def.local?.seed) continue;
        io.stdout.write(`  seeding local sample data for ${def.id}\n`);
        await def.local.seed(seedContext);
      }
      const before = new Set((await twin.workflows.list()).map((e) => e.name));
      for (const def of pipelines) {
        await twin.bus.publish(TOPICS.scheduleTicks, {
          pipeline: def.id,
          params: def.local?.startParams ?? {},
        });
      }
      await twin.bus.idle();
      const started = (await twin.workflows.list()).filter(
        (e) => !before.has(e.name) && pipelines.some((p) => workflowIdOf(p) === e.workflow),
      );
      const rows: (string | undefined)[][] = [];
      let failed = 0;
      for (const e of started) {
        const done = await twin.workflows.wait(e.name);
        if (done.state !== "SUCCEEDED") failed++;
        const arg = (done.argument ?? {}) as { partition?: string };
        const detail = done.state === "SUCCEEDED" ? JSON.stringify(done.result) : JSON.stringify(done.error);
        rows.push([done.workflow, arg.partition, done.state, detail?.slice(0, 160)]);
      }
      io.stdout.write(`\n${table(["pipeline", "partition", "state", "result"], rows)}`);
      for (const def of pipelines) {
        const partition = rows.find((r) => r[0] === workflowIdOf(def))?.[1];
        if (def.local?.describe && partition)
          io.stdout.write(`\n${def.id}:\n${await def.local.describe(seedContext, partition)}\n`);
      }
      if (values.serve) {
        io.stdout.write(
          `\nserving: the scheduler runs every pipeline on its cron; console at ${twin.urls.console}/ ; Ctrl-C stops.\n`,
        );
        await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
      }
      return failed > 0 ? 1 : 0;
    } finally {
      await twin.close();
    }
  },
};
export default verb;
