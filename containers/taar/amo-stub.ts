/**
 * A loopback stand-in for addons.mozilla.org's v4 API, for the local twin and the tests. Serves, from a seeded
 * generator: `/api/v4/addons/search/` (paged, `page_count`, `&guid=` lookups), `/api/v4/addons/addon/<guid>/versions/`
 * (paged, newest first, so the last page holds the oldest version) and `/api/v4/discovery/editorial/`.
 * Faults are deterministic: a share of URLs fail their first `transientFailures` requests with 503, a few
 * version URLs always fail with 500, a share of responses are slow, and some add-ons have no versions.
 * Listens on 127.0.0.1 only; `close()` stops it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRng, keyUniform } from "./rng.ts";

export interface AmoStubOptions {
  seed?: number;
  addons?: number;
  pageSize?: number;
  /** Share of URLs whose first requests fail with 503. */
  transientRate?: number;
  /** How many times such a URL fails before it answers. */
  transientFailures?: number;
  /** Guids whose versions URL always answers 500. */
  brokenVersions?: number;
  /** Share of responses delayed by `slowMs`. */
  slowRate?: number;
  slowMs?: number;
  /** Share of add-ons without versions. */
  noVersionsRate?: number;
  /** The day the generator's dates count back from. */
  today?: string;
}

export interface StubAddon {
  record: Record<string, unknown>;
  versions: {
    id: number;
    version: string;
    files: { id: number; created: string; is_webextension: boolean }[];
  }[];
}

export interface AmoStub {
  url: string;
  addons: StubAddon[];
  /** Requests served per path+query, for the tests. */
  hits: Map<string, number>;
  brokenGuids: string[];
  close(): Promise<void>;
}

const CATEGORIES = [
  "privacy-security",
  "tabs",
  "appearance",
  "download-management",
  "feeds-news-blogging",
  "photos-music-videos",
];
const LOCALES = ["en-US", "de", "fr", "es-ES", "it", "pl", "ru", "ja"];
const DAY_MS = 86_400_000;
export const PIONEER_GUID = "pioneer-opt-in@mozilla.org";

export function generateAddons(options: AmoStubOptions = {}): StubAddon[] {
  const n = options.addons ?? 5200;
  const rng = createRng(options.seed ?? 3);
  const today = Date.parse(`${options.today ?? "2024-06-30"}T00:00:00Z`);
  const out: StubAddon[] = [];
  for (let i = 0; i < n; i++) {
    const guid = i === 0 ? PIONEER_GUID : `addon-${i}@tessera.test`;
    const ageDays = 1 + rng.int(2000);
    const created = today - ageDays * DAY_MS;
    const webext = rng.next() > 0.08;
    const noFiles = rng.next() < 0.02;
    const nVersions = rng.next() < (options.noVersionsRate ?? 0.03) ? 0 : 1 + rng.int(60);
    const versions: StubAddon["versions"] = [];
    // Newest first, as AMO lists them.
    for (let v = nVersions - 1; v >= 0; v--) {
      const at = created + Math.floor(((today - created) * v) / Math.max(1, nVersions));
      versions.push({
        id: i * 100 + v,
        version: `1.${v}`,
        files: [
          {
            id: i * 1000 + v,
            created: new Date(at).toISOString().replace(".000Z", "Z"),
            is_webextension: webext,
          },
        ],
      });
    }
    const record: Record<string, unknown> = {
      id: i + 1,
      guid,
      type: "extension",
      name: { "en-US": `Add-on ${i}` },
      summary: { "en-US": `Does thing ${i % 97}` },
      default_locale: LOCALES[i % LOCALES.length],
      categories: { firefox: [CATEGORIES[rng.int(CATEGORIES.length)]] },
      tags: i % 5 === 0 ? ["privacy"] : [],
      ratings: { average: Math.round(rng.next() * 50) / 10, count: rng.int(5000) },
      weekly_downloads: rng.int(100_000),
      promoted: rng.next() < 0.06 ? { category: "recommended", apps: ["firefox"] } : null,
      created: new Date(created).toISOString(),
      current_version: noFiles
        ? { id: i * 100, files: [] }
        : {
            id: i * 100 + Math.max(0, nVersions - 1),
            files: [{ id: i * 1000, platform: "all", status: "public", is_webextension: webext }],
          },
    };
    out.push({ record, versions });
  }
  return out;
}

export async function startAmoStub(options: AmoStubOptions = {}): Promise<AmoStub> {
  const addons = generateAddons(options);
  const pageSize = options.pageSize ?? 50;
  const versionPageSize = 25;
  const seed = options.seed ?? 3;
  const transientRate = options.transientRate ?? 0.05;
  const transientFailures = options.transientFailures ?? 1;
  const slowRate = options.slowRate ?? 0.02;
  const slowMs = options.slowMs ?? 150;
  const byGuid = new Map(addons.map((a) => [a.record.guid as string, a]));
  const brokenGuids = addons
    .filter((a) => a.versions.length > 0)
    .slice(7, 7 + (options.brokenVersions ?? 3))
    .map((a) => a.record.guid as string);
  const broken = new Set(brokenGuids);
  const hits = new Map<string, number>();
  const pageCount = Math.max(1, Math.ceil(addons.length / pageSize));

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const key = url.pathname + url.search;
    const hit = (hits.get(key) ?? 0) + 1;
    hits.set(key, hit);
    const send = (status: number, body: unknown) => {
      const write = () => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (keyUniform(`slow:${key}`, seed) < slowRate) setTimeout(write, slowMs);
      else write();
    };
    if (keyUniform(`fail:${key}`, seed) < transientRate && hit <= transientFailures)
      return send(503, { detail: "try again" });
    const page = Number(url.searchParams.get("page") ?? "1");
    if (url.pathname === "/api/v4/addons/search/") {
      const guid = url.searchParams.get("guid");
      if (guid !== null) {
        const a = byGuid.get(guid);
        return send(200, { count: a ? 1 : 0, page_count: 1, results: a ? [a.record] : [] });
      }
      if (!Number.isInteger(page) || page < 1 || page > pageCount)
        return send(404, { detail: "Invalid page." });
      return send(200, {
        count: addons.length,
        page_size: pageSize,
        page_count: pageCount,
        next: page < pageCount ? `${url.origin}${url.pathname}?page=${page + 1}` : null,
        previous: page > 1 ? `${url.origin}${url.pathname}?page=${page - 1}` : null,
        results: addons.slice((page - 1) * pageSize, page * pageSize).map((a) => a.record),
      });
    }
    const m = url.pathname.match(/^\/api\/v4\/addons\/addon\/([^/]+)\/versions\/$/);
    if (m) {
      const guid = decodeURIComponent(m[1]);
      const a = byGuid.get(guid);
      if (!a) return send(404, { detail: "Not found." });
      if (broken.has(guid)) return send(500, { detail: "server error" });
      const count = Math.max(1, Math.ceil(a.versions.length / versionPageSize));
      if (page < 1 || page > count) return send(404, { detail: "Invalid page." });
      return send(200, {
        count: a.versions.length,
        page_size: versionPageSize,
        page_count: count,
        results: a.versions.slice((page - 1) * versionPageSize, page * versionPageSize),
      });
    }
    if (url.pathname === "/api/v4/discovery/editorial/") {
      const recommended = url.searchParams.get("recommended") === "true";
      const picks = addons.filter(
        (a) =>
          (a.record.promoted as { category?: string } | null)?.category === "recommended" ||
          (!recommended && a.record.id === 2),
      );
      const results = picks.map((a) => ({ addon: { guid: a.record.guid } }));
      // The live endpoint has entries without a usable guid; the job must skip them.
      results.push(
        { addon: { guid: null as unknown as string } },
        { addon: { guid: "null" } },
        { addon: { guid: "" } },
      );
      return send(200, { count: results.length, results });
    }
    send(404, { detail: "Not found." });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    addons,
    hits,
    brokenGuids,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
