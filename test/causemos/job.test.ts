import { describe, expect, it } from "vitest";
import { completeJobArgs, defaultDataPath } from "../../containers/causemos/job.ts";
import { readJobArgs } from "../../containers/causemos/main.ts";

const base = { pipeline: "causemos", partition: "m-1/r-2", runId: "causemos:m-1/r-2", step: "run" };

describe("causemos platform job arguments", () => {
  it("fills model_id, run_id, data_paths and the buckets from the partition and the data bucket", () => {
    const raw = completeJobArgs(JSON.stringify({ ...base, params: { run_tasks: 3 } }), {
      TESSERA_DATA_BUCKET: "data-b",
    });
    const args = readJobArgs(["--args", raw], {});
    expect(args.params).toMatchObject({
      model_id: "m-1",
      run_id: "r-2",
      data_paths: ["gs://data-b/causemos/dojo/m-1/r-2/output.parquet"],
      model_bucket: "data-b",
      indicator_bucket: "data-b",
    });
    expect(defaultDataPath("data-b", "m-1/r-2")).toBe(args.params.data_paths[0]);
    expect("run_tasks" in args.params).toBe(false);
  });

  it("keeps what the request gives, so a mismatched model_id is still rejected by the job", () => {
    const given = { model_id: "other", data_paths: ["/x.parquet"], model_bucket: "models" };
    const raw = completeJobArgs(JSON.stringify({ ...base, params: given }), {
      TESSERA_DATA_BUCKET: "data-b",
    });
    expect(JSON.parse(raw).params).toMatchObject(given);
    expect(() => readJobArgs(["--args", raw], {})).toThrow(
      /partition "m-1\/r-2" is not model_id\/run_id "other\/r-2"/,
    );
  });

  it("passes text that is not a JSON object through for the job to reject", () => {
    expect(completeJobArgs("{not json", {})).toBe("{not json");
    expect(() => readJobArgs(["--args", completeJobArgs("[1]", {})], {})).toThrow(/causemos job arguments/);
  });
});
