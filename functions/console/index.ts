import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Request, Response } from "@google-cloud/functions-framework";
import * as ff from "@google-cloud/functions-framework";
import { currentContext } from "../../shared/ops/handlers.ts";
import { loadRuntimeConfig } from "../../shared/runtime/config.ts";
import "../../shared/runtime/deployed.ts";
import { type ApiRequest, type ApiResponse, type ConsoleDeps, handleApi } from "./api.ts";
import type { Asset } from "./assets.ts";
import { type AuthSettings, authenticate, authSettingsFromEnv } from "./auth.ts";
import { ASSETS_FOLDER, contentTypeOf } from "./static.ts";

/**
 * `console` (HTTP): the web console and its JSON API.
 *
 *   GET  /                    the page (hash routes: #/runs, #/run/..., #/backfills, #/backfill/..., #/outputs, #/mmm)
 *   GET  /assets/<file>       the bundled client
 *   *    /api/<route>         the API (see api.ts); /api/mmm/* goes to the MMM workbench
 *
 * Every route is behind `authenticate` (auth.ts): a verified Google token of an allowed domain deployed,
 * loopback only on the local twin.
 */

export const CONSOLE_TARGET = "console";

let override: ConsoleDeps | undefined;
let made: Promise<ConsoleDeps> | undefined;
let authOverride: AuthSettings | undefined;

/** The local twin and the tests give the context, data bucket and records; deployed they come from the env. */
export function setConsoleDeps(deps: ConsoleDeps | undefined): void {
  override = deps;
}

/** Tests replace the auth settings (mode, domains, audience, a stubbed key set). */
export function setConsoleAuth(settings: AuthSettings | undefined): void {
  authOverride = settings;
}

async function deps(): Promise<ConsoleDeps> {
  if (override) return override;
  made ??= (async () => {
    const config = loadRuntimeConfig(process.env);
    const ctx = await currentContext();
    if (config.mode === "gcp") {
      const { createGcpAdapters } = await import("../../shared/adapters/gcp/index.ts");
      const adapters = await createGcpAdapters({
        projectId: config.project as string,
        region: config.region,
      });
      return { ctx, data: adapters.objects.bucket(config.dataBucket), mode: "gcp" };
    }
    const [{ createLocalObjects }, { createLocalRecords }, { WorkflowEngine }] = await Promise.all([
      import("../../shared/adapters/local/objects.ts"),
      import("../../shared/console/records.ts"),
      import("../../shared/engine/index.ts"),
    ]);
    const engine = new WorkflowEngine({ stateDir: config.stateDir });
    return {
      ctx,
      data: createLocalObjects({ root: join(config.stateDir, "objects") }).bucket(config.dataBucket),
      mode: "local",
      records: createLocalRecords({ stateDir: config.stateDir, getExecution: (id) => engine.get(id) }),
    };
  })();
  return made;
}

// ---------------------------------------------------------------- assets

let assets: Promise<Map<string, Asset>> | undefined;

/** Prebuilt assets next to the bundle (deployed), else built once in memory (the local twin). */
function loadAssets(): Promise<Map<string, Asset>> {
  assets ??= (async () => {
    const dir = join(import.meta.dirname, ASSETS_FOLDER);
    if (existsSync(dir)) {
      const out = new Map<string, Asset>();
      for (const name of readdirSync(dir))
        out.set(name, { body: readFileSync(join(dir, name)), contentType: contentTypeOf(name) });
      return out;
    }
    // Not literal, so that a function bundle (which has the prebuilt folder) never pulls in esbuild.
    const builder = "./assets.ts";
    const { buildConsoleAssets } = (await import(builder)) as typeof import("./assets.ts");
    return buildConsoleAssets();
  })();
  assets.catch(() => {
    assets = undefined;
  });
  return assets;
}

// ---------------------------------------------------------------- the MMM workbench

type Workbench = typeof import("./workbench/api.ts");
let workbench: Promise<Workbench> | undefined;

/** The workbench's API (functions/console/workbench/api.ts), loaded on the first `/api/mmm/*` request. */
function loadWorkbench(): Promise<Workbench> {
  workbench ??= import("./workbench/api.ts");
  workbench.catch(() => {
    workbench = undefined;
  });
  return workbench;
}

// ---------------------------------------------------------------- the handler

function send(res: Response, out: ApiResponse): void {
  res.status(out.status);
  for (const [k, v] of Object.entries(out.headers ?? {})) res.set(k, v);
  res.set("cache-control", "no-store");
  if (out.body !== undefined) {
    res.set("content-type", out.contentType ?? "application/octet-stream");
    res.send(typeof out.body === "string" ? out.body : Buffer.from(out.body));
  } else res.json(out.json ?? null);
}

function queryOf(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query ?? {}))
    out[k] = Array.isArray(v) ? String(v[0]) : String(v ?? "");
  return out;
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export async function consoleHandler(req: Request, res: Response): Promise<void> {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.set(k, v);
  const auth = await authenticate(
    authOverride ?? authSettingsFromEnv(process.env),
    req.headers,
    req.socket?.remoteAddress,
  );
  if (!auth.ok) {
    res.status(auth.status).json({ error: auth.reason });
    return;
  }
  const path = req.path ?? "/";
  try {
    const api = path.indexOf("/api/");
    if (api >= 0) {
      const sub = path.slice(api + 4);
      const d = await deps();
      const request: ApiRequest = {
        method: req.method,
        path: sub,
        query: queryOf(req),
        body: req.body,
        user: auth.user,
      };
      if (sub === "/me") {
        send(res, { status: 200, json: { user: auth.user, mode: d.mode } });
        return;
      }
      if (sub === "/mmm" || sub.startsWith("/mmm/")) {
        const wb = await loadWorkbench();
        send(res, await wb.handleWorkbench({ ...request, path: sub.slice(4) || "/" }, { ctx: d.ctx }));
        return;
      }
      send(res, await handleApi(d, request));
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.status(405).json({ error: `${req.method} ${path}: only GET serves the page` });
      return;
    }
    const all = await loadAssets();
    const at = path.indexOf("/assets/");
    const name = at >= 0 ? path.slice(at + 8) : "index.html";
    const asset = all.get(name);
    if (!asset) {
      res.status(404).json({ error: `no asset ${name}` });
      return;
    }
    res.set("content-type", asset.contentType);
    res.set("cache-control", name === "index.html" ? "no-cache" : "private, max-age=300");
    res.status(200).send(asset.body);
  } catch (err) {
    res.status(500).json({ error: (err as Error).message });
  }
}

ff.http(CONSOLE_TARGET, consoleHandler);
