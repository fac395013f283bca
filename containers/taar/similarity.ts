/**
 * taar_similarity: cluster clients on their add-on sets (TF-IDF, bisecting k-means), pick a stratified donor
 * sample, and estimate likelihood-ratio curves of the similarity score (same cluster over different clusters)
 * with Gaussian kernel density estimates. Seeded: a partition always yields the same donors and curves.
 *
 * Donor fields are named as the TAAR service's similarity recommender reads them (`geo_city`,
 * `subsession_length` in seconds, ...); the original wrote `city` and `subsession_hours_sum`. Canberra distance is
 * scale-free per feature, so scoring seconds instead of hours leaves the curves unchanged.
 */
import { createRng, type Rng } from "./rng.ts";

export interface SimilarityClient {
  client_id: string;
  geo_city: string | null;
  locale: string | null;
  os: string | null;
  subsession_length: number | null;
  bookmark_count: number | null;
  tab_open_count: number | null;
  total_uri: number | null;
  unique_tlds: number | null;
  /** Valid whitelisted guids (> 2 of them). */
  active_addons: string[];
}

export const CATEGORICAL = ["geo_city", "locale", "os"] as const;
export const CONTINUOUS = [
  "subsession_length",
  "bookmark_count",
  "tab_open_count",
  "total_uri",
  "unique_tlds",
] as const;

export interface SimilarityOptions {
  numClusters: number;
  numDonors: number;
  bandwidth: number;
  numPdfPoints: number;
  seed: number;
  /** k-means iterations per bisection. */
  iterations?: number;
}

export const DEFAULT_SIMILARITY: Omit<SimilarityOptions, "seed"> = {
  numClusters: 20,
  numDonors: 1000,
  bandwidth: 0.35,
  numPdfPoints: 1000,
};

// ---------------------------------------------------------------- distance

/** scipy's canberra: sum |u-v| / (|u|+|v|), a 0/0 term counts 0. */
export function canberra(u: number[], v: number[]): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) {
    const d = Math.abs(u[i]) + Math.abs(v[i]);
    if (d > 0) s += Math.abs(u[i] - v[i]) / d;
  }
  return s;
}

/** scipy's hamming: the fraction of positions that differ. */
export function hamming(u: unknown[], v: unknown[]): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) s++;
  return u.length === 0 ? 0 : s / u.length;
}

const cont = (c: SimilarityClient) => CONTINUOUS.map((k) => Number(c[k] ?? 0));
const cat = (c: SimilarityClient) => CATEGORICAL.map((k) => c[k]);

/** The score the TAAR service uses: |(canberra(continuous) + 0.001) * hamming(categorical)|. */
export function similarityScore(a: SimilarityClient, b: SimilarityClient): number {
  return Math.abs((canberra(cont(a), cont(b)) + 0.001) * hamming(cat(a), cat(b)));
}

// ---------------------------------------------------------------- TF-IDF + bisecting k-means

interface Sparse {
  idx: Int32Array;
  val: Float64Array;
  norm2: number;
}

/** TF (term counts) times Spark's IDF: log((m + 1) / (df + 1)). Terms are the guids themselves, not hashed. */
export function tfidf(docs: string[][]): { vectors: Sparse[]; vocabulary: string[] } {
  const vocab = new Map<string, number>();
  const df: number[] = [];
  for (const d of docs) {
    for (const g of new Set(d)) {
      let i = vocab.get(g);
      if (i === undefined) {
        i = vocab.size;
        vocab.set(g, i);
        df.push(0);
      }
      df[i]++;
    }
  }
  const m = docs.length;
  const idf = df.map((x) => Math.log((m + 1) / (x + 1)));
  const vectors = docs.map((d) => {
    const tf = new Map<number, number>();
    for (const g of d) {
      const i = vocab.get(g)!;
      tf.set(i, (tf.get(i) ?? 0) + 1);
    }
    const idx = Int32Array.from([...tf.keys()].sort((a, b) => a - b));
    const val = Float64Array.from(idx, (i) => tf.get(i)! * idf[i]);
    let norm2 = 0;
    for (const v of val) norm2 += v * v;
    return { idx, val, norm2 };
  });
  return { vectors, vocabulary: [...vocab.keys()] };
}

function dist2(p: Sparse, c: Float64Array, cNorm2: number): number {
  let dot = 0;
  for (let j = 0; j < p.idx.length; j++) dot += p.val[j] * c[p.idx[j]];
  return Math.max(0, p.norm2 - 2 * dot + cNorm2);
}

function centroid(points: Sparse[], members: number[], dim: number): Float64Array {
  const c = new Float64Array(dim);
  for (const m of members) {
    const p = points[m];
    for (let j = 0; j < p.idx.length; j++) c[p.idx[j]] += p.val[j];
  }
  for (let i = 0; i < dim; i++) c[i] /= Math.max(1, members.length);
  return c;
}

const norm2 = (c: Float64Array) => c.reduce((s, x) => s + x * x, 0);

/**
 * Bisecting k-means (Euclidean, as Spark's BisectingKMeans): start from one cluster and split the leaf with the
 * largest cost by 2-means until there are `k` leaves or no leaf can be split. Returns a cluster id per point.
 */
export function bisectingKMeans(
  points: Sparse[],
  dim: number,
  k: number,
  rng: Rng,
  iterations = 20,
): number[] {
  interface Leaf {
    members: number[];
    cost: number;
    divisible: boolean;
  }
  const costOf = (members: number[]) => {
    const c = centroid(points, members, dim);
    const n2 = norm2(c);
    return members.reduce((s, m) => s + dist2(points[m], c, n2), 0);
  };
  const all = points.map((_, i) => i);
  const leaves: Leaf[] = [{ members: all, cost: costOf(all), divisible: all.length > 1 }];
  while (leaves.length < k) {
    let pick = -1;
    for (let i = 0; i < leaves.length; i++)
      if (leaves[i].divisible && (pick < 0 || leaves[i].cost > leaves[pick].cost)) pick = i;
    if (pick < 0) break;
    const leaf = leaves[pick];
    const split = twoMeans(points, leaf.members, dim, rng, iterations);
    if (!split) {
      leaf.divisible = false;
      continue;
    }
    leaves.splice(
      pick,
      1,
      ...split.map((members) => ({ members, cost: costOf(members), divisible: members.length > 1 })),
    );
  }
  const out = new Array<number>(points.length).fill(0);
  leaves.forEach((l, ci) => {
    for (const m of l.members) out[m] = ci;
  });
  return out;
}

function twoMeans(
  points: Sparse[],
  members: number[],
  dim: number,
  rng: Rng,
  iterations: number,
): [number[], number[]] | undefined {
  // Seed the two centres with distinct points (k-means++ style: the second is the farthest of a few draws).
  const a = members[rng.int(members.length)];
  const ca = centroid(points, [a], dim);
  let b = -1;
  let best = 0;
  for (let t = 0; t < Math.min(32, members.length); t++) {
    const cand = members[rng.int(members.length)];
    const d = dist2(points[cand], ca, norm2(ca));
    if (d > best) {
      best = d;
      b = cand;
    }
  }
  if (b < 0) {
    for (const m of members) {
      const d = dist2(points[m], ca, norm2(ca));
      if (d > best) {
        best = d;
        b = m;
      }
    }
  }
  if (b < 0) return undefined;
  let centres = [ca, centroid(points, [b], dim)];
  let groups: [number[], number[]] = [[], []];
  for (let it = 0; it < iterations; it++) {
    const n = centres.map(norm2);
    const next: [number[], number[]] = [[], []];
    for (const m of members)
      next[dist2(points[m], centres[0], n[0]) <= dist2(points[m], centres[1], n[1]) ? 0 : 1].push(m);
    const same = next[0].length === groups[0].length && next[0].every((x, i) => x === groups[0][i]);
    groups = next;
    if (groups[0].length === 0 || groups[1].length === 0) return undefined;
    if (same) break;
    centres = [centroid(points, groups[0], dim), centroid(points, groups[1], dim)];
  }
  return groups;
}

// ---------------------------------------------------------------- donors and LR curves

/** Spark's sampleBy on the cluster (fraction = the cluster's share), then a Bernoulli sample to ~numDonors. */
export function selectDonors(
  clients: SimilarityClient[],
  clusters: number[],
  numDonors: number,
  rng: Rng,
): { donors: SimilarityClient[]; clusters: number[] } {
  const sizes = new Map<number, number>();
  for (const c of clusters) sizes.set(c, (sizes.get(c) ?? 0) + 1);
  const total = clients.length;
  const first: number[] = [];
  for (let i = 0; i < clients.length; i++) if (rng.next() < sizes.get(clusters[i])! / total) first.push(i);
  const fraction = first.length === 0 ? 0 : Math.min(1, numDonors / first.length);
  const picked = first.filter(() => rng.next() < fraction);
  return { donors: picked.map((i) => clients[i]), clusters: picked.map((i) => clusters[i]) };
}

/** Gaussian KDE at each x: mean over samples of N(x; s, h). */
export function gaussianKde(samples: number[], xs: number[], h: number): number[] {
  const norm = 1 / (samples.length * h * Math.sqrt(2 * Math.PI));
  return xs.map((x) => {
    let s = 0;
    for (const v of samples) {
      const z = (x - v) / h;
      s += Math.exp(-0.5 * z * z);
    }
    return samples.length === 0 ? 0 : s * norm;
  });
}

/** numpy.arange(min, max, (max-min)/n). */
export function lrIndex(min: number, max: number, n: number): number[] {
  if (!(max > min)) return [min];
  const step = (max - min) / n;
  const out: number[] = [];
  for (let i = 0; min + i * step < max; i++) out.push(min + i * step);
  return out;
}

export function lrCurves(
  donors: SimilarityClient[],
  clusters: number[],
  options: { bandwidth: number; numPdfPoints: number },
  rng: Rng,
): [number, [number, number]][] {
  const byCluster = new Map<number, SimilarityClient[]>();
  donors.forEach((d, i) => {
    const list = byCluster.get(clusters[i]) ?? [];
    list.push(d);
    byCluster.set(clusters[i], list);
  });
  const same: number[] = [];
  const different: number[] = [];
  for (const [c, members] of byCluster) {
    // randomSplit 50/50, then zip by index (pairs, not a cartesian product).
    const left: SimilarityClient[] = [];
    const right: SimilarityClient[] = [];
    for (const m of members) (rng.next() < 0.5 ? left : right).push(m);
    for (let i = 0; i < Math.min(left.length, right.length); i++)
      same.push(similarityScore(left[i], right[i]));
    const others = donors.filter((_, i) => clusters[i] !== c);
    for (let i = 0; i < Math.min(members.length, others.length); i++)
      different.push(similarityScore(members[i], others[i]));
  }
  const scores = [...same, ...different];
  if (scores.length === 0) return [];
  const min = Math.min(...scores);
  const max = Math.max(...scores);
  const xs = lrIndex(min, max, options.numPdfPoints);
  const num = gaussianKde(same, xs, options.bandwidth);
  const den = gaussianKde(different, xs, options.bandwidth);
  return xs.map((x, i) => [x, [num[i], den[i]]]);
}

export interface SimilarityResult {
  donors: Omit<SimilarityClient, "client_id">[];
  lrCurves: [number, [number, number]][];
  clusterSizes: number[];
}

export function computeSimilarity(clients: SimilarityClient[], options: SimilarityOptions): SimilarityResult {
  const rng = createRng(options.seed);
  const eligible = clients.filter((c) => c.active_addons.length > 2);
  const { vectors, vocabulary } = tfidf(eligible.map((c) => c.active_addons));
  const clusters = bisectingKMeans(vectors, vocabulary.length, options.numClusters, rng, options.iterations);
  const { donors, clusters: donorClusters } = selectDonors(
    eligible,
    clusters,
    Math.max(100, options.numDonors),
    rng,
  );
  const curves = lrCurves(donors, donorClusters, options, rng);
  const sizes: number[] = [];
  for (const c of clusters) sizes[c] = (sizes[c] ?? 0) + 1;
  return {
    donors: donors.map(({ client_id: _, ...rest }) => rest),
    lrCurves: curves,
    clusterSizes: sizes,
  };
}
