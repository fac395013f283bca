/**
 * Adapter bench: bulk-load rows/s into the Bigtable fake (bttest) through the Bigtable adapter, side by side with
 * the raw client doing the same inserts (the spike's 1000 x 8 `table.insert` baseline) and with the embedded
 * store; prefix scans on both; messages/s through the local bus and through the Pub/Sub adapter on pstest.
 * Run: npx tsx test/bench/adapters.ts  (BENCH_QUICK=1 for a shorter run). Needs `bash test/emulators/build.sh`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createGcpBus } from "../../shared/adapters/gcp/messages.ts";
import { createGcpWideRows } from "../../shared/adapters/gcp/widerows.ts";
import { createLocalBus } from "../../shared/adapters/local/messages.ts";
import { createLocalWideRows } from "../../shared/adapters/local/widerows.ts";
import type { MessageBus, Mutation, WideRowStore } from "../../shared/adapters/ports.ts";
import { startGoFake } from "../helpers/go-fakes.ts";

const quick = process.env.BENCH_QUICK === "1";
const ROWS = quick ? 20_000 : 100_000;
const LOCAL_MESSAGES = quick ? 20_000 : 100_000;
const PUBSUB_MESSAGES = quick ? 1_000 : 5_000;

const rowsOf = (n: number): Mutation[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `dev#${String(i % 100).padStart(3, "0")}#${String(i).padStart(7, "0")}`,
    data: { cf: { a: `value-${i}`, b: String(i * 7), c: "x".repeat(32) } },
  }));

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const fmt = (n: number) => n.toLocaleString("en-US");

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function countScan(store: WideRowStore, table: string, prefix: string): Promise<number> {
  let n = 0;
  for await (const _ of store.scan(table, { prefix })) n += 1;
  return n;
}

async function busRate(bus: MessageBus, topic: string, n: number): Promise<number> {
  let got = 0;
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((r) => {
    resolveAll = r;
  });
  await bus.ensureTopic(topic);
  const sub = await bus.subscribe(`${topic}-sub`, topic, async () => {
    got += 1;
    if (got === n) resolveAll();
  });
  const ms = await timeIt(async () => {
    const pending: Promise<string>[] = [];
    for (let i = 0; i < n; i++) pending.push(bus.publish(topic, { i }, { seq: String(i) }));
    await Promise.all(pending);
    await all;
  });
  await sub.close();
  return rate(n, ms);
}

async function main(): Promise<void> {
  const [bt, ps] = await Promise.all([startGoFake("bttestd"), startGoFake("pstestd")]);
  process.env.BIGTABLE_EMULATOR_HOST = bt.addr;
  process.env.PUBSUB_EMULATOR_HOST = ps.addr;
  process.env.METADATA_SERVER_DETECTION = "none";
  const dir = mkdtempSync(join(tmpdir(), "tessera-bench-adapters-"));
  const lines: string[] = [];
  try {
    const rows = rowsOf(ROWS);

    // Raw client baseline: the same rows, 1000 x 8 table.insert, no adapter.
    const { Bigtable } = await import("@google-cloud/bigtable");
    const raw = new Bigtable({ projectId: "bench", metricsEnabled: false });
    const rawTable = raw.instance("bench").table("raw");
    await rawTable.create({ families: ["cf"] });
    const ts = Date.now() * 1000;
    const entries = rows.map((m) => ({
      key: m.key,
      data: {
        cf: Object.fromEntries(
          Object.entries(m.data.cf).map(([q, v]) => [q, { value: Buffer.from(v), timestamp: ts }]),
        ),
      },
    }));
    const rawMs = await timeIt(async () => {
      let next = 0;
      const worker = async () => {
        while (next < entries.length) {
          const start = next;
          next += 1000;
          await rawTable.insert(entries.slice(start, start + 1000));
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
    });
    await raw.close();

    const gcp = createGcpWideRows({ projectId: "bench", instanceId: "bench" });
    await gcp.ensureTable("adapter", [{ name: "cf", gc: { maxVersions: 1 } }]);
    const gcpMs = await timeIt(() => gcp.mutate("adapter", rows));
    let gcpScanRows = 0;
    const gcpScanMs = await timeIt(async () => {
      gcpScanRows = await countScan(gcp, "adapter", "dev#042#");
    });

    const local = createLocalWideRows({ dir: join(dir, "wide") });
    await local.ensureTable("local", [{ name: "cf", gc: { maxVersions: 1 } }]);
    const localMs = await timeIt(async () => {
      for (let i = 0; i < rows.length; i += 1000) await local.mutate("local", rows.slice(i, i + 1000));
    });
    // The first scan after a bulk load sorts the new keys into the index once; time that separately.
    const indexMs = await timeIt(async () => {
      for await (const _ of local.scan("local", { limit: 1 })) break;
    });
    let localScanRows = 0;
    const localScanMs = await timeIt(async () => {
      localScanRows = await countScan(local, "local", "dev#042#");
    });
    const reopenMs = await timeIt(async () => {
      const again = createLocalWideRows({ dir: join(dir, "wide") });
      await again.readRow("local", rows[0].key);
    });
    await gcp.close();

    const localBus = createLocalBus();
    const localBusRate = await busRate(localBus, "bench-local", LOCAL_MESSAGES);
    await localBus.close();
    const pubsub = createGcpBus({ projectId: "bench" });
    const pubsubRate = await busRate(pubsub, "bench-pubsub", PUBSUB_MESSAGES);
    await pubsub.close();

    const rawRate = rate(ROWS, rawMs);
    const gcpRate = rate(ROWS, gcpMs);
    const localRate = rate(ROWS, localMs);
    lines.push(
      `## Adapters${quick ? " (quick)" : ""}`,
      "",
      `Rows: ${fmt(ROWS)} x 3 cells; bttest and pstest from Debian's Go sources on 127.0.0.1; ${new Date().toISOString()}.`,
      "",
      "| measure | value | baseline | ratio |",
      "|---|---|---|---|",
      `| bulk load, Bigtable adapter -> bttest (1000 x 8) | ${fmt(gcpRate)} rows/s | raw client 1000 x 8: ${fmt(rawRate)} rows/s | ${(gcpRate / rawRate).toFixed(2)} |`,
      `| bulk load, embedded store (1000-row batches, log on disk) | ${fmt(localRate)} rows/s | Bigtable adapter: ${fmt(gcpRate)} rows/s | ${(localRate / gcpRate).toFixed(2)} |`,
      `| prefix scan (${fmt(localScanRows)} rows), embedded store | ${localScanMs.toFixed(1)} ms | bttest ${fmt(gcpScanRows)} rows: ${gcpScanMs.toFixed(1)} ms | ${(gcpScanMs / localScanMs).toFixed(1)}x faster |`,
      `| embedded store: first scan after the load (sorts ${fmt(ROWS)} keys) | ${indexMs.toFixed(0)} ms | | |`,
      `| embedded store reopen + replay of ${fmt(ROWS)} rows | ${reopenMs.toFixed(0)} ms | | |`,
      `| messages, local bus (publish -> handler -> ack) | ${fmt(localBusRate)} msg/s | Pub/Sub adapter on pstest: ${fmt(pubsubRate)} msg/s | ${(localBusRate / pubsubRate).toFixed(1)} |`,
      "",
    );
    console.log(lines.join("\n"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([bt.stop(), ps.stop()]);
  }
}

await main();
