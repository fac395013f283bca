import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import type { Registry } from "../../shared/pipelines/types.ts";
import { startTwin, type Twin } from "../../shared/runtime/twin.ts";
import { registry as demoRegistry, root as demoRoot } from "../fixtures/twin/registry.ts";

/**
 * Shared by the console's tests and the MMM workbench's: a local twin with the console on 127.0.0.1, and a
 * headless Debian chromium driven by playwright-core. One twin and one browser per test file; both are
 * closed in `afterAll` (the browser by closing its context, which ends its process).
 */

export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);
/** Why browser tests are skipped, for `describe.skipIf(!hasChromium)` titles. */
export const SKIP_REASON = `browser tests need Debian's chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`;

/** Where screenshots go: a gitignored folder kept as test artifacts. */
export const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-results", "console");

export interface ConsoleTwin {
  twin: Twin;
  /** The console's base URL, ending in `/`. */
  url: string;
  stateDir: string;
  logs: ReturnType<typeof memorySink>;
  close(): Promise<void>;
}

/**
 * A twin over `registry` (default: the fixture `demo` pipeline) in a fresh state directory, the console
 * hosted on 127.0.0.1. Options go to `startTwin`.
 */
export async function startConsoleTwin(
  options: {
    registry?: Registry;
    root?: string;
    now?: () => Date;
    env?: Record<string, string | undefined>;
    stateDir?: string;
  } = {},
): Promise<ConsoleTwin> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "tessera-console-"));
  const logs = memorySink();
  const twin = await startTwin({
    registry: options.registry ?? demoRegistry,
    root: options.root ?? (options.registry ? undefined : demoRoot),
    stateDir,
    log: createLogger({ sink: logs, minSeverity: "INFO" }),
    env: { ...process.env, DEMO_DIR: join(stateDir, "demo-events"), ...options.env },
    pollSeconds: 0.05,
    backoffScale: 0.01,
    now: options.now,
  });
  return {
    twin,
    url: `${twin.urls.console}/`,
    stateDir,
    logs,
    async close() {
      await twin.close();
      if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** GET or POST JSON against a running console; returns status and parsed body. */
export async function consoleApi(
  base: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(new URL(`api${path}`, base), {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? undefined : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, json };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Headless chromium with background networking off, in a new empty profile folder. */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "tessera-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Save a full-page screenshot as a test artifact (test-results/console/<name>.png); returns its path. */
export async function screenshot(page: Page, name: string, dir = ARTIFACTS): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
