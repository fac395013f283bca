/**
 * Every TAAR step as a function of (ports, partition, params) returning a summary. The job entrypoint
 * (`main.ts`) picks one by TAAR_STEP; the tests call them directly. Model files go to the data bucket under
 * the prefixes the TAAR service reads; each step also writes its summary to `taar/runs/<day>/<step>.json`.
 */

import { addDays, formatDay, parseDay } from "../../shared/core/dates.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { createLogger } from "../../shared/core/log.ts";
import type { TaarPorts } from "./adapters.ts";
import type { ActiveAddon } from "./addons.ts";
import { validGuids } from "./addons.ts";
import { checkFailures, createAmoClient } from "./amo.ts";
import { coinstallation, sampleClients } from "./lite.ts";
import { computeLocaleTop } from "./locale.ts";
import type { TaarParams } from "./params.ts";
import { deleteOptOut, ensureProfileTable, exportAvro, fillTemp, loadAvro, wipeTemp } from "./profile.ts";
import { partitionSeed } from "./rng.ts";
import { computeSimilarity, DEFAULT_SIMILARITY, type SimilarityClient } from "./similarity.ts";
import { readJson, storeJson, type Written } from "./store.ts";
import { TELEMETRY } from "./tables.ts";
import { type AddonRecord, buildWhitelists, liteWhitelist } from "./whitelist.ts";

const log = createLogger({ labels: { component: "taar" } });

export const AMO_PREFIX = "addon_recommender";
export const DUMP = "extended_addons_database.json";
export const WHITELIST = "whitelist_addons_database.json";
export const CURATED = "only_guids_top_200.json";

export interface StepContext {
  ports: TaarPorts;
  day: string;
  params: TaarParams;
  /** The AMO base URL (resolved by main.ts: param, env, or the local stub). */
  amoUrl?: string;
  taskIndex?: number;
  taskCount?: number;
  /** Time for the waiting steps (tests pass a virtual one). */
  clock?: { now(): number; sleep(ms: number): Promise<void> };
}

export type Summary = Record<string, unknown> & { written?: Written[] };

const seedOf = (c: StepContext, salt: number) => (c.params.seed ?? partitionSeed(c.day)) + salt;

export async function amodump(c: StepContext): Promise<Summary> {
  const client = createAmoClient({
    baseUrl: c.amoUrl ?? "https://addons.mozilla.org",
    concurrency: c.params.concurrency,
    retries: c.params.retries,
  });
  const result = await client.dump();
  const summary = {
    addons: Object.keys(result.addons).length,
    searched: result.searched,
    pages: result.pages,
    requests: result.requests,
    retried: result.retried,
    failedRequests: result.failures.length,
    failures: result.failures,
    droppedWithoutFirstCreateDate: result.dropped.length,
  };
  await writeSummary(c, "amodump", summary);
  checkFailures(result, c.params.maxFailureRate ?? 0.01);
  const written = await storeJson(c.ports.data, AMO_PREFIX, DUMP, result.addons, c.day);
  return { ...summary, written };
}

export async function amowhitelist(c: StepContext): Promise<Summary> {
  const db = await readJson<Record<string, AddonRecord>>(c.ports.data, AMO_PREFIX, DUMP, "amodump");
  const lists = buildWhitelists(db, {
    minRating: c.params.minRating ?? 3.0,
    minAgeDays: c.params.minAgeDays ?? 60,
    day: c.day,
  });
  if (Object.keys(lists.whitelist).length === 0) {
    throw new NonRetriableError("Empty AMO whitelist detected", {
      field: DUMP,
      fix: "check the AMO dump and the minRating/minAgeDays params",
    });
  }
  const written = [
    ...(await storeJson(c.ports.data, AMO_PREFIX, WHITELIST, lists.whitelist, c.day)),
    ...(await storeJson(c.ports.data, AMO_PREFIX, "featured_addons_database.json", lists.featured, c.day)),
    ...(await storeJson(
      c.ports.data,
      AMO_PREFIX,
      "featured_whitelist_addons.json",
      lists.featuredWhitelist,
      c.day,
    )),
  ];
  return {
    dump: Object.keys(db).length,
    whitelist: Object.keys(lists.whitelist).length,
    featured: Object.keys(lists.featured).length,
    featuredWhitelist: Object.keys(lists.featuredWhitelist).length,
    written,
  };
}

export async function updateWhitelist(c: StepContext): Promise<Summary> {
  const client = createAmoClient({
    baseUrl: c.amoUrl ?? "https://addons.mozilla.org",
    concurrency: c.params.concurrency,
    retries: c.params.retries,
  });
  const guids = await client.editorial(
    `${(c.amoUrl ?? "https://addons.mozilla.org").replace(/\/$/, "")}/api/v4/discovery/editorial/`,
    true,
  );
  if (c.params.validateGuids) {
    const ok = await client.pool(guids, c.params.concurrency ?? 16, (g) => client.guidExists(g));
    const bad = guids.filter((_, i) => !ok[i]);
    if (bad.length > 0)
      throw new NonRetriableError(`editorial guid(s) not found on AMO: ${bad.slice(0, 10).join(", ")}`, {
        field: "guid",
        fix: "fix the editorial list or run without validateGuids",
      });
  }
  if (guids.length < 100 && c.params.allowShortlist === false) {
    throw new NonRetriableError(
      `the editorial whitelist has ${guids.length} guids (< 100) and allowShortlist is false`,
      { field: "allowShortlist", fix: "set allowShortlist or fix the editorial list" },
    );
  }
  const written = await storeJson(c.ports.data, AMO_PREFIX, CURATED, guids, c.day);
  return { guids: guids.length, written };
}

/** The tables the daily models read, each of which must hold rows for the partition. */
export const TELEMETRY_READY_TABLES = ["clients_daily", "clients_last_seen", "addons"] as const;

async function telemetryCounts(c: StepContext): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of TELEMETRY_READY_TABLES) {
    const [{ n }] = await c.ports.warehouse.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM ${TELEMETRY}.${t} WHERE submission_date = CAST(@day AS DATE)`,
      { day: c.day },
    );
    counts[t] = Number(n);
  }
  return counts;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The sensor (the DAG's wait_for_clients_daily_export / wait_for_clients_last_seen): polls until every table in
 * TELEMETRY_READY_TABLES has rows for the partition, at most `telemetryWaitSeconds`, then fails naming the
 * tables still empty, the partition and the time waited.
 */
export async function telemetryReady(c: StepContext): Promise<Summary> {
  const waitMs = (c.params.telemetryWaitSeconds ?? 7200) * 1000;
  const pollMs = (c.params.telemetryPollSeconds ?? 120) * 1000;
  const now = c.clock?.now ?? Date.now;
  const sleep = c.clock?.sleep ?? realSleep;
  const started = now();
  for (let polls = 1; ; polls++) {
    const counts = await telemetryCounts(c);
    const missing = TELEMETRY_READY_TABLES.filter((t) => counts[t] === 0).map((t) => `${TELEMETRY}.${t}`);
    const waited = now() - started;
    if (missing.length === 0) return { rows: counts, polls, waitedSeconds: Math.round(waited / 1000) };
    if (waited >= waitMs) {
      throw new NonRetriableError(
        `telemetry for partition ${c.day} did not land within ${Math.round(waitMs / 1000)} s ` +
          `(${polls} checks): no rows with submission_date = ${c.day} in ${missing.join(", ")}`,
        {
          field: "partition",
          fix: "rerun the partition once the telemetry export has landed, or raise params.telemetryWaitSeconds",
        },
      );
    }
    log.info(`telemetry for ${c.day} not there yet (${missing.join(", ")}); checking again`, {
      polls,
      waitedSeconds: Math.round(waited / 1000),
    });
    await sleep(Math.min(pollMs, waitMs - waited));
  }
}

export async function liteGuidRanking(c: StepContext): Promise<Summary> {
  const rows = await c.ports.warehouse.query<{ addon_guid: string; install_count: number }>(
    `SELECT addon_id AS addon_guid, COUNT(client_id) AS install_count FROM ${TELEMETRY}.addons WHERE submission_date = CAST(@day AS DATE) GROUP BY addon_id ORDER BY addon_id`,
    { day: c.day },
  );
  const ranking: Record<string, number> = {};
  for (const r of rows) if (r.addon_guid !== null) ranking[r.addon_guid] = Number(r.install_count);
  const written = await storeJson(c.ports.data, "taar/lite", "guid_install_ranking.json", ranking, c.day);
  return { guids: rows.length, written };
}

type ClientRow = {
  client_id: string;
  city: string | null;
  locale: string | null;
  os: string | null;
  subsession_hours_sum: number | null;
  bookmark_count: number | null;
  tab_open_count: number | null;
  total_uri: number | null;
  unique_tlds: number | null;
  active_addons: ActiveAddon[] | null;
};

export async function similarity(c: StepContext): Promise<Summary> {
  const whitelist = new Set(await readJson<string[]>(c.ports.data, AMO_PREFIX, CURATED, "update_whitelist"));
  const rows = await c.ports.warehouse.query<ClientRow>(
    `SELECT client_id, city, locale, os, subsession_hours_sum, places_bookmarks_count_mean AS bookmark_count,
       scalar_parent_browser_engagement_tab_open_event_count_sum AS tab_open_count,
       scalar_parent_browser_engagement_total_uri_count_sum AS total_uri,
       scalar_parent_browser_engagement_unique_domains_count_mean AS unique_tlds, active_addons
     FROM ${TELEMETRY}.clients_last_seen
     WHERE submission_date = CAST(@day AS DATE) AND client_id IS NOT NULL AND ARRAY_LENGTH(active_addons) > 2
       AND ARRAY_LENGTH(active_addons) < 100 AND channel = 'release' AND app_name = 'Firefox'
     ORDER BY client_id`,
    { day: c.day },
  );
  const clients: SimilarityClient[] = rows.map((r) => ({
    client_id: r.client_id,
    geo_city: r.city,
    locale: r.locale,
    os: r.os,
    subsession_length:
      r.subsession_hours_sum === null ? null : Math.trunc(Number(r.subsession_hours_sum) * 3600),
    bookmark_count: r.bookmark_count,
    tab_open_count: r.tab_open_count,
    total_uri: r.total_uri,
    unique_tlds: r.unique_tlds,
    active_addons: validGuids(r.active_addons, whitelist),
  }));
  const eligible = clients.filter((x) => x.active_addons.length > 2);
  if (eligible.length < 2)
    throw new NonRetriableError(
      `similarity: only ${eligible.length} client(s) on ${c.day} have more than 2 valid whitelisted add-ons`,
      { field: "clients_last_seen", fix: "check the day's telemetry and the curated whitelist" },
    );
  const result = computeSimilarity(eligible, {
    ...DEFAULT_SIMILARITY,
    numClusters: c.params.numClusters ?? 20,
    numDonors: c.params.numDonors ?? 1000,
    seed: seedOf(c, 1),
  });
  const written = [
    ...(await storeJson(c.ports.data, "taar/similarity", "donors.json", result.donors, c.day)),
    ...(await storeJson(c.ports.data, "taar/similarity", "lr_curves.json", result.lrCurves, c.day)),
  ];
  return {
    clients: eligible.length,
    clusters: result.clusterSizes.length,
    donors: result.donors.length,
    lrPoints: result.lrCurves.length,
    written,
  };
}

export async function locale(c: StepContext): Promise<Summary> {
  const whitelist = await readJson<string[]>(c.ports.data, AMO_PREFIX, CURATED, "update_whitelist");
  const from = formatDay(addDays(parseDay(c.day), -28));
  // The latest row per client of the last 28 days (the original's client_data_num_days).
  const rows = await c.ports.warehouse.query<{
    client_id: string;
    locale: string | null;
    active_addons: ActiveAddon[] | null;
  }>(
    `SELECT client_id, locale, active_addons FROM (
       SELECT client_id, locale, active_addons, ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY submission_date DESC) AS rn
       FROM ${TELEMETRY}.clients_daily
       WHERE submission_date BETWEEN CAST(@from AS DATE) AND CAST(@day AS DATE) AND client_id IS NOT NULL
         AND app_name = 'Firefox' AND channel = 'release')
     WHERE rn = 1 ORDER BY client_id`,
    { from, day: c.day },
  );
  const top = computeLocaleTop(rows, whitelist, {
    epsilon: c.params.epsilon ?? 0.4,
    numAddons: 10,
    seed: seedOf(c, 2),
  });
  const written = await storeJson(c.ports.data, "taar/locale", "top10_dict.json", top, c.day);
  return { clients: rows.length, locales: Object.keys(top).length, written };
}

export async function lite(c: StepContext): Promise<Summary> {
  // The whitelist amowhitelist writes (the original read addons_database.json, which no job wrote).
  const whitelist = liteWhitelist(
    await readJson<Record<string, AddonRecord>>(c.ports.data, AMO_PREFIX, WHITELIST, "amowhitelist"),
  );
  const rows = await c.ports.warehouse.query<{ client_id: string; active_addons: ActiveAddon[] | null }>(
    `SELECT client_id, active_addons FROM ${TELEMETRY}.clients_daily
     WHERE submission_date = CAST(@day AS DATE) AND active_addons IS NOT NULL AND ARRAY_LENGTH(active_addons) > 1
       AND channel = 'release' AND normalized_channel = 'release' AND app_name = 'Firefox'
     ORDER BY client_id`,
    { day: c.day },
  );
  const sample = sampleClients(rows, c.params.liteSampleRate ?? 0.05, seedOf(c, 3));
  const counts = coinstallation(sample, whitelist);
  const written = await storeJson(c.ports.data, "taar/lite", "guid_coinstallation.json", counts, c.day);
  return { clients: rows.length, sampled: sample.length, keys: Object.keys(counts).length, written };
}

/** Wipes the temp table and files left by an earlier run first (the DAG's wipe-at-start), then fills. */
export async function profileFill(c: StepContext): Promise<Summary> {
  const wiped = await wipeTemp(c.ports.warehouse, c.ports.data);
  const rows = await fillTemp(c.ports.warehouse, {
    day: c.day,
    sampleRate: c.params.sampleRate ?? 1.0,
    seed: seedOf(c, 4),
    dialect: c.ports.mode === "gcp" ? "bigquery" : "duckdb",
  });
  if (rows === 0)
    throw new NonRetriableError(`clients_last_seen has no rows with add-ons on ${c.day}`, {
      field: "partition",
      fix: "run a day whose telemetry has landed",
    });
  return { rows, wipedObjects: wiped.objects };
}

export async function profileExport(c: StepContext): Promise<Summary> {
  return {
    ...(await exportAvro(c.ports.warehouse, c.ports.data, {
      day: c.day,
      taskIndex: c.taskIndex ?? 0,
      taskCount: c.taskCount ?? 1,
    })),
  };
}

/**
 * Loads this task's Avro files. On Google Cloud through the bulk path (worker threads build pre-encoded
 * MutateRows entries, profile-load.ts); on the twin's embedded store through the WideRowStore port.
 */
export async function profileLoad(c: StepContext): Promise<Summary> {
  const share = { day: c.day, taskIndex: c.taskIndex ?? 0, taskCount: c.taskCount ?? 1 };
  if (!c.ports.bigtable) return { path: "port", ...(await loadAvro(c.ports.wideRows, c.ports.data, share)) };
  await ensureProfileTable(c.ports.wideRows);
  const { openBigtableBulk } = await import("./bigtable-bulk.ts");
  const { loadAvroBulk } = await import("./profile-load.ts");
  const bulk = await openBigtableBulk(c.ports.bigtable);
  try {
    return { path: "bulk", ...(await loadAvroBulk(bulk, c.ports.data, share)) };
  } finally {
    await bulk.close();
  }
}

export async function profileWipe(c: StepContext): Promise<Summary> {
  return { ...(await wipeTemp(c.ports.warehouse, c.ports.data)) };
}

export async function profileDeleteOptOut(c: StepContext): Promise<Summary> {
  return {
    deleted: await deleteOptOut(c.ports.warehouse, c.ports.wideRows, {
      day: c.day,
      days: c.params.deleteOptOutDays ?? 28,
    }),
  };
}

export const STEPS: Record<string, (c: StepContext) => Promise<Summary>> = {
  amodump,
  amowhitelist,
  "update-whitelist": updateWhitelist,
  "telemetry-ready": telemetryReady,
  "lite-guid-ranking": liteGuidRanking,
  similarity,
  locale,
  lite,
  "profile-fill": profileFill,
  "profile-export": profileExport,
  "profile-load": profileLoad,
  "profile-wipe": profileWipe,
  "profile-delete-opt-out": profileDeleteOptOut,
};

export async function writeSummary(
  c: StepContext,
  step: string,
  summary: Record<string, unknown>,
): Promise<void> {
  const suffix = c.taskCount && c.taskCount > 1 ? `.task${c.taskIndex ?? 0}` : "";
  await c.ports.data.put(`taar/runs/${c.day}/${step}${suffix}.json`, JSON.stringify(summary, null, 2), {
    contentType: "application/json",
  });
}
