import { describe, expect, it } from "vitest";
import { asksForRun } from "../../containers/causemos/early.ts";

describe("the job's early decoding thread", () => {
  const run = JSON.stringify({ pipeline: "causemos", partition: "m/r", runId: "x", step: "run", params: {} });
  const merge = JSON.stringify({
    pipeline: "causemos",
    partition: "m/r",
    runId: "x",
    step: "merge",
    params: {},
  });

  it("starts for the run step, from --args or TESSERA_JOB_ARGS", () => {
    expect(asksForRun(["--args", run], {})).toBe(true);
    expect(asksForRun([], { TESSERA_JOB_ARGS: run })).toBe(true);
    // --args wins over the environment, as in runJob.
    expect(asksForRun(["--args", merge], { TESSERA_JOB_ARGS: run })).toBe(false);
  });

  it("does not start for --help, the merge step, missing or unreadable arguments", () => {
    expect(asksForRun(["--help"], { TESSERA_JOB_ARGS: run })).toBe(false);
    expect(asksForRun([], { TESSERA_JOB_ARGS: merge })).toBe(false);
    expect(asksForRun([], {})).toBe(false);
    expect(asksForRun(["--args"], {})).toBe(false);
    expect(asksForRun([], { TESSERA_JOB_ARGS: "{not json" })).toBe(false);
    expect(asksForRun([], { TESSERA_JOB_ARGS: "null" })).toBe(false);
  });
});
