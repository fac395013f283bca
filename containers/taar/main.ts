/**
 * The entrypoint of every TAAR Cloud Run job. Env: TAAR_STEP (set per job by the registry), TAAR_PARTITION
 * (YYYY-MM-DD), TAAR_PARAMS (JSON, the run's params), TAAR_AMO_URL (optional AMO base URL), and Cloud Run's
 * CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT. Prints the step's summary as one JSON line; exits 3 on bad input
 * (retrying cannot help) and 1 on other failures.
 */

import { parsePartition } from "../../shared/core/dates.ts";
import { exitCode, NonRetriableError, reasonOf } from "../../shared/core/errors.ts";
import { createLogger } from "../../shared/core/log.ts";
import { openPorts } from "./adapters.ts";
import { TaarParams } from "./params.ts";
import { STEPS, writeSummary } from "./steps.ts";

const log = createLogger({ labels: { component: "taar", step: process.env.TAAR_STEP ?? "?" } });
let stopStub: (() => Promise<void>) | undefined;

async function main(): Promise<void> {
  const step = process.env.TAAR_STEP ?? "";
  const run = STEPS[step];
  if (!run)
    throw new NonRetriableError(`TAAR_STEP "${step}" is not a TAAR step`, {
      field: "TAAR_STEP",
      fix: `use one of ${Object.keys(STEPS).join(", ")}`,
    });
  const day = parsePartition("daily", process.env.TAAR_PARTITION ?? "", "TAAR_PARTITION");
  let raw: unknown;
  try {
    raw = JSON.parse(process.env.TAAR_PARAMS || "{}");
  } catch {
    throw new NonRetriableError("TAAR_PARAMS is not JSON", {
      field: "TAAR_PARAMS",
      fix: "pass the run's params as a JSON object",
    });
  }
  const parsed = TaarParams.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new NonRetriableError(`params.${i.path.join(".")}: ${i.message}`, {
      field: `params.${i.path.join(".")}`,
      fix: "correct the run's params",
    });
  }
  const params = parsed.data;
  const ports = await openPorts();
  try {
    let amoUrl = params.amoUrl ?? process.env.TAAR_AMO_URL;
    if (!amoUrl && (step === "amodump" || step === "update-whitelist")) {
      if (ports.mode === "local") {
        // The local twin has no AMO: serve the seeded stub on 127.0.0.1 for this job's lifetime.
        const { startAmoStub } = await import("./amo-stub.ts");
        const stub = await startAmoStub({ today: day });
        stopStub = stub.close;
        amoUrl = stub.url;
      } else amoUrl = "https://addons.mozilla.org";
    }
    const ctx = {
      ports,
      day,
      params,
      amoUrl,
      taskIndex: Number(process.env.CLOUD_RUN_TASK_INDEX ?? 0),
      taskCount: Number(process.env.CLOUD_RUN_TASK_COUNT ?? 1),
    };
    const started = Date.now();
    const summary = await run(ctx);
    const out = { step, partition: day, seconds: (Date.now() - started) / 1000, ...summary };
    await writeSummary(ctx, step, out);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await stopStub?.();
    await ports.close();
  }
}

if (process.argv.includes("--help")) {
  process.stdout.write(
    "Usage: node index.js   (every TAAR Cloud Run job; configured by its environment)\n" +
      `  TAAR_STEP       one of ${Object.keys(STEPS).join(", ")} (set per job by the registry)\n` +
      "  TAAR_PARTITION  YYYY-MM-DD\n" +
      "  TAAR_PARAMS     the run's params, JSON; TAAR_AMO_URL  optional AMO base URL\n" +
      "  CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT, TESSERA_MODE (local | gcp) and the bucket settings\n" +
      "Prints the step's summary as one JSON line. Exit 0 on success, 3 for bad input (not retried), 1 otherwise.\n",
  );
} else {
  try {
    await main();
  } catch (err) {
    log.error(`taar ${process.env.TAAR_STEP ?? "?"} failed: ${reasonOf(err)}`);
    process.exitCode = exitCode(err);
  }
}
