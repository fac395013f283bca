/**
 * TAARlite's co-installation counts: a seeded 5% sample of one day's release Firefox clients; per client the
 * valid whitelisted add-ons (more than one needed); for each add-on a of a client and each other add-on b of the
 * same client, one count for the ordered pair (a, b). `{a: {b: count}}` is symmetric by construction.
 */
import { type ActiveAddon, validGuids } from "./addons.ts";
import { keyUniform } from "./rng.ts";

export interface LiteClient {
  client_id: string;
  active_addons: ActiveAddon[] | null;
}

export function sampleClients<T extends { client_id: string }>(
  clients: T[],
  rate: number,
  seed: number,
): T[] {
  return clients.filter((c) => keyUniform(c.client_id, seed) < rate);
}

export function coinstallation(
  clients: LiteClient[],
  whitelist: Set<string>,
): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const c of clients) {
    const guids = [...new Set(validGuids(c.active_addons, whitelist))];
    if (guids.length <= 1) continue;
    for (const a of guids) {
      out[a] ??= {};
      const row = out[a];
      for (const b of guids) if (b !== a) row[b] = (row[b] ?? 0) + 1;
    }
  }
  return out;
}
