import { describe, expect, it } from "vitest";
import { createGcpWideRows, parseGcRule, toClientRule } from "../../shared/adapters/gcp/widerows.ts";
import { describeWideRowContract } from "./widerows-contract.ts";

// Runs against the bttest fake started by test/global-setup.ts (BIGTABLE_EMULATOR_HOST).
describeWideRowContract("Bigtable adapter on bttest", () =>
  createGcpWideRows({ projectId: "test-project", instanceId: "test-instance", chunkRows: 700 }),
);

describe("Bigtable adapter: GC rule shapes", () => {
  it("maps port rules to the Node client's rule objects", () => {
    expect(toClientRule({ maxVersions: 3 })).toEqual({ versions: 3 });
    expect(toClientRule({ maxAgeSeconds: 86400 })).toEqual({ age: { seconds: 86400 } });
    expect(toClientRule({ maxAgeSeconds: 60, maxVersions: 2, mode: "union" })).toEqual({
      age: { seconds: 60 },
      versions: 2,
      union: true,
    });
    expect(toClientRule({ maxAgeSeconds: 60, maxVersions: 2 })).toEqual({
      age: { seconds: 60 },
      versions: 2,
    });
  });

  it("reads GcRule protos back", () => {
    expect(parseGcRule({ maxNumVersions: 1, rule: "maxNumVersions" })).toEqual({ maxVersions: 1 });
    expect(parseGcRule({ maxAge: { seconds: "3600", nanos: 0 }, rule: "maxAge" })).toEqual({
      maxAgeSeconds: 3600,
    });
    expect(
      parseGcRule({ union: { rules: [{ maxAge: { seconds: 5 } }, { maxNumVersions: 2 }] }, rule: "union" }),
    ).toEqual({ maxAgeSeconds: 5, maxVersions: 2, mode: "union" });
    expect(parseGcRule(null)).toBeUndefined();
  });
});
