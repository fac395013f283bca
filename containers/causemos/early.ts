import { startDecodeThread } from "./stream-decode.ts";

/**
 * The job's first module (entry.ts imports it before it loads job.ts): when the process is the job's entry
 * running a `run` step, the read's decoding thread starts now and loads on the other core while this one loads
 * the job (stream-decode.ts, `startDecodeThread`). Anything else (`--help`, the merge step, arguments main will
 * reject, an import by tests) starts nothing.
 */

/** Whether the job's arguments (`--args JSON`, else TESSERA_JOB_ARGS) ask for the run step. */
export function asksForRun(argv: readonly string[], env: Record<string, string | undefined>): boolean {
  if (argv.includes("--help")) return false;
  const i = argv.indexOf("--args");
  const raw = i >= 0 ? argv[i + 1] : env.TESSERA_JOB_ARGS;
  if (raw === undefined) return false;
  try {
    return (JSON.parse(raw) as { step?: unknown } | null)?.step === "run";
  } catch {
    return false;
  }
}

const entry = process.argv[1] ?? "";
if (/(?:^|[\\/])(?:index\.js|entry\.ts)$/.test(entry) && asksForRun(process.argv.slice(2), process.env))
  startDecodeThread();
