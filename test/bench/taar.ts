/**
 * TAAR bench. (1) The weekly profile load into the Bigtable fake (bttest), side by side in one run:
 *   - bttest's ceiling: raw MutateRows calls with entries encoded beforehand (no Avro, no payload work),
 *     5,000-row requests, 4 streams;
 *   - the full load path (`loadAvroBuffersBulk`, default builders): Avro files -> decode, sha256 key, JSON,
 *     zlib -> pre-encoded MutateRows, same batch and streams;
 *   - the previous path for reference: Avro rows -> the WideRowStore port (`loadRows`, the client's
 *     table.insert, 1,000 x 8) on fewer rows.
 *   Each on a fresh table with the profile family's GC rule, dropped afterwards (bttest's GC loop scans every
 *   table with a rule). Wall rows/s depend on the machine's load, so the CPU microseconds per row of this
 *   process and of bttest are printed too, with the rate two idle cores would allow from them.
 *   Target: 25,000 rows/s on 2 cores.
 * (2) similarity (TF-IDF, bisecting k-means k=20, donors, LR curves) on 100,000 clients; target < 60 s.
 * Run: npx tsx test/bench/taar.ts  (BENCH_QUICK=1: 30,000 rows, one round, 20,000 clients)
 */
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { openBigtableBulk, writeEntries } from "../../containers/taar/bigtable-bulk.ts";
import {
  avroSchemaOf,
  decodeAvroFile,
  encodeAvroFile,
  ensureProfileTable,
  loadRows,
} from "../../containers/taar/profile.ts";
import { buildJobEntries, buildJobs, splitAvro } from "../../containers/taar/profile-build.ts";
import { loadAvroBuffersBulk } from "../../containers/taar/profile-load.ts";
import { createRng } from "../../containers/taar/rng.ts";
import {
  computeSimilarity,
  DEFAULT_SIMILARITY,
  type SimilarityClient,
} from "../../containers/taar/similarity.ts";
import { PROFILE_TMP_SCHEMA } from "../../containers/taar/tables.ts";
import { createGcpWideRows } from "../../shared/adapters/gcp/widerows.ts";
import { startGoFake } from "../helpers/go-fakes.ts";

const quick = process.env.BENCH_QUICK === "1";
const ROWS = quick ? 30_000 : 100_000;
const OLD_ROWS = quick ? 10_000 : 20_000;
const ROUNDS = quick ? 1 : 2;
const CLIENTS = quick ? 20_000 : 100_000;
const BATCH = 5000;
const STREAMS = 4;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Rows as the temp table holds them (the consumer's field names, full active_addons records). */
function profileRows(n: number) {
  const rng = createRng(1);
  return Array.from({ length: n }, (_, i) => ({
    client_id: `client-${i}-${rng.int(1e9)}`,
    city: ["Berlin", "Paris", "Tokyo"][i % 3],
    subsession_length: rng.int(100_000),
    locale: ["de", "fr", "ja"][i % 3],
    os: "Windows_NT",
    active_addons: Array.from({ length: 1 + rng.int(6) }, (_, k) => ({
      addon_id: `addon-${rng.int(3000)}@x`,
      blocklisted: false,
      name: `Add-on ${rng.int(3000)}`,
      user_disabled: false,
      app_disabled: false,
      version: "1.2.3",
      scope: 1,
      type: "extension",
      foreign_install: false,
      has_binary_components: false,
      install_day: 18000 + k,
      update_day: 18100,
      signed_state: 2,
      is_system: false,
      is_web_extension: true,
      multiprocess_compatible: true,
    })),
    places_bookmarks_count: rng.int(500),
    scalar_parent_browser_engagement_tab_open_event_count: rng.int(50),
    scalar_parent_browser_engagement_total_uri_count: rng.int(500),
    scalar_parent_browser_engagement_unique_domains_count: rng.int(60),
  }));
}

function clients(n: number): SimilarityClient[] {
  const rng = createRng(2);
  const guids = Array.from({ length: 300 }, (_, i) => `g${i}`);
  return Array.from({ length: n }, (_, i) => {
    const group = i % 25;
    const set = new Set<string>();
    const count = 3 + rng.int(6);
    while (set.size < count)
      set.add(guids[rng.next() < 0.7 ? (group * 11 + rng.int(12)) % 300 : rng.int(300)]);
    return {
      client_id: `c${i}`,
      geo_city: `city${rng.int(50)}`,
      locale: ["de", "fr", "en-US", "ja"][rng.int(4)],
      os: ["Windows_NT", "Darwin", "Linux"][rng.int(3)],
      subsession_length: rng.int(100_000),
      bookmark_count: rng.int(500),
      tab_open_count: rng.int(50),
      total_uri: rng.int(500),
      unique_tlds: rng.int(60),
      active_addons: [...set],
    };
  });
}

interface Measure {
  rows: number;
  seconds: number;
  nodeUs: number;
  bttestUs: number | undefined;
}

const bt = await startGoFake("bttestd");
process.env.BIGTABLE_EMULATOR_HOST = bt.addr;
process.env.METADATA_SERVER_DETECTION = "none";

/** bttest's CPU seconds so far (Linux /proc), or undefined elsewhere. */
function bttestCpu(): number | undefined {
  try {
    const f = readFileSync(`/proc/${bt.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

const loadStart = loadavg()[0];
try {
  const projectId = "bench";
  const instanceId = "bench";
  const store = createGcpWideRows({ projectId, instanceId });
  const bulk = await openBigtableBulk({ projectId, instanceId });
  const rows = profileRows(ROWS);
  const type = avroSchemaOf(PROFILE_TMP_SCHEMA);
  // Two files, as the weekly export's two tasks write them.
  const files = [
    { name: "taar-profile.avro.000000", data: await encodeAvroFile(type, rows.slice(0, ROWS / 2)) },
    { name: "taar-profile.avro.000001", data: await encodeAvroFile(type, rows.slice(ROWS / 2)) },
  ];
  const avroBytes = files.reduce((a, f) => a + f.data.length, 0);
  let tableNo = 0;

  async function measure(n: number, run: (table: string) => Promise<void>): Promise<Measure> {
    const table = `bench_${tableNo++}`;
    await ensureProfileTable(store, table);
    const b0 = bttestCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(table);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const b1 = bttestCpu();
    await store.deleteTable(table);
    return {
      rows: n,
      seconds,
      nodeUs: (cpu.user + cpu.system) / n,
      bttestUs: b0 === undefined || b1 === undefined ? undefined : ((b1 - b0) * 1e6) / n,
    };
  }

  // bttest's ceiling: the same rows' entries, encoded beforehand.
  const ts = Date.now() * 1000;
  // Building them is also the build step alone (Avro decode, key, JSON, zlib, entry bytes) on this thread.
  const b0 = process.cpuUsage();
  const prebuilt = files
    .flatMap((f) => buildJobs(splitAvro(f.data, f.name), f.name, BATCH, ts))
    .map(buildJobEntries);
  const b1 = process.cpuUsage(b0);
  const buildUs = (b1.user + b1.system) / ROWS;
  const raw = (table: string) => {
    let next = 0;
    const tableName = bulk.tableName(table);
    return Promise.all(
      Array.from({ length: STREAMS }, async () => {
        while (next < prebuilt.length) await writeEntries({ tableName, send: bulk.send }, prebuilt[next++]);
      }),
    ).then(() => undefined);
  };
  const workers = availableParallelism() <= 2 ? 0 : Math.min(4, availableParallelism() - 1);
  const full = (table: string) =>
    loadAvroBuffersBulk(
      bulk,
      files.map((f) => ({ name: f.name, data: Buffer.from(f.data) })),
      { table, batchRows: BATCH, streams: STREAMS },
    ).then(() => undefined);

  const rawRuns: Measure[] = [];
  const fullRuns: Measure[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rawRuns.push(await measure(ROWS, raw));
    fullRuns.push(await measure(ROWS, full));
  }
  // One builder thread instead of the default, for the choice of default.
  const threaded = await measure(ROWS, (table) =>
    loadAvroBuffersBulk(
      bulk,
      files.map((f) => ({ name: f.name, data: Buffer.from(f.data) })),
      { table, batchRows: BATCH, streams: STREAMS, workers: workers === 1 ? 2 : 1 },
    ).then(() => undefined),
  );
  // The previous path (WideRowStore port, table.insert), on fewer rows.
  const oldRows = (await decodeAvroFile(files[0].data, files[0].name)).slice(0, OLD_ROWS);
  const old = await measure(OLD_ROWS, (table) =>
    loadRows(store, oldRows, { table, batch: 1000, concurrency: 8 }).then(() => undefined),
  );
  await bulk.close();
  await store.close();

  const cs = clients(CLIENTS);
  const t = performance.now();
  const sim = computeSimilarity(cs, { ...DEFAULT_SIMILARITY, seed: 1 });
  const simSeconds = (performance.now() - t) / 1000;
  const loadEnd = loadavg()[0];

  const rate = (m: Measure) => m.rows / m.seconds;
  const best = (ms: Measure[]) => ms.reduce((a, b) => (rate(b) > rate(a) ? b : a));
  const rates = (ms: Measure[]) => ms.map((m) => fmt(rate(m))).join(" / ");
  const cpu = (m: Measure) =>
    `${m.nodeUs.toFixed(1)} / ${m.bttestUs === undefined ? "n/a" : m.bttestUs.toFixed(1)}`;
  const idle = (m: Measure) => (m.bttestUs === undefined ? "n/a" : fmt((2 * 1e6) / (m.nodeUs + m.bttestUs)));
  const rawBest = best(rawRuns);
  const fullBest = best(fullRuns);
  console.log(
    [
      "## taar",
      "",
      `${quick ? "Quick mode. " : ""}${availableParallelism()} cores; bttest on 127.0.0.1; load average ${loadStart.toFixed(1)} at start, ${loadEnd.toFixed(1)} at end; ${new Date().toISOString()}.`,
      `${fmt(ROWS)} profile rows in 2 Avro files (${(avroBytes / 1e6).toFixed(1)} MB, deflate), ${fmt(BATCH)}-row MutateRows requests, ${STREAMS} streams; ${workers} builder thread(s) (the default: none up to 2 CPUs, else CPUs - 1).`,
      "",
      "| profile load into bttest | rows/s (wall, each round) | CPU us/row: this process / bttest | rows/s 2 idle cores allow (2 s / CPU per row) |",
      "|---|---|---|---|",
      `| bttest ceiling: raw MutateRows, entries encoded beforehand | ${rates(rawRuns)} | ${cpu(rawBest)} | ${idle(rawBest)} |`,
      `| full load path: Avro -> entries (key, JSON, zlib) -> MutateRows | ${rates(fullRuns)} | ${cpu(fullBest)} | ${idle(fullBest)} |`,
      `| full load path with ${workers === 1 ? 2 : 1} builder thread(s) instead | ${fmt(rate(threaded))} | ${cpu(threaded)} | ${idle(threaded)} |`,
      `| previous path: rows -> WideRowStore port (table.insert), ${fmt(OLD_ROWS)} rows | ${fmt(rate(old))} | ${cpu(old)} | ${idle(old)} |`,
      "",
      `Build step alone (Avro -> entry bytes on this thread, no writes; first pass, warm-up included): ${buildUs.toFixed(1)} CPU us/row.`,
      `Full path / ceiling (best rounds): ${(rate(fullBest) / rate(rawBest)).toFixed(2)}; full path / target 25,000 rows/s: ${(rate(fullBest) / 25_000).toFixed(2)} (wall), ${fullBest.bttestUs === undefined ? "n/a" : (2e6 / (fullBest.nodeUs + fullBest.bttestUs) / 25_000).toFixed(2)} (CPU-derived); full path / previous path: ${(rate(fullBest) / rate(old)).toFixed(1)}x.`,
      "",
      "| similarity | result | target | ratio |",
      "|---|---|---|---|",
      `| ${fmt(CLIENTS)} clients (TF-IDF, bisecting k-means k=20, ${sim.donors.length} donors, ${sim.lrCurves.length} LR points) | ${simSeconds.toFixed(1)} s | < 60 s | ${(simSeconds / 60).toFixed(2)} of target |`,
    ].join("\n"),
  );
} finally {
  await bt.stop();
}
