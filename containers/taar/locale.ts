/**
 * taar_locale: the top add-ons per locale under differential privacy. Each client contributes one add-on (a
 * seeded random pick among its curated-whitelist add-ons, the original's limit of 1 per locale); counts per
 * (locale, add-on) over the full grid of seen locales x whitelist get Laplace noise of scale limit/epsilon;
 * per locale the noisy counts are shifted by their minimum, normalised to sum 1, and the top `numAddons` kept.
 */
import type { ActiveAddon } from "./addons.ts";
import { createRng } from "./rng.ts";

export interface LocaleClient {
  client_id: string;
  locale: string | null;
  active_addons: ActiveAddon[] | null;
}

export interface LocaleOptions {
  epsilon: number;
  numAddons: number;
  seed: number;
  /** Add-ons per client (the original's `get_addon_limits_by_locale`: 1 everywhere). */
  limit?: number;
}

/** The original's filter: blocklisted=false, type extension, signed_state 2, enabled, not system, a locale. */
export function localeEligible(a: ActiveAddon): boolean {
  return (
    a.addon_id != null &&
    a.blocklisted === false &&
    a.type === "extension" &&
    a.signed_state === 2 &&
    a.user_disabled === false &&
    a.app_disabled === false &&
    a.is_system === false
  );
}

export function countPicks(
  clients: LocaleClient[],
  whitelist: string[],
  rng: ReturnType<typeof createRng>,
  limit = 1,
): Map<string, Map<string, number>> {
  const allowed = new Set(whitelist);
  const counts = new Map<string, Map<string, number>>();
  for (const c of clients) {
    if (!c.locale || c.locale === "null") continue;
    const candidates = [
      ...new Set(
        (c.active_addons ?? [])
          .filter((a) => localeEligible(a) && allowed.has(a.addon_id!))
          .map((a) => a.addon_id!),
      ),
    ].sort();
    const perLocale = counts.get(c.locale) ?? new Map<string, number>();
    counts.set(c.locale, perLocale);
    for (let k = 0; k < limit && candidates.length > 0; k++) {
      const [g] = candidates.splice(rng.int(candidates.length), 1);
      perLocale.set(g, (perLocale.get(g) ?? 0) + 1);
    }
  }
  return counts;
}

export function noisyTop(
  counts: Map<string, Map<string, number>>,
  whitelist: string[],
  options: LocaleOptions,
  rng: ReturnType<typeof createRng>,
): Record<string, [string, number][]> {
  const scale = (options.limit ?? 1) / options.epsilon;
  const grid = [...new Set(whitelist)].sort();
  const out: Record<string, [string, number][]> = {};
  for (const locale of [...counts.keys()].sort()) {
    const perLocale = counts.get(locale)!;
    const noisy = grid.map((g) => (perLocale.get(g) ?? 0) + rng.laplace(scale));
    const min = Math.min(...noisy);
    const shifted = noisy.map((x) => x - min);
    const sum = shifted.reduce((s, x) => s + x, 0);
    const rel = shifted.map((x) => (sum > 0 ? x / sum : 1 / shifted.length));
    out[locale] = grid
      .map((g, i): [string, number] => [g, rel[i]])
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, options.numAddons);
  }
  return out;
}

export function computeLocaleTop(
  clients: LocaleClient[],
  whitelist: string[],
  options: LocaleOptions,
): Record<string, [string, number][]> {
  const rng = createRng(options.seed);
  const counts = countPicks(clients, whitelist, rng, options.limit ?? 1);
  return noisyTop(counts, whitelist, options, rng);
}
