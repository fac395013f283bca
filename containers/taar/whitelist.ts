/**
 * amowhitelist's three lists, with the original's criteria: the whitelist (not the Pioneer add-on, a current
 * version whose first file is a webextension, ratings.average >= minRating, first created at least minAge
 * days before the run's day), the featured list (`promoted.category == "recommended"`) and both. The original
 * measured the age against the wall clock (`date.today()`), so a backfill judged old days by today's age and
 * dated its files today; here `day` is the run's partition, for both.
 */
import { PIONEER_GUID } from "./amo-stub.ts";

export type AddonRecord = Record<string, unknown> & {
  guid?: string;
  first_create_date?: string;
  ratings?: { average?: number };
  current_version?: { files?: { is_webextension?: boolean }[] };
  promoted?: { category?: string } | null;
};

export interface WhitelistCriteria {
  minRating: number;
  minAgeDays: number;
  /** YYYY-MM-DD: the run's partition. */
  day: string;
}

export function isWhitelisted(r: AddonRecord, c: WhitelistCriteria): boolean {
  if (r.guid === PIONEER_GUID) return false;
  const files = r.current_version?.files ?? [];
  if (files.length === 0 || files[0].is_webextension !== true) return false;
  if ((r.ratings?.average ?? 0) < c.minRating) return false;
  if (!r.first_create_date) return false;
  const created = Date.parse(r.first_create_date);
  const cutoff = Date.parse(`${c.day}T00:00:00Z`) - c.minAgeDays * 86_400_000;
  return Number.isFinite(created) && created <= cutoff;
}

export function isFeatured(r: AddonRecord): boolean {
  return r.promoted?.category === "recommended";
}

export function buildWhitelists(db: Record<string, AddonRecord>, c: WhitelistCriteria) {
  const whitelist: Record<string, AddonRecord> = {};
  const featured: Record<string, AddonRecord> = {};
  const featuredWhitelist: Record<string, AddonRecord> = {};
  for (const [guid, r] of Object.entries(db)) {
    const w = isWhitelisted(r, c);
    const f = isFeatured(r);
    if (w) whitelist[guid] = r;
    if (f) featured[guid] = r;
    if (w && f) featuredWhitelist[guid] = r;
  }
  return { whitelist, featured, featuredWhitelist };
}

/** TAARlite's whitelist: guids of the amowhitelist whitelist with any webextension file, never Pioneer. */
export function liteWhitelist(db: Record<string, AddonRecord>): Set<string> {
  const out = new Set<string>();
  for (const [guid, r] of Object.entries(db)) {
    if (guid === PIONEER_GUID) continue;
    if ((r.current_version?.files ?? []).some((f) => f.is_webextension === true)) out.add(guid);
  }
  return out;
}
