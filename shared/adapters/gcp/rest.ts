import type { IncomingHttpHeaders } from "node:http";
import { NonRetriableError, RetryableError } from "../../core/errors.ts";

/**
 * A thin REST layer for the few Google APIs a deployed function calls on its first request (Workflows
 * executions, Cloud Storage objects, Pub/Sub publish), so that a cold start does not load the client libraries
 * (~0.5-0.7 s of CPU each). Requests go through `node:http`/`node:https` (already loaded by the functions
 * framework; `fetch` would load undici on first use) with an OAuth access token from the metadata server
 * (Cloud Run, Cloud Functions, Cloud Run Jobs) or, off Google Cloud, from google-auth-library's
 * application-default credentials (loaded only then).
 *
 * Errors: 429, 408 and 5xx answers and lost connections are retried (exponential backoff from `retry.baseMs`,
 * `Retry-After` honoured, `retry.attempts` in all) when the call is idempotent, then thrown as RetryableError;
 * 401 is retried once with a fresh token; any other 4xx is a NonRetriableError naming the call and its
 * status, except the statuses a caller maps itself (`passStatuses`: 404 and 412 become the ports'
 * NotFoundError / AlreadyExistsError).
 */

/** Base URLs of the APIs. Defaults are Google's; tests and the bench point them at loopback stand-ins. */
export interface GcpEndpoints {
  /** The metadata server: `http://metadata.google.internal` (env `GCE_METADATA_HOST` = host[:port]). */
  metadata: string;
  /** `https://storage.googleapis.com` (env `STORAGE_EMULATOR_HOST`). */
  storage: string;
  /** `https://pubsub.googleapis.com` (env `TESSERA_PUBSUB_ENDPOINT`). */
  pubsub: string;
  /** `https://workflowexecutions.googleapis.com` (env `TESSERA_WORKFLOWS_ENDPOINT`). */
  workflows: string;
}

const withScheme = (host: string) =>
  (/^https?:\/\//.test(host) ? host : `http://${host}`).replace(/\/+$/, "");

/** The endpoints for an environment: Google's, unless a variable points one elsewhere. */
export function endpointsFromEnv(env: Record<string, string | undefined>): GcpEndpoints {
  return {
    metadata: withScheme(env.GCE_METADATA_HOST || "metadata.google.internal"),
    storage: env.STORAGE_EMULATOR_HOST
      ? withScheme(env.STORAGE_EMULATOR_HOST)
      : "https://storage.googleapis.com",
    pubsub: env.TESSERA_PUBSUB_ENDPOINT
      ? withScheme(env.TESSERA_PUBSUB_ENDPOINT)
      : "https://pubsub.googleapis.com",
    workflows: env.TESSERA_WORKFLOWS_ENDPOINT
      ? withScheme(env.TESSERA_WORKFLOWS_ENDPOINT)
      : "https://workflowexecutions.googleapis.com",
  };
}

/**
 * Gives a bearer token for `Authorization`; `refresh` forgets the cached one first (after a 401).
 * `userProject`, when set, goes out as `x-goog-user-project` (the quota project of user credentials, as the
 * client libraries send it).
 */
export type TokenSource = ((refresh?: boolean) => Promise<string>) & { userProject?: string };

export const METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token";

/**
 * Tokens of the instance's service account from the metadata server, cached until a minute before they
 * expire; concurrent callers share one request.
 */
export function metadataTokenSource(metadataBase: string, now: () => number = Date.now): TokenSource {
  let cached: { token: string; until: number } | undefined;
  let pending: Promise<string> | undefined;
  return async (refresh = false) => {
    if (refresh) cached = undefined;
    if (cached && now() < cached.until) return cached.token;
    pending ??= (async () => {
      try {
        const res = await send({
          method: "GET",
          url: `${metadataBase}${METADATA_TOKEN_PATH}`,
          headers: { "metadata-flavor": "Google" },
        });
        if (res.status !== 200) {
          throw new RetryableError(
            `metadata server answered ${res.status} for the access token: ${res.body.toString("utf8").slice(0, 200)}`,
          );
        }
        const body = JSON.parse(res.body.toString("utf8")) as { access_token?: string; expires_in?: number };
        if (!body.access_token) throw new RetryableError("metadata server gave no access_token");
        cached = {
          token: body.access_token,
          until: now() + Math.max(0, (body.expires_in ?? 300) - 60) * 1000,
        };
        return body.access_token;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

/** Application-default credentials through google-auth-library (off Google Cloud: gcloud, a key file). */
export function adcTokenSource(): TokenSource {
  let client:
    | Promise<{ getAccessToken(): Promise<{ token?: string | null }>; quotaProjectId?: string }>
    | undefined;
  const source: TokenSource = async () => {
    client ??= import("google-auth-library").then(({ GoogleAuth }) =>
      new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] }).getClient(),
    );
    const c = await client;
    const { token } = await c.getAccessToken();
    if (!token) throw new RetryableError("application-default credentials gave no access token");
    source.userProject = c.quotaProjectId || undefined;
    return token;
  };
  return source;
}

/**
 * The token source for an environment: the metadata server on Google Cloud (Cloud Run sets `K_SERVICE` or
 * `CLOUD_RUN_JOB`) or when `GCE_METADATA_HOST` names one, unless `GOOGLE_APPLICATION_CREDENTIALS` names a
 * key file; application-default credentials otherwise.
 */
export function tokenSourceFromEnv(env: Record<string, string | undefined>, endpoints: GcpEndpoints) {
  const onGoogle = Boolean(
    env.K_SERVICE || env.CLOUD_RUN_JOB || env.FUNCTION_TARGET || env.GCE_METADATA_HOST,
  );
  return onGoogle && !env.GOOGLE_APPLICATION_CREDENTIALS
    ? metadataTokenSource(endpoints.metadata)
    : adcTokenSource();
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface SendOptions {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
}

/**
 * `node:http`/`node:https` as CommonJS modules: an ESM `import` of `node:http` builds its ESM facade, which
 * reads every export, including the lazy `WebSocket`/`MessageEvent` getters that load undici and http2/tls
 * (~50 ms of CPU at cold start, measured).
 */
const builtin = <T>(id: string) => process.getBuiltinModule(id) as T;

/** One HTTP exchange, the whole body read. Rejects on a lost connection or a timeout. */
export async function send(options: SendOptions): Promise<RawResponse> {
  const url = new URL(options.url);
  const request =
    url.protocol === "https:"
      ? builtin<typeof import("node:https")>("node:https").request
      : builtin<typeof import("node:http")>("node:http").request;
  const body = typeof options.body === "string" ? Buffer.from(options.body) : options.body;
  return new Promise<RawResponse>((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method,
        headers: { ...options.headers, ...(body ? { "content-length": String(body.length) } : {}) },
        timeout: options.timeoutMs ?? 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`${options.method} ${url.origin}${url.pathname} timed out`)),
    );
    req.on("error", reject);
    req.end(body);
  });
}

export interface RetryOptions {
  /** Tries in all (first included). Default 4. */
  attempts: number;
  /** First backoff in milliseconds, doubled each retry (with jitter), capped at 10 s. Default 200. */
  baseMs: number;
}

export interface RestClientOptions {
  token: TokenSource;
  retry?: Partial<RetryOptions>;
  /** Waits between retries (tests pass a recorder). */
  sleep?: (ms: number) => Promise<void>;
}

export interface RestCall {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  /** What the call does, for error messages: `publish to topic run-events`. */
  what: string;
  /** A JSON body (sent as application/json) or raw bytes with `contentType`. */
  json?: unknown;
  body?: Buffer;
  contentType?: string;
  /** Whether repeating the call is harmless; only then are 5xx/429/lost connections retried. */
  idempotent: boolean;
  /** Statuses returned to the caller instead of thrown (404, 412). */
  passStatuses?: number[];
}

export interface RestClient {
  call(c: RestCall): Promise<RawResponse>;
  /** `call`, and the body parsed as JSON (an empty body is `{}`). */
  json<T>(c: RestCall): Promise<{ status: number; body: T }>;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** The API's error message from a Google error body (`{error: {message}}`), else the text. */
export function errorMessageOf(body: Buffer): string {
  const text = body.toString("utf8");
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string };
    if (typeof parsed.error === "string") return parsed.error;
    if (parsed.error?.message) return parsed.error.message;
  } catch {}
  return text.slice(0, 300);
}

function retryAfterMs(headers: IncomingHttpHeaders): number | undefined {
  const v = headers["retry-after"];
  if (typeof v !== "string") return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export function createRestClient(options: RestClientOptions): RestClient {
  const retry: RetryOptions = { attempts: 4, baseMs: 200, ...options.retry };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const call = async (c: RestCall): Promise<RawResponse> => {
    const body = c.json !== undefined ? Buffer.from(JSON.stringify(c.json)) : c.body;
    const contentType = c.json !== undefined ? "application/json" : c.contentType;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const token = await options.token(false);
      let res: RawResponse;
      try {
        res = await send({
          method: c.method,
          url: c.url,
          body,
          headers: {
            authorization: `Bearer ${token}`,
            ...(options.token.userProject ? { "x-goog-user-project": options.token.userProject } : {}),
            ...(contentType ? { "content-type": contentType } : {}),
          },
        });
      } catch (err) {
        if (c.idempotent && attempt < retry.attempts) {
          await sleep(backoff(retry, attempt));
          continue;
        }
        throw new RetryableError(`${c.what}: ${(err as Error).message}`, { cause: err });
      }
      if (res.status >= 200 && res.status < 300) return res;
      if (c.passStatuses?.includes(res.status)) return res;
      if (res.status === 401 && !refreshed) {
        refreshed = true;
        await options.token(true);
        attempt--;
        continue;
      }
      const message = `${c.what}: ${c.method} ${new URL(c.url).pathname} answered ${res.status}: ${errorMessageOf(res.body)}`;
      if (RETRYABLE_STATUS.has(res.status)) {
        const after = retryAfterMs(res.headers);
        if (c.idempotent && attempt < retry.attempts) {
          await sleep(Math.min(after ?? backoff(retry, attempt), 30_000));
          continue;
        }
        throw new RetryableError(message, after === undefined ? {} : { retryAfter: after / 1000 });
      }
      throw new NonRetriableError(message, {
        field: c.what,
        fix:
          res.status === 401 || res.status === 403
            ? "grant the function's service account the role this call needs (pulumi/ sets them; see README Deploy, Permissions)"
            : "check the request and the deployed resource's name",
      });
    }
  };
  return {
    call,
    async json<T>(c: RestCall) {
      const res = await call(c);
      const text = res.body.toString("utf8");
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
    },
  };
}

function backoff(retry: RetryOptions, attempt: number): number {
  const base = Math.min(retry.baseMs * 2 ** (attempt - 1), 10_000);
  return base / 2 + Math.random() * (base / 2);
}

const shared = new Map<string, { rest: RestClient; token: TokenSource }>();

function sharedFor(env: Record<string, string | undefined>) {
  const endpoints = endpointsFromEnv(env);
  const key = JSON.stringify([endpoints, Boolean(env.GOOGLE_APPLICATION_CREDENTIALS), tokenKind(env)]);
  let entry = shared.get(key);
  if (!entry) {
    const token = tokenSourceFromEnv(env, endpoints);
    entry = { rest: createRestClient({ token }), token };
    shared.set(key, entry);
  }
  return { ...entry, endpoints };
}

/**
 * The process's REST client for an environment (one token cache for every adapter), and its endpoints.
 */
export function restFromEnv(env: Record<string, string | undefined> = process.env): {
  rest: RestClient;
  endpoints: GcpEndpoints;
} {
  const { rest, endpoints } = sharedFor(env);
  return { rest, endpoints };
}

/**
 * Starts fetching the access token of `restFromEnv(env)`'s client now, so that the first call finds it
 * cached (a deployed function calls this at load: every deployed request needs the token, and the fetch then
 * overlaps the framework's setup). A failure is not reported here: the first call fetches again and reports.
 */
export function prefetchToken(env: Record<string, string | undefined> = process.env): Promise<void> {
  return sharedFor(env)
    .token(false)
    .then(
      () => undefined,
      () => undefined,
    );
}

const tokenKind = (env: Record<string, string | undefined>) =>
  Boolean(env.K_SERVICE || env.CLOUD_RUN_JOB || env.FUNCTION_TARGET || env.GCE_METADATA_HOST);
