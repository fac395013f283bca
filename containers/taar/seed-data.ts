/**
 * Seeded telemetry for the local twin and the tests: clients_daily and clients_last_seen rows whose add-ons come
 * from the AMO stub's generator (mostly its recommended ones, so the curated whitelist matches), the `addons`
 * table derived from them, and deletion requests for a share of the clients.
 */
import type { Row, Warehouse } from "../../shared/adapters/ports.ts";
import { addDays, formatDay, parseDay } from "../../shared/core/dates.ts";
import type { ActiveAddon } from "./addons.ts";
import { generateAddons } from "./amo-stub.ts";
import { createRng } from "./rng.ts";
import { TELEMETRY, TELEMETRY_TABLES } from "./tables.ts";

export interface SeedOptions {
  /** The newest day (YYYY-MM-DD); rows are written for it and `days - 1` days before. */
  day: string;
  days?: number;
  clients?: number;
  seed?: number;
}

const CITIES = ["Berlin", "Paris", "Toronto", "Portland", "Madrid", "Tokyo", "Warsaw", "Milan"];
const LOCALES = ["en-US", "de", "fr", "es-ES", "ja", "pl", "it"];
const OSES = ["Windows_NT", "Darwin", "Linux"];

export function generateClients(options: SeedOptions): { daily: Row[]; addons: Row[]; deletions: Row[] } {
  const rng = createRng(options.seed ?? 10);
  const catalog = generateAddons();
  const recommended = catalog
    .filter((a) => (a.record.promoted as { category?: string } | null)?.category === "recommended")
    .map((a) => a.record.guid as string);
  const others = catalog.slice(1).map((a) => a.record.guid as string);
  const n = options.clients ?? 1500;
  const days = options.days ?? 2;
  const last = parseDay(options.day);
  const daily: Row[] = [];
  const addons: Row[] = [];
  const deletions: Row[] = [];
  for (let i = 0; i < n; i++) {
    const clientId = `c${String(i).padStart(6, "0")}-${(i * 2654435761) >>> 0}`;
    // Clients share tastes by group, so clusters exist.
    const group = i % 7;
    const count = 1 + rng.int(8);
    const guids = new Set<string>();
    for (let k = 0; k < count; k++) {
      const pool = rng.next() < 0.8 ? recommended : others;
      const base = rng.next() < 0.6 ? (group * 13 + k * 3) % pool.length : rng.int(pool.length);
      guids.add(pool[base]);
    }
    const active: ActiveAddon[] = [...guids].map((g, k) => ({
      addon_id: g,
      blocklisted: false,
      name: g.split("@")[0],
      user_disabled: rng.next() < 0.05,
      app_disabled: false,
      version: "1.0",
      scope: 1,
      type: rng.next() < 0.97 ? "extension" : "theme",
      foreign_install: rng.next() < 0.03,
      has_binary_components: false,
      install_day: 18000 + k,
      update_day: 18100 + k,
      signed_state: 2,
      is_system: rng.next() < 0.05,
      is_web_extension: true,
      multiprocess_compatible: true,
    }));
    const city = CITIES[(group + rng.int(2)) % CITIES.length];
    const locale = LOCALES[(group + rng.int(2)) % LOCALES.length];
    const os = OSES[rng.int(OSES.length)];
    const release = rng.next() < 0.9;
    for (let d = 0; d < days; d++) {
      const day = formatDay(addDays(last, -d));
      daily.push({
        submission_date: day,
        client_id: clientId,
        channel: release ? "release" : "beta",
        normalized_channel: release ? "release" : "beta",
        app_name: "Firefox",
        city,
        locale,
        os,
        subsession_hours_sum: Math.round((0.5 + rng.next() * (group + 1) * 3) * 100) / 100,
        places_bookmarks_count_mean: rng.next() < 0.05 ? null : rng.int(50 * (group + 1)),
        scalar_parent_browser_engagement_tab_open_event_count_sum: rng.int(40),
        scalar_parent_browser_engagement_total_uri_count_sum: rng.int(400),
        scalar_parent_browser_engagement_unique_domains_count_mean: rng.int(60),
        active_addons: active,
      });
      if (d === 0)
        for (const a of active)
          addons.push({ submission_date: day, client_id: clientId, addon_id: a.addon_id });
    }
    if (i % 50 === 3)
      deletions.push({
        submission_timestamp: `${formatDay(addDays(last, -rng.int(40)))}T12:00:00Z`,
        client_id: clientId,
      });
  }
  return { daily, addons, deletions };
}

/** Create the telemetry tables and fill them; returns the rows written per table. */
export async function seedTelemetry(
  warehouse: Warehouse,
  options: SeedOptions,
): Promise<Record<string, number>> {
  for (const t of TELEMETRY_TABLES)
    await warehouse.ensureTable({ dataset: t.dataset, table: t.table }, t.schema);
  const { daily, addons, deletions } = generateClients(options);
  const out: Record<string, number> = {};
  for (const table of ["clients_daily", "clients_last_seen"]) {
    // clients_last_seen is a per-day snapshot: only the newest day is needed.
    const rows = table === "clients_daily" ? daily : daily.filter((r) => r.submission_date === options.day);
    const byDay = new Map<string, Row[]>();
    for (const r of rows) {
      const list = byDay.get(r.submission_date as string) ?? [];
      list.push(r);
      byDay.set(r.submission_date as string, list);
    }
    let n = 0;
    for (const [day, dayRows] of byDay)
      n += (
        await warehouse.replacePartition(
          { dataset: TELEMETRY, table },
          { column: "submission_date", value: day },
          { rows: dayRows },
        )
      ).rows;
    out[table] = n;
  }
  const addonsByDay = new Map<string, Row[]>();
  for (const r of addons) {
    const list = addonsByDay.get(r.submission_date as string) ?? [];
    list.push(r);
    addonsByDay.set(r.submission_date as string, list);
  }
  out.addons = 0;
  for (const [day, rows] of addonsByDay)
    out.addons += (
      await warehouse.replacePartition(
        { dataset: TELEMETRY, table: "addons" },
        { column: "submission_date", value: day },
        { rows },
      )
    ).rows;
  await warehouse.query(`DELETE FROM ${TELEMETRY}.deletion_request WHERE TRUE`);
  await warehouse.insertRows({ dataset: TELEMETRY, table: "deletion_request" }, deletions);
  out.deletion_request = deletions.length;
  return out;
}
