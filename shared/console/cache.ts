import type { Ledger, PartitionStatus } from "../ledger/ledger.ts";
import type { OpsContext } from "../ops/context.ts";

/**
 * The console reads a pipeline's partition states (one ledger listing) on nearly every page, and a page polls
 * while something runs. A listing of a year of runs costs far more than answering from the last one, so the
 * console's ledger keeps each pipeline's last listing and serves it stale-while-revalidate:
 *
 * - younger than `FRESH_MS`: served as is;
 * - older, up to `STALE_MS`: served at once while one refresh runs in the background (the next call sees it);
 * - older than that, or never listed: listed now (a cold call).
 *
 * Every write through this ledger, and every console action (`clearLedgerCache`), drops what is cached, so a
 * page shows its own action's effect on the next read. Other processes' writes (runs recording their end)
 * show up within one refresh.
 */

export const FRESH_MS = 1000;
export const STALE_MS = 15_000;

let generation = 0;

/** Forget every cached listing (the console's actions call this before they act). */
export function clearLedgerCache(): void {
  generation++;
}

interface Entry {
  generation: number;
  at: number;
  value?: Map<string, PartitionStatus>;
  pending?: Promise<Map<string, PartitionStatus>>;
}

const WRITES = new Set([
  "claim",
  "markRunning",
  "succeed",
  "fail",
  "cancel",
  "appendEvent",
  "putBackfill",
  "setBackfillState",
]);

const raw = new WeakMap<Ledger, Ledger>();

/** The ledger under a cached one (itself when it is not cached): for reads that must be fresh. */
export function uncached(ledger: Ledger): Ledger {
  return raw.get(ledger) ?? ledger;
}

export function cachedLedger(ledger: Ledger, now: () => number = Date.now): Ledger {
  const entries = new Map<string, Entry>();
  const refresh = (pipeline: string, entry: Entry): Promise<Map<string, PartitionStatus>> => {
    const pending = ledger.partitionStates(pipeline);
    entry.pending = pending;
    pending.then(
      (value) => {
        if (entry.pending === pending) entry.pending = undefined;
        if (entry.generation === generation) {
          entry.value = value;
          entry.at = now();
        }
      },
      () => {
        if (entry.pending === pending) entry.pending = undefined;
      },
    );
    return pending;
  };
  const partitionStates = async (pipeline: string): Promise<Map<string, PartitionStatus>> => {
    let entry = entries.get(pipeline);
    if (!entry || entry.generation !== generation) {
      entry = { generation, at: 0 };
      entries.set(pipeline, entry);
    }
    const age = now() - entry.at;
    if (entry.value && age < FRESH_MS) return entry.value;
    if (entry.value && age < STALE_MS) {
      if (!entry.pending) void refresh(pipeline, entry).catch(() => undefined);
      return entry.value;
    }
    return entry.pending ?? refresh(pipeline, entry);
  };
  const cached = new Proxy(ledger, {
    get(target, prop, receiver) {
      if (prop === "partitionStates") return partitionStates;
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (typeof prop === "string" && WRITES.has(prop))
        return async (...args: unknown[]) => {
          try {
            return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            clearLedgerCache();
          }
        };
      return v.bind(target);
    },
  });
  raw.set(cached, ledger);
  return cached;
}

const views = new WeakMap<OpsContext, OpsContext>();

/** The console's view of an operations context: the same, with the cached ledger. */
export function consoleView(ctx: OpsContext): OpsContext {
  let view = views.get(ctx);
  if (!view) {
    view = { ...ctx, ledger: cachedLedger(ctx.ledger) };
    views.set(ctx, view);
  }
  return view;
}
