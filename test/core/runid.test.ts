import { describe, expect, it } from "vitest";
import { backfillIdFor, runIdFor } from "../../shared/core/runid.ts";

describe("run ids", () => {
  it("is deterministic per (pipeline, partition) and distinct otherwise", () => {
    expect(runIdFor("mozaic-daily", "2024-06-15")).toBe(runIdFor("mozaic-daily", "2024-06-15"));
    expect(runIdFor("mozaic-daily", "2024-06-15")).not.toBe(runIdFor("mozaic-daily", "2024-06-16"));
    expect(runIdFor("causemos", "a/b")).not.toBe(runIdFor("causemos", "a-b"));
    expect(runIdFor("mozaic-daily", "2024-06-15")).toMatch(/^mozaic-daily-2024-06-15-[0-9a-f]{10}$/);
  });

  it("is a valid label value even for long key partitions", () => {
    const id = runIdFor("causemos", `${"Model".repeat(30)}/RUN_1`);
    expect(id.length).toBeLessThanOrEqual(63);
    expect(id).toMatch(/^[a-z0-9-]+$/);
  });

  it("derives one backfill id per request id", () => {
    expect(backfillIdFor("taar-daily", "req-1")).toBe(backfillIdFor("taar-daily", "req-1"));
    expect(backfillIdFor("taar-daily", "req-1")).not.toBe(backfillIdFor("taar-daily", "req-2"));
  });
});
