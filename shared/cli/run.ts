import { parseContract } from "../contracts/v1/index.ts";
import { parsePartition } from "../core/dates.ts";
import { runIdFor } from "../core/runid.ts";
import { workflowIdOf } from "../ops/context.ts";
import { openOps, targetOptions } from "./open.ts";
import { keyValues, parseVerbArgs, UsageError, type Verb } from "./verb.ts";

const verb: Verb = {
  name: "run",
  summary: "Run one partition of a pipeline now (ad hoc), as a scheduled tick would",
  help: `Usage: tessera run PIPELINE [--partition P] [--param NAME=VALUE]... [--force] [--wait] [--json]
                    [--project ID --region REGION]

Starts the pipeline's workflow with {partition, params, runId}, exactly as the scheduler, a backfill or
\`gcloud workflows execute PIPELINE --data '{"partition": "..."}'\` would. The workflow claims the run in the
run ledger first, so a partition that is running or done is reported, not run twice; --force reruns it.

  --partition P      the partition (default: the one a schedule tick would run now)
  --param NAME=VALUE a run parameter (repeatable; VALUE is JSON when it parses as JSON)
  --force            rerun even if the partition is running or succeeded
  --wait             wait for the end and print the result (always on the local twin, which runs in this process)
  --json             print the execution as JSON
  --project, --region  run against the deployed stack instead of the local twin

Examples:
  tessera run mozaic-daily --partition 2024-06-15
  tessera run mozaic-daily --partition 2024-06-15 --param testingMode=true --force
  tessera run causemos --partition model-1/run-7 --project my-proj --region europe-west1 --wait
`,
  async run(argv, io) {
    const { values, positionals } = parseVerbArgs(argv, {
      partition: { type: "string" },
      param: { type: "string", multiple: true },
      force: { type: "boolean" },
      wait: { type: "boolean" },
      json: { type: "boolean" },
      ...targetOptions,
    });
    const [pipeline, extra] = positionals;
    if (!pipeline || extra) throw new UsageError("give exactly one PIPELINE");
    const ops = await openOps(io, values);
    try {
      const def = ops.ctx.registry.get(pipeline);
      const partition = values.partition
        ? parsePartition(def.partition.kind, values.partition, "--partition")
        : def.partition.fromTick
          ? def.partition.fromTick(ops.ctx.now())
          : (() => {
              throw new UsageError(`${pipeline} has no default partition: give --partition`);
            })();
      const params = parseContract(
        def.params,
        keyValues(values.param, "--param"),
        `params of ${pipeline}`,
      ) as Record<string, unknown>;
      const runId = runIdFor(def.id, partition);
      const started = await ops.ctx.workflows.execute(
        workflowIdOf(def),
        { partition, params, runId, force: values.force === true },
        { labels: { pipeline: def.id, run_id: runId, trigger: "adhoc" } },
      );
      if (!values.wait && ops.mode === "gcp") {
        io.stdout.write(values.json ? `${JSON.stringify(started)}\n` : `started ${started.name}\n`);
        return 0;
      }
      io.stderr.write(`running ${pipeline} ${partition} (${started.name})\n`);
      const done = await ops.ctx.workflows.wait(started.name);
      if (values.json) io.stdout.write(`${JSON.stringify(done, null, 2)}\n`);
      else {
        io.stdout.write(`${done.state} ${pipeline} ${partition}\n`);
        if (done.result !== undefined) io.stdout.write(`result: ${JSON.stringify(done.result)}\n`);
        if (done.error !== undefined)
          io.stdout.write(
            `error: ${typeof done.error === "string" ? done.error : JSON.stringify(done.error)}\n`,
          );
      }
      return done.state === "SUCCEEDED" ? 0 : 1;
    } finally {
      await ops.close();
    }
  },
};
export default verb;
