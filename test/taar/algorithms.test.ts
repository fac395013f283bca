import { describe, expect, it } from "vitest";
import type { ActiveAddon } from "../../containers/taar/addons.ts";
import { validGuids } from "../../containers/taar/addons.ts";
import { coinstallation, sampleClients } from "../../containers/taar/lite.ts";
import { computeLocaleTop, countPicks, noisyTop } from "../../containers/taar/locale.ts";
import { createRng } from "../../containers/taar/rng.ts";
import {
  bisectingKMeans,
  canberra,
  computeSimilarity,
  gaussianKde,
  hamming,
  lrIndex,
  type SimilarityClient,
  similarityScore,
  tfidf,
} from "../../containers/taar/similarity.ts";
import { buildWhitelists, liteWhitelist } from "../../containers/taar/whitelist.ts";

const ext = (id: string, extra: Partial<ActiveAddon> = {}): ActiveAddon => ({
  addon_id: id,
  blocklisted: false,
  type: "extension",
  signed_state: 2,
  user_disabled: false,
  app_disabled: false,
  is_system: false,
  foreign_install: false,
  ...extra,
});

describe("amowhitelist criteria", () => {
  const rec = (guid: string, o: Record<string, unknown> = {}) => ({
    guid,
    ratings: { average: 4 },
    first_create_date: "2024-01-01T00:00:00Z",
    current_version: { files: [{ is_webextension: true }] },
    promoted: null,
    ...o,
  });
  const db = {
    ok: rec("ok"),
    low: rec("low", { ratings: { average: 2.9 } }),
    exact: rec("exact", { ratings: { average: 3.0 } }),
    young: rec("young", { first_create_date: "2024-05-01T00:00:00Z" }),
    nofiles: rec("nofiles", { current_version: { files: [] } }),
    legacy: rec("legacy", { current_version: { files: [{ is_webextension: false }] } }),
    "pioneer-opt-in@mozilla.org": rec("pioneer-opt-in@mozilla.org"),
    featured: rec("featured", { promoted: { category: "recommended" } }),
    featuredYoung: rec("featuredYoung", {
      promoted: { category: "recommended" },
      first_create_date: "2024-06-20T00:00:00Z",
    }),
    line: rec("line", { promoted: { category: "line" } }),
  };
  it("keeps rating >= 3.0, age >= 60 days before the run's day, webextension, not Pioneer", () => {
    const l = buildWhitelists(db, { minRating: 3.0, minAgeDays: 60, day: "2024-06-30" });
    // "young" was created exactly 60 days before the day: old enough.
    expect(Object.keys(l.whitelist).sort()).toEqual(["exact", "featured", "line", "ok", "young"]);
    expect(Object.keys(l.featured).sort()).toEqual(["featured", "featuredYoung"]);
    expect(Object.keys(l.featuredWhitelist)).toEqual(["featured"]);
    expect(
      buildWhitelists(db, { minRating: 3.0, minAgeDays: 61, day: "2024-06-30" }).whitelist,
    ).not.toHaveProperty("young");
  });
  it("measures age against the partition day, not today (a backfill sees the add-on as it was)", () => {
    // 2024-05-01 is 60 days before 2024-06-30 but only 1 day before 2024-05-02.
    expect(
      Object.keys(buildWhitelists(db, { minRating: 3, minAgeDays: 60, day: "2024-06-30" }).whitelist),
    ).toContain("young");
    expect(
      Object.keys(buildWhitelists(db, { minRating: 3, minAgeDays: 60, day: "2024-05-02" }).whitelist),
    ).not.toContain("young");
  });
  it("lite's whitelist: any webextension file, never Pioneer", () => {
    expect([...liteWhitelist(db)].sort()).toEqual([
      "exact",
      "featured",
      "featuredYoung",
      "line",
      "low",
      "ok",
      "young",
    ]);
  });
});

describe("similarity", () => {
  it("canberra and hamming match scipy on hand-checked vectors", () => {
    // |1-3|/4 + |0-0| (0/0 -> 0) + |2-(-2)|/4 = 0.5 + 0 + 1
    expect(canberra([1, 0, 2], [3, 0, -2])).toBeCloseTo(1.5, 12);
    expect(hamming(["a", "b", "c"], ["a", "x", "y"])).toBeCloseTo(2 / 3, 12);
  });
  it("scores |(canberra + 0.001) x hamming| over the consumer's fields", () => {
    const a: SimilarityClient = {
      client_id: "a",
      geo_city: "Berlin",
      locale: "de",
      os: "Linux",
      subsession_length: 100,
      bookmark_count: 10,
      tab_open_count: 0,
      total_uri: 5,
      unique_tlds: 1,
      active_addons: [],
    };
    const b: SimilarityClient = { ...a, client_id: "b", geo_city: "Paris", subsession_length: 300 };
    // canberra: 200/400 = 0.5; hamming: 1/3
    expect(similarityScore(a, b)).toBeCloseTo((0.5 + 0.001) / 3, 12);
    expect(similarityScore(a, { ...a })).toBe(0);
  });
  it("TF-IDF uses Spark's smoothed idf log((m+1)/(df+1))", () => {
    const { vectors, vocabulary } = tfidf([["x", "y"], ["x"]]);
    const xi = vocabulary.indexOf("x");
    const yi = vocabulary.indexOf("y");
    const v0 = new Map([...vectors[0].idx].map((i, j) => [i, vectors[0].val[j]]));
    expect(v0.get(xi)).toBeCloseTo(Math.log(3 / 3), 12);
    expect(v0.get(yi)).toBeCloseTo(Math.log(3 / 2), 12);
  });
  it("bisecting k-means separates obvious groups", () => {
    const docs = [
      ...Array.from({ length: 10 }, () => ["a", "b", "c"]),
      ...Array.from({ length: 10 }, () => ["x", "y", "z"]),
      ...Array.from({ length: 10 }, () => ["p", "q", "r"]),
    ];
    const { vectors, vocabulary } = tfidf(docs);
    const c = bisectingKMeans(vectors, vocabulary.length, 3, createRng(1));
    expect(new Set(c.slice(0, 10)).size).toBe(1);
    expect(new Set(c.slice(10, 20)).size).toBe(1);
    expect(new Set(c.slice(20)).size).toBe(1);
    expect(new Set([c[0], c[10], c[20]]).size).toBe(3);
  });
  it("Gaussian KDE and the LR index", () => {
    expect(gaussianKde([0], [0], 1)[0]).toBeCloseTo(1 / Math.sqrt(2 * Math.PI), 12);
    expect(gaussianKde([0, 2], [1], 0.5)[0]).toBeCloseTo(Math.exp(-2) / (0.5 * Math.sqrt(2 * Math.PI)), 12);
    const xs = lrIndex(0, 1, 4);
    expect(xs).toEqual([0, 0.25, 0.5, 0.75]);
  });
  it("is seeded: the same input gives the same donors and curves; 1000 points", () => {
    const rng = createRng(5);
    const guids = Array.from({ length: 30 }, (_, i) => `g${i}`);
    const clients: SimilarityClient[] = Array.from({ length: 800 }, (_, i) => ({
      client_id: `c${i}`,
      geo_city: ["A", "B", "C"][i % 3],
      locale: ["de", "fr"][i % 2],
      os: "Linux",
      subsession_length: rng.int(10000),
      bookmark_count: rng.int(100),
      tab_open_count: rng.int(50),
      total_uri: rng.int(500),
      unique_tlds: rng.int(40),
      active_addons: [guids[i % 30], guids[(i * 7) % 30], guids[(i * 11 + 1) % 30], guids[(i * 13 + 2) % 30]],
    }));
    const o = { numClusters: 20, numDonors: 300, bandwidth: 0.35, numPdfPoints: 1000, seed: 3 };
    const a = computeSimilarity(clients, o);
    const b = computeSimilarity(clients, o);
    expect(a).toEqual(b);
    expect(a.clusterSizes.length).toBe(20);
    expect(a.lrCurves.length).toBeGreaterThanOrEqual(999);
    expect(a.lrCurves.length).toBeLessThanOrEqual(1001);
    // sampleBy keeps a cluster's rows with probability = its share, so ~800 x sum(share^2) rows, then <= numDonors.
    expect(a.donors.length).toBeGreaterThan(10);
    expect(a.donors.length).toBeLessThanOrEqual(300);
    expect(a.donors[0]).not.toHaveProperty("client_id");
    expect(computeSimilarity(clients, { ...o, seed: 4 }).donors).not.toEqual(a.donors);
  });
});

describe("locale", () => {
  it("counts one add-on per client among eligible whitelisted ones", () => {
    const counts = countPicks(
      [
        { client_id: "1", locale: "de", active_addons: [ext("a"), ext("zz")] },
        { client_id: "2", locale: "de", active_addons: [ext("a"), ext("b", { user_disabled: true })] },
        { client_id: "3", locale: "fr", active_addons: [ext("b", { signed_state: 1 }), ext("b")] },
        { client_id: "4", locale: "null", active_addons: [ext("a")] },
        { client_id: "5", locale: "fr", active_addons: [ext("a", { is_system: true })] },
      ],
      ["a", "b"],
      createRng(1),
    );
    expect(Object.fromEntries([...counts].map(([k, v]) => [k, Object.fromEntries(v)]))).toEqual({
      de: { a: 2 },
      fr: { b: 1 },
    });
  });
  it("adds Laplace noise of scale 1/epsilon, shifts by the minimum, normalises and keeps the top N", () => {
    const counts = new Map([
      [
        "de",
        new Map([
          ["a", 100],
          ["b", 50],
        ]),
      ],
    ]);
    const top = noisyTop(counts, ["a", "b", "c"], { epsilon: 1e6, numAddons: 2, seed: 0 }, createRng(1));
    // Negligible noise: shifted counts 100, 50, 0 -> 2/3, 1/3.
    expect(top.de.map((x) => x[0])).toEqual(["a", "b"]);
    expect(top.de[0][1]).toBeCloseTo(2 / 3, 4);
    expect(top.de[1][1]).toBeCloseTo(1 / 3, 4);
    // The Laplace draws have the right spread: mean |x| = scale.
    const rng = createRng(9);
    let s = 0;
    for (let i = 0; i < 20000; i++) s += Math.abs(rng.laplace(2.5));
    expect(s / 20000).toBeCloseTo(2.5, 1);
  });
  it("is seeded and writes 10 per locale", () => {
    const clients = Array.from({ length: 200 }, (_, i) => ({
      client_id: String(i),
      locale: i % 2 ? "de" : "fr",
      active_addons: [ext(`g${i % 15}`), ext(`g${(i * 3) % 15}`)],
    }));
    const wl = Array.from({ length: 15 }, (_, i) => `g${i}`);
    const a = computeLocaleTop(clients, wl, { epsilon: 0.4, numAddons: 10, seed: 1 });
    expect(a).toEqual(computeLocaleTop(clients, wl, { epsilon: 0.4, numAddons: 10, seed: 1 }));
    expect(a.de).toHaveLength(10);
    const sum = a.de.reduce((s, x) => s + x[1], 0);
    expect(sum).toBeLessThanOrEqual(1 + 1e-9);
  });
});

describe("lite co-installation", () => {
  it("counts ordered pairs of valid whitelisted add-ons per client", () => {
    const wl = new Set(["a", "b", "c"]);
    const out = coinstallation(
      [
        { client_id: "1", active_addons: [ext("a"), ext("b"), ext("c")] },
        { client_id: "2", active_addons: [ext("a"), ext("b"), ext("x")] },
        { client_id: "3", active_addons: [ext("a"), ext("c", { foreign_install: true })] },
        { client_id: "4", active_addons: [ext("b"), ext("c", { type: "theme" })] },
      ],
      wl,
    );
    expect(out).toEqual({ a: { b: 2, c: 1 }, b: { a: 2, c: 1 }, c: { a: 1, b: 1 } });
  });
  it("samples about 5%, the same clients for the same seed", () => {
    const clients = Array.from({ length: 20000 }, (_, i) => ({ client_id: `c${i}` }));
    const a = sampleClients(clients, 0.05, 1);
    expect(a.length).toBeGreaterThan(850);
    expect(a.length).toBeLessThan(1150);
    expect(sampleClients(clients, 0.05, 1)).toEqual(a);
    expect(sampleClients(clients, 0.05, 2)).not.toEqual(a);
  });
  it("validGuids drops system, disabled, non-extension, foreign and unlisted add-ons", () => {
    expect(
      validGuids(
        [
          ext("a"),
          ext("b", { is_system: true }),
          ext("c", { app_disabled: true }),
          ext("d", { user_disabled: true }),
          ext("e", { type: "theme" }),
          ext("f", { foreign_install: true }),
          ext("g"),
        ],
        new Set(["a", "b", "c", "d", "e", "f"]),
      ),
    ).toEqual(["a"]);
  });
});
