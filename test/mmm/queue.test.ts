import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ApiDeps, pump, status, train } from "../../containers/mmm/api.ts";
import type { JobConfig } from "../../containers/mmm/jobconfig.ts";
import { readRunRecord, runRecordName, writeStatus } from "../../containers/mmm/run.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { tinyConfig } from "./pipeline-helpers.ts";

/** A queue over a real local object store; "starting" a run records it and writes its run record. */
function fakeDeps() {
  const store = createLocalObjects({ root: mkdtempSync(join(tmpdir(), "mmm-queue-")) }).bucket("data");
  const started: string[] = [];
  const deps: ApiDeps = {
    store,
    start: async (runId: string, config: JobConfig) => {
      started.push(runId);
      await store.put(
        runRecordName(runId),
        JSON.stringify({ runId, prefix: `robyn/x/${runId}/`, timestamp: "t", config }),
      );
      await writeStatus(
        store,
        { runId, prefix: `robyn/x/${runId}/` },
        { state: "RUNNING", step: "prepare" },
        new Date(),
      );
    },
  };
  return { deps, store, started };
}

/** The store, with each call of the named methods logged as "<method> <object name>". */
function logged(store: ApiDeps["store"], methods: string[], log: string[]): ApiDeps["store"] {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (methods.includes(String(prop)) && typeof v === "function")
        return (name: string, ...rest: unknown[]) => {
          log.push(`${String(prop)} ${name}`);
          return v.call(target, name, ...rest);
        };
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

async function finish(deps: ApiDeps, runId: string, state: "SUCCEEDED" | "FAILED") {
  const rec = await readRunRecord(deps.store, runId);
  await writeStatus(deps.store, rec, { state }, new Date());
}

describe("mmm training queue", () => {
  it("runs one training at a time per queue, in FIFO order", async () => {
    const { deps, started } = fakeDeps();
    const a = await train(deps, tinyConfig);
    const b = await train(deps, tinyConfig);
    const c = await train(deps, tinyConfig);
    expect(a.state).toBe("RUNNING");
    expect(b.state).toBe("QUEUED");
    expect(c.state).toBe("QUEUED");
    expect(started).toEqual([a.job_id]);
    expect((await status(deps, c.job_id)).message).toBe("position 2 in queue default");

    // Still running: polling does not start the next one.
    await status(deps, b.job_id);
    expect(started).toEqual([a.job_id]);

    await finish(deps, a.job_id, "SUCCEEDED");
    expect((await status(deps, b.job_id)).state).toBe("RUNNING");
    expect(started).toEqual([a.job_id, b.job_id]);
    expect((await status(deps, c.job_id)).message).toBe("position 1 in queue default");

    await finish(deps, b.job_id, "FAILED");
    await pump(deps, "default");
    expect(started).toEqual([a.job_id, b.job_id, c.job_id]);
    await finish(deps, c.job_id, "SUCCEEDED");
    expect(await pump(deps, "default")).toBeUndefined();
  });

  it("keeps queues independent", async () => {
    const { deps, started } = fakeDeps();
    const a = await train(deps, { ...tinyConfig, queue: "team-a" });
    const b = await train(deps, { ...tinyConfig, queue: "team-b" });
    expect(started).toEqual([a.job_id, b.job_id]);
  });

  it("lets only one of racing ticks take the lease", async () => {
    const { deps, store, started } = fakeDeps();
    const a = await train(deps, tinyConfig);
    await train(deps, tinyConfig);
    await train(deps, tinyConfig);
    await finish(deps, a.job_id, "SUCCEEDED");
    const results = await Promise.all([pump(deps, "default"), pump(deps, "default"), pump(deps, "default")]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(started).toHaveLength(2);
    const lease = JSON.parse((await store.get("mmm/queue/default/lease.json")).toString());
    expect(lease.runId).toBe(started[1]);
  });

  it("starts a run on an idle queue without writing an item, and of racing trains starts one and queues the rest", async () => {
    const { deps, store, started } = fakeDeps();
    const writes: string[] = [];
    const counted: ApiDeps = { ...deps, store: logged(store, ["put", "delete"], writes) };
    const a = await train(counted, tinyConfig);
    expect(a.state).toBe("RUNNING");
    expect(started).toEqual([a.job_id]);
    expect(writes.filter((w) => w.includes("/items/"))).toEqual([]);
    expect(JSON.parse((await store.get("mmm/queue/default/lease.json")).toString()).runId).toBe(a.job_id);
    // Behind it, queued as before.
    const b = await train(counted, tinyConfig);
    expect(b.state).toBe("QUEUED");
    expect(writes.filter((w) => w.startsWith("put ") && w.includes("/items/"))).toHaveLength(1);

    // Five trains at once on another idle queue: exactly one starts, the other four wait, each runs in turn.
    const racing = await Promise.all(
      Array.from({ length: 5 }, () => train(deps, { ...tinyConfig, queue: "race" })),
    );
    const running = racing.filter((r) => r.state === "RUNNING").map((r) => r.job_id);
    expect(running).toHaveLength(1);
    expect(started.filter((id) => racing.some((r) => r.job_id === id))).toEqual(running);
    expect(await store.list("mmm/queue/race/items/")).toHaveLength(4);
    let current = running[0];
    for (let i = 0; i < 4; i++) {
      await finish(deps, current, "SUCCEEDED");
      const next = await pump(deps, "race");
      expect(next).toBeDefined();
      expect(racing.map((r) => r.job_id)).toContain(next);
      current = next as string;
    }
    await finish(deps, current, "SUCCEEDED");
    expect(await pump(deps, "race")).toBeUndefined();
    expect(new Set(started.filter((id) => racing.some((r) => r.job_id === id))).size).toBe(5);
  });

  it("gives each run its own config (no shared latest/job_config.json)", async () => {
    const { deps, store } = fakeDeps();
    const a = await train(deps, { ...tinyConfig, iterations: 11 });
    const b = await train(deps, { ...tinyConfig, iterations: 12 });
    const ra = JSON.parse((await store.get(`mmm/runs/${a.job_id}/request.json`)).toString());
    const rb = JSON.parse((await store.get(`mmm/runs/${b.job_id}/request.json`)).toString());
    expect([ra.config.iterations, rb.config.iterations]).toEqual([11, 12]);
    expect((await store.list("training-configs/")).length).toBe(0);
  });

  it("train does not read back the request it has just written, and reports a run that did not start as QUEUED", async () => {
    const { deps } = fakeDeps();
    const reads: string[] = [];
    const counted: ApiDeps = { ...deps, store: logged(deps.store, ["get", "exists"], reads) };
    const a = await train(counted, tinyConfig);
    expect(a.state).toBe("RUNNING");
    expect(reads.filter((r) => r.includes(`${a.job_id}/request.json`))).toEqual([]);
    expect(reads.filter((r) => r.includes("/items/"))).toEqual([]);
    // Behind a running one: queued, position reported by status (which reads the request).
    const b = await train(counted, tinyConfig);
    expect(b.state).toBe("QUEUED");
    expect((await status(counted, b.job_id)).message).toBe("position 1 in queue default");
  });
});
