import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generate, writeParquet } from "../../containers/causemos/generator.ts";
import { completeJobArgs, defaultDataPath } from "../../containers/causemos/job.ts";
import { readJobArgs } from "../../containers/causemos/main.ts";
import { bundle } from "../../scripts/build.ts";
import { causemos } from "../../shared/pipelines/causemos.ts";
import { tempDir } from "./helpers.ts";

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

describe("causemos bundled job", () => {
  it("runs the job once from its registered entrypoint: entry.ts, job.ts and main.ts are one bundle", async () => {
    const repo = join(import.meta.dirname, "..", "..");
    // Under the repository so that the bundle's external packages resolve from node_modules.
    mkdirSync(join(repo, ".tessera"), { recursive: true });
    const dir = mkdtempSync(join(repo, ".tessera", "causemos-bundle-test-"));
    const data = tempDir();
    try {
      const entrypoint = causemos.jobs.find((j) => j.name === "run")?.entrypoint as string;
      expect(entrypoint).toBe("containers/causemos/entry.ts");
      await bundle(join(repo, entrypoint), join(dir, "job"), "causemos-run");
      // The job runs as deployed: node with the registered flags before the bundle.
      const flags = causemos.jobs.find((j) => j.name === "run")?.nodeFlags ?? [];
      expect(flags).toContain("--single-threaded-gc");
      const input = join(data.path, "output.parquet");
      await writeParquet(generate({ points: 20, days: 3, seed: 5 }), input);
      const args = {
        ...base,
        partition: "m-1/r-2",
        params: { model_id: "m-1", run_id: "r-2", data_paths: [input], model_bucket: "models" },
      };
      const r = spawnSync(process.execPath, [...flags, join(dir, "job", "index.js")], {
        encoding: "utf8",
        env: {
          PATH: process.env.PATH,
          TESSERA_MODE: "local",
          TESSERA_STATE_DIR: join(data.path, "state"),
          TESSERA_JOB_ARGS: JSON.stringify(args),
        },
      });
      expect(r.status, r.stderr).toBe(0);
      const results = r.stdout.split("\n").filter((l) => l.startsWith('{"step"'));
      expect(results).toHaveLength(1);
      const out = JSON.parse(results[0]) as { rows: number; files: number; recordedResults: boolean };
      expect(out).toMatchObject({ rows: 120, recordedResults: true });
      expect(out.files).toBeGreaterThan(10);
      const written = join(data.path, "state", "objects", "models", "m-1", "r-2", "results", "results.json");
      expect(JSON.parse(readFileSync(written, "utf8")).data_info.num_rows).toBe(120);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      data.remove();
    }
  }, 60_000);
});
