import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConsoleDeps } from "../../functions/console/api.ts";
import { createLocalBus } from "../../shared/adapters/local/messages.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import type { ObjectInfo, ObjectStore } from "../../shared/adapters/ports.ts";
import { createLocalRecords } from "../../shared/console/records.ts";
import { addDays, formatDay } from "../../shared/core/dates.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { WorkflowEngine } from "../../shared/engine/index.ts";
import { createLedger, type Ledger } from "../../shared/ledger/ledger.ts";
import type { OpsContext } from "../../shared/ops/context.ts";
import type { Registry } from "../../shared/pipelines/types.ts";
import { createLocalWorkflows } from "../../shared/runtime/local-workflows.ts";

/**
 * The console's API over a state directory without a running twin (as `tessera status` reads it), with an
 * object store that counts its calls, and a ledger filled with a year of runs. For the API tests (which
 * check that the calls a route makes do not grow with the number of runs) and the bench.
 */

export interface CallCounts {
  list: number;
  get: number;
  stat: number;
  exists: number;
}

/** Wrap a store so that every list/get/stat/exists is counted. */
export function countingStore(store: ObjectStore, counts: CallCounts): ObjectStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (prop === "list" || prop === "get" || prop === "stat" || prop === "exists")
        return (...args: unknown[]) => {
          counts[prop]++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      return v.bind(target);
    },
  });
}

export interface ReadOnlyConsole {
  deps: ConsoleDeps;
  stateDir: string;
  /** Calls made on the state bucket (the ledger) and the data bucket. */
  counts: CallCounts;
  ledger: Ledger;
  data: ObjectStore;
  close(): Promise<void>;
}

export function readOnlyConsole(registry: Registry, now: Date, stateDir?: string): ReadOnlyConsole {
  const dir = stateDir ?? mkdtempSync(join(tmpdir(), "tessera-console-api-"));
  const objects = createLocalObjects({ root: join(dir, "objects") });
  const counts: CallCounts = { list: 0, get: 0, stat: 0, exists: 0 };
  const state = countingStore(objects.bucket("tessera-state"), counts);
  const data = countingStore(objects.bucket("tessera-data"), counts);
  const engine = new WorkflowEngine({ stateDir: dir });
  const workflows = createLocalWorkflows(engine, dir);
  const messages = createLocalBus();
  const ledger = createLedger(state, { now: () => now });
  const ctx: OpsContext = {
    registry,
    ledger,
    state,
    workflows,
    messages,
    log: createLogger({ sink: memorySink() }),
    now: () => now,
  };
  return {
    deps: {
      ctx,
      data,
      mode: "local",
      records: createLocalRecords({ stateDir: dir, getExecution: (id) => engine.get(id) }),
    },
    stateDir: dir,
    counts,
    ledger,
    data,
    async close() {
      workflows.close();
      await messages.close();
    },
  };
}

export function resetCounts(c: CallCounts): void {
  c.list = 0;
  c.get = 0;
  c.stat = 0;
  c.exists = 0;
}

/**
 * `days` daily partitions ending the day before `end` for each pipeline: every 7th failed once then
 * succeeded (two attempts), every 11th failed, every 13th cancelled, the rest succeeded; every 30 days one
 * backfill record over that month. Written through the ledger API, `concurrency` partitions at a time.
 */
export async function seedYear(
  ledger: Ledger,
  pipelines: string[],
  end: Date,
  days = 365,
  concurrency = 16,
): Promise<{ partitions: number; attempts: number; backfills: number }> {
  let attempts = 0;
  let backfills = 0;
  for (const pipeline of pipelines) {
    const parts = Array.from({ length: days }, (_, i) => formatDay(addDays(end, -(i + 1))));
    for (let i = 0; i < parts.length; i += concurrency) {
      await Promise.all(
        parts.slice(i, i + concurrency).map(async (partition, k) => {
          const n = i + k;
          const runId = `${pipeline}-${partition}`;
          const first = await ledger.claim({ pipeline, partition, runId });
          if (!first.claimed) return;
          attempts++;
          await ledger.markRunning(first.run);
          if (n % 7 === 0) {
            await ledger.fail(first.run, `transient: connection reset on day ${partition}`);
            const second = await ledger.claim({ pipeline, partition, runId });
            if (!second.claimed) return;
            attempts++;
            await ledger.markRunning(second.run);
            await ledger.succeed(second.run);
          } else if (n % 11 === 0)
            await ledger.fail(first.run, `validation failed for ${partition}: dau < 0`);
          else if (n % 13 === 0) await ledger.cancel(first.run, "cancelled by an operator");
          else await ledger.succeed(first.run);
        }),
      );
    }
    for (let m = 0; m + 30 <= days; m += 30) {
      const entries = parts.slice(m, m + 30).map((p) => ({ partition: p, state: "missing", action: "run" }));
      const backfillId = `bf-${pipeline}-year-${m}`;
      await ledger.putBackfill({
        backfillId,
        pipeline,
        request: { pipeline, from: entries.at(-1)?.partition, to: entries[0].partition },
        plan: { backfillId, pipeline, entries, counts: { run: 30, rerun: 0, skip: 0 } },
        state: "succeeded",
      });
      backfills++;
    }
  }
  return { partitions: pipelines.length * days, attempts, backfills };
}

export type { ObjectInfo };
