import { describe, expect, it } from "vitest";
import {
  BackfillRequest,
  parseContract,
  parseJson,
  RunEvent,
  RunRequest,
  ScheduleTick,
  WorkflowArgs,
} from "../../shared/contracts/v1/index.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

function rejection(fn: () => unknown): NonRetriableError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NonRetriableError);
    return e as NonRetriableError;
  }
  throw new Error("expected a rejection");
}

describe("v1 contracts", () => {
  it("fills defaults of a backfill request", () => {
    const r = parseContract(
      BackfillRequest,
      { pipeline: "mozaic-daily", from: "2024-06-01", requestId: "x" },
      "backfill request",
    );
    expect(r).toMatchObject({
      reprocess: "missing",
      maxConcurrent: 4,
      order: "asc",
      dryRun: false,
      params: {},
    });
  });

  const bad: { schema: any; value: unknown; field: string | undefined; what: RegExp }[] = [
    {
      schema: BackfillRequest,
      value: { pipeline: "mozaic-daily", from: "2024-06-01" },
      field: "requestId",
      what: /requestId/,
    },
    {
      schema: BackfillRequest,
      value: { pipeline: "mozaic-daily", requestId: "x", maxConcurrent: 0 },
      field: "maxConcurrent",
      what: /maxConcurrent/,
    },
    {
      schema: BackfillRequest,
      value: { pipeline: "mozaic-daily", requestId: "x", reprocess: "some" },
      field: "reprocess",
      what: /reprocess/,
    },
    {
      schema: BackfillRequest,
      value: { pipeline: "Mozaic Daily", requestId: "x" },
      field: "pipeline",
      what: /registered pipeline id/,
    },
    {
      schema: BackfillRequest,
      value: { pipeline: "mozaic-daily", requestId: "x", from: "June" },
      field: "from",
      what: /YYYY-MM-DD/,
    },
    {
      schema: BackfillRequest,
      value: { pipeline: "mozaic-daily", requestId: "x", surprise: 1 },
      field: undefined,
      what: /surprise/,
    },
    { schema: ScheduleTick, value: { partition: "2024-06-01" }, field: "pipeline", what: /pipeline/ },
    { schema: RunRequest, value: { pipeline: "taar-daily" }, field: "partition", what: /partition/ },
    { schema: WorkflowArgs, value: { partition: 20240601 }, field: "partition", what: /partition/ },
    {
      schema: RunEvent,
      value: { type: "run.exploded", pipeline: "taar-daily", partition: "p", runId: "r", at: "t" },
      field: "type",
      what: /type/,
    },
    { schema: BackfillRequest, value: "not an object", field: undefined, what: /\(message\)/ },
  ];
  for (const [i, c] of bad.entries()) {
    it(`names the bad field (${i}: ${c.field ?? "whole message"})`, () => {
      const e = rejection(() => parseContract(c.schema, c.value, "message"));
      expect(e.message).toMatch(c.what);
      expect(e.field).toBe(c.field);
      expect(e.fix).toMatch(/v1 schema/);
    });
  }

  it("takes exactly what gcloud workflows execute --data passes", () => {
    expect(parseContract(WorkflowArgs, { partition: "2024-06-15" }, "workflow argument")).toEqual({
      partition: "2024-06-15",
      params: {},
      force: false,
    });
  });

  it("rejects a body that is not JSON", () => {
    const e = rejection(() => parseJson("{not json", "schedule tick"));
    expect(e.field).toBe("data");
    expect(e.message).toMatch(/schedule tick: body is not valid JSON/);
  });
});
