/**
 * The AMO v4 client of amodump and update_whitelist. Pages are fetched with at most `concurrency` requests in
 * flight; a request that fails (network error, timeout, 5xx, 429) is retried with exponential backoff up to
 * `retries` times. Unlike the original (which logged and dropped failed pages), every request that still fails
 * is returned in `failures`, and the dump fails when they exceed `maxFailureRate` of all requests.
 */
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";

export interface AmoClientOptions {
  baseUrl: string;
  concurrency?: number;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
}

export interface RequestFailure {
  url: string;
  error: string;
}

export interface DumpResult {
  /** guid -> the raw search record plus `first_create_date`. */
  addons: Record<string, Record<string, unknown>>;
  searched: number;
  pages: number;
  requests: number;
  retried: number;
  failures: RequestFailure[];
  /** Guids dropped because no first_create_date could be read (no versions, or the versions request failed). */
  dropped: string[];
}

class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, url: string) {
    super(`HTTP ${status} from ${url}`);
    this.status = status;
  }
}

export function createAmoClient(options: AmoClientOptions) {
  const base = options.baseUrl.replace(/\/$/, "");
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 200;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const stats = { requests: 0, retried: 0 };

  async function getJson<T>(url: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      stats.requests++;
      try {
        const res = await fetch(url, {
          signal: AbortSignal.timeout(timeoutMs),
          headers: { accept: "application/json" },
        });
        if (res.status !== 200) {
          await res.arrayBuffer().catch(() => undefined);
          throw new HttpStatusError(res.status, url);
        }
        return (await res.json()) as T;
      } catch (err) {
        const status = err instanceof HttpStatusError ? err.status : 0;
        const transient = status === 0 || status === 429 || status >= 500;
        if (!transient || attempt >= retries) throw err;
        stats.retried++;
        await new Promise((r) => setTimeout(r, backoffMs * 2 ** attempt * (0.5 + Math.random() / 2)));
      }
    }
  }

  /** Run `fn` over `items` with at most `limit` in flight; results keep the input order. */
  async function pool<I, O>(items: I[], limit: number, fn: (item: I) => Promise<O>): Promise<O[]> {
    const out = new Array<O>(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return out;
  }

  const searchUrl = `${base}/api/v4/addons/search/?app=firefox&sort=created&type=extension`;

  async function dump(): Promise<DumpResult> {
    const concurrency = options.concurrency ?? 16;
    const failures: RequestFailure[] = [];
    let first: { page_count: number; results: Record<string, unknown>[] };
    try {
      first = await getJson(`${searchUrl}&page=1`);
    } catch (err) {
      throw new RetryableError(`AMO search is unreachable: ${(err as Error).message}`, { cause: err });
    }
    if (!Number.isInteger(first.page_count) || first.page_count < 1) {
      throw new NonRetriableError(`AMO search answered without a page_count (${searchUrl})`, {
        field: "page_count",
        fix: "check the AMO base URL (TAAR_AMO_URL)",
      });
    }
    const pages = Array.from({ length: first.page_count - 1 }, (_, i) => i + 2);
    const rest = await pool(pages, concurrency, async (p) => {
      const url = `${searchUrl}&page=${p}`;
      try {
        return (await getJson<{ results: Record<string, unknown>[] }>(url)).results;
      } catch (err) {
        failures.push({ url, error: (err as Error).message });
        return [];
      }
    });
    const records = new Map<string, Record<string, unknown>>();
    for (const r of [first.results, ...rest].flat()) records.set(String(r.guid), r);

    const dropped: string[] = [];
    const guids = [...records.keys()];
    const dates = await pool(guids, concurrency, async (guid) => {
      const url = `${base}/api/v4/addons/addon/${encodeURIComponent(guid)}/versions/`;
      try {
        let page = await getJson<{ page_count: number; results: { files: { created: string }[] }[] }>(url);
        if (page.page_count > 1) page = await getJson(`${url}?page=${page.page_count}`);
        const oldest = page.results.at(-1);
        return oldest?.files?.[0]?.created;
      } catch (err) {
        failures.push({ url, error: (err as Error).message });
        return undefined;
      }
    });
    const addons: DumpResult["addons"] = {};
    guids.forEach((guid, i) => {
      const d = dates[i];
      if (d === undefined) dropped.push(guid);
      else addons[guid] = { ...records.get(guid), first_create_date: d };
    });
    return {
      addons,
      searched: records.size,
      pages: first.page_count,
      requests: stats.requests,
      retried: stats.retried,
      failures,
      dropped,
    };
  }

  /** The editorial list: sorted unique guids, skipping null, "null" and "" entries. */
  async function editorial(url: string, onlyRecommended: boolean): Promise<string[]> {
    const full = onlyRecommended ? `${url}${url.includes("?") ? "&" : "?"}recommended=true` : url;
    let body: { results?: { addon?: { guid?: string | null } }[] };
    try {
      body = await getJson(full);
    } catch (err) {
      throw new RetryableError(`AMO editorial list failed to load (${full}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    const guids = new Set<string>();
    for (const row of body.results ?? []) {
      const g = row.addon?.guid;
      if (g !== undefined && g !== null && g !== "null" && g !== "") guids.add(g);
    }
    return [...guids].sort();
  }

  /** True when the search endpoint answers 200 with the guid in its results. */
  async function guidExists(guid: string): Promise<boolean> {
    try {
      const body = await getJson<{ results: { guid: string }[] }>(
        `${searchUrl}&guid=${encodeURIComponent(guid)}`,
      );
      return body.results.some((r) => r.guid === guid);
    } catch {
      return false;
    }
  }

  return { dump, editorial, guidExists, pool, stats };
}

/** Fail the run when too many requests failed after retries; otherwise the failures go into the summary. */
export function checkFailures(result: DumpResult, maxFailureRate: number): void {
  const rate = result.failures.length / Math.max(1, result.searched + result.pages);
  if (rate > maxFailureRate) {
    const sample = result.failures
      .slice(0, 5)
      .map((f) => `${f.url}: ${f.error}`)
      .join("; ");
    throw new RetryableError(
      `AMO dump: ${result.failures.length} request(s) failed after retries (${(rate * 100).toFixed(2)}% > ${(maxFailureRate * 100).toFixed(2)}% allowed), e.g. ${sample}`,
    );
  }
}
