import { describe, expect, it } from "vitest";
import { cachedLedger, clearLedgerCache, FRESH_MS, STALE_MS, uncached } from "../../shared/console/cache.ts";
import type { Ledger, PartitionStatus } from "../../shared/ledger/ledger.ts";

/** The console's ledger cache: fresh, then stale-while-revalidate, then cold; writes and actions drop it. */

function fakeLedger() {
  let version = 0;
  const calls = { list: 0, claim: 0 };
  const ledger = {
    async partitionStates(_pipeline: string) {
      calls.list++;
      const v = ++version;
      return new Map<string, PartitionStatus>([
        ["2024-01-01", { state: "running", attempt: v, claimedAt: "", updated: `v${v}` }],
      ]);
    },
    async claim() {
      calls.claim++;
      return { claimed: false, state: "running", attempt: 1, reason: "" };
    },
  } as unknown as Ledger;
  return { ledger, calls, set: (v: number) => (version = v) };
}

const attemptOf = async (l: Ledger) => (await l.partitionStates("demo")).get("2024-01-01")?.attempt;

describe("console ledger cache", () => {
  it("serves a listing fresh, then stale while refreshing, then lists again when too old", async () => {
    const f = fakeLedger();
    let t = 1_000_000;
    const l = cachedLedger(f.ledger, () => t);
    expect(await attemptOf(l)).toBe(1);
    t += FRESH_MS - 1;
    expect(await attemptOf(l)).toBe(1);
    expect(f.calls.list).toBe(1);
    t += 2; // stale: the old listing at once, a refresh behind it
    expect(await attemptOf(l)).toBe(1);
    expect(f.calls.list).toBe(2);
    await new Promise((r) => setTimeout(r, 0));
    expect(await attemptOf(l)).toBe(2);
    t += STALE_MS + 1; // too old: listed now
    expect(await attemptOf(l)).toBe(3);
    expect(uncached(l)).toBe(f.ledger);
  });

  it("drops what it holds on a write through it and on a console action", async () => {
    const f = fakeLedger();
    const l = cachedLedger(f.ledger);
    expect(await attemptOf(l)).toBe(1);
    await l.claim({ pipeline: "demo", partition: "2024-01-01", runId: "r" });
    expect(f.calls.claim).toBe(1);
    expect(await attemptOf(l)).toBe(2);
    clearLedgerCache();
    expect(await attemptOf(l)).toBe(3);
    expect(await attemptOf(l)).toBe(3);
  });
});
