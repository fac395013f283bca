/**
 * TAAR bench: (1) the weekly profile load into the Bigtable fake (bttest) through the Bigtable adapter
 * (payload JSON + zlib per row, batches of 1000, 8 in flight), beside the raw client writing the same
 * pre-built cells (no payload work, no adapter); target >= 25,000 rows/s on 2 cores. (2) similarity
 * (TF-IDF, bisecting k-means k=20, donors, LR curves) on 100,000 clients; target < 60 s.
 * Run: npx tsx test/bench/taar.ts  (BENCH_QUICK=1: 20,000 rows and 20,000 clients)
 */
import { availableParallelism } from "node:os";
import { ensureProfileTable, loadRows, profileMutation } from "../../containers/taar/profile.ts";
import { createRng } from "../../containers/taar/rng.ts";
import {
  computeSimilarity,
  DEFAULT_SIMILARITY,
  type SimilarityClient,
} from "../../containers/taar/similarity.ts";
import { createGcpWideRows } from "../../shared/adapters/gcp/widerows.ts";
import { startGoFake } from "../helpers/go-fakes.ts";

const quick = process.env.BENCH_QUICK === "1";
const ROWS = quick ? 20_000 : 100_000;
const CLIENTS = quick ? 20_000 : 100_000;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

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
      type: "extension",
      is_system: false,
      signed_state: 2,
      install_day: 18000 + k,
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

const bt = await startGoFake("bttestd");
process.env.BIGTABLE_EMULATOR_HOST = bt.addr;
process.env.METADATA_SERVER_DETECTION = "none";
try {
  const rows = profileRows(ROWS);
  const store = createGcpWideRows({ projectId: "bench", instanceId: "bench" });
  await ensureProfileTable(store, "taar_profile");
  let t = performance.now();
  await loadRows(store, rows, { table: "taar_profile", batch: 1000, concurrency: 8 });
  const loadSeconds = (performance.now() - t) / 1000;
  // The two halves apart: building the payloads (sha256, JSON, zlib) and the adapter writing pre-built ones.
  t = performance.now();
  const built = rows.map((r) => profileMutation(r, Date.now() * 1000));
  const buildSeconds = (performance.now() - t) / 1000;
  await ensureProfileTable(store, "taar_profile_prebuilt");
  t = performance.now();
  await store.mutate("taar_profile_prebuilt", built);
  const writeSeconds = (performance.now() - t) / 1000;
  await store.close();

  // Baseline: the raw client inserting the same cells, built beforehand (no JSON/zlib, no adapter).
  const { Bigtable } = await import("@google-cloud/bigtable");
  const raw = new Bigtable({ projectId: "bench", metricsEnabled: false } as ConstructorParameters<
    typeof Bigtable
  >[0]);
  const table = raw.instance("bench").table("raw_profile");
  await table.create({ families: ["profile"] });
  const ts = Date.now() * 1000;
  const entries = rows.map((r) => {
    const m = profileMutation(r);
    return {
      key: m.key,
      data: { profile: { payload: { value: m.data.profile.payload as Buffer, timestamp: ts } } },
    };
  });
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < entries.length) {
        const start = next;
        next += 1000;
        await table.insert(entries.slice(start, start + 1000));
      }
    }),
  );
  const rawSeconds = (performance.now() - t) / 1000;
  await raw.close();

  const cs = clients(CLIENTS);
  t = performance.now();
  const sim = computeSimilarity(cs, { ...DEFAULT_SIMILARITY, seed: 1 });
  const simSeconds = (performance.now() - t) / 1000;

  const loadRate = ROWS / loadSeconds;
  const rawRate = ROWS / rawSeconds;
  console.log(
    [
      "## taar",
      "",
      `${quick ? "Quick mode. " : ""}${availableParallelism()} cores; bttest on 127.0.0.1; ${new Date().toISOString()}.`,
      "",
      "| measure | result | baseline / target | ratio |",
      "|---|---|---|---|",
      `| profile load, ${fmt(ROWS)} rows (sha256 key, JSON + zlib payload) via the Bigtable adapter -> bttest | ${fmt(loadRate)} rows/s | raw client, pre-built cells: ${fmt(rawRate)} rows/s; target 25,000 rows/s | ${(loadRate / rawRate).toFixed(2)} of raw; ${(loadRate / 25_000).toFixed(2)} of target |`,
      `| payload build only (sha256 + JSON + zlib), one core | ${fmt(ROWS / buildSeconds)} rows/s | | |`,
      `| adapter write of pre-built payloads -> bttest | ${fmt(ROWS / writeSeconds)} rows/s | raw client ${fmt(rawRate)} rows/s | ${(ROWS / writeSeconds / rawRate).toFixed(2)} of raw |`,
      `| similarity, ${fmt(CLIENTS)} clients (TF-IDF, bisecting k-means k=20, ${sim.donors.length} donors, ${sim.lrCurves.length} LR points) | ${simSeconds.toFixed(1)} s | target < 60 s | ${(simSeconds / 60).toFixed(2)} of target |`,
    ].join("\n"),
  );
} finally {
  await bt.stop();
}
