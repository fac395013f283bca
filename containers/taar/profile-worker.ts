/**
 * A profile builder thread: decodes Avro blocks and returns the MutateRows entry bytes (profile-build.ts),
 * transferring the result's buffers back without a copy.
 */
import { parentPort } from "node:worker_threads";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { type BuildJob, buildJobEntries } from "./profile-build.ts";

parentPort?.on("message", (m: { id: number; job: BuildJob }) => {
  try {
    const e = buildJobEntries(m.job);
    parentPort?.postMessage({ id: m.id, entries: e }, [
      e.bytes.buffer as ArrayBuffer,
      e.offsets.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    const e = err as Error & { field?: string; fix?: string };
    parentPort?.postMessage({
      id: m.id,
      error: {
        message: e.message ?? String(err),
        nonRetriable: err instanceof NonRetriableError,
        field: e.field,
        fix: e.fix,
      },
    });
  }
});
