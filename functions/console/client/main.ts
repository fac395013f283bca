/// <reference lib="dom" />
import { api } from "./api.ts";
import { errorBox, h } from "./dom.ts";
import { backfillPage, backfillsPage, newBackfillPage } from "./pages/backfills.ts";
import { mmmPage } from "./pages/mmm.ts";
import { outputsPage } from "./pages/outputs.ts";
import { runPage, runsPage } from "./pages/runs.ts";

/**
 * The console's shell: hash routes rendered into `<main>`. A page gets its route's query parameters and a
 * `Live` handle: refreshes it schedules stop as soon as the route changes.
 *
 *   #/runs?pipeline&state&from&to&q&offset     partitions of every pipeline by state
 *   #/run?pipeline&partition                   a run's timeline
 *   #/backfills?pipeline&state                 backfills with progress
 *   #/backfill?id                              one backfill: progress, plan, actions
 *   #/backfill/new?pipeline                    the backfill form (dry-run plan first)
 *   #/outputs?kind&partition                   pipeline outputs
 *   #/mmm[/<sub>]                              the MMM workbench
 */

export interface Live {
  /** Whether the page is still the one shown. */
  active(): boolean;
  /** Run `fn` every `ms` while the page is shown (and until it returns false). */
  every(ms: number, fn: () => Promise<boolean>): void;
}

export type Page = (root: HTMLElement, params: URLSearchParams, live: Live) => Promise<void>;

const PAGES: Record<string, Page> = {
  "/runs": runsPage,
  "/run": runPage,
  "/backfills": backfillsPage,
  "/backfill": backfillPage,
  "/backfill/new": newBackfillPage,
  "/outputs": outputsPage,
};

let generation = 0;

function parseHash(): { path: string; params: URLSearchParams; raw: string } {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const [path, query = ""] = raw.split("?");
  return { path: path.replace(/\/+$/, "") || "/runs", params: new URLSearchParams(query), raw };
}

function markCurrent(path: string): void {
  for (const a of document.querySelectorAll<HTMLAnchorElement>("header nav a")) {
    const target = (a.getAttribute("href") ?? "").replace(/^#/, "");
    const current =
      target === path ||
      (target === "/runs" && path === "/run") ||
      (target === "/backfills" && path === "/backfill") ||
      (target === "/mmm" && path.startsWith("/mmm"));
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function render(): Promise<void> {
  const mine = ++generation;
  const main = document.getElementById("main") as HTMLElement;
  const { path, params, raw } = parseHash();
  markCurrent(path);
  const live: Live = {
    active: () => mine === generation,
    every(ms, fn) {
      const tick = async () => {
        if (mine !== generation) return;
        let again = true;
        try {
          again = await fn();
        } catch {
          again = true;
        }
        if (again !== false && mine === generation) setTimeout(tick, ms);
      };
      setTimeout(tick, ms);
    },
  };
  const root = h("div", { class: "page" });
  // Move focus to the new content (when it was on the menu or nowhere) so keyboard and screen-reader users
  // land on it.
  const fromMenu =
    document.activeElement === document.body || !!document.activeElement?.closest("header nav");
  main.replaceChildren(root);
  if (fromMenu && generation > 1) main.focus();
  try {
    if (path === "/mmm" || path.startsWith("/mmm/")) {
      await mmmPage(root, raw.replace(/^\/mmm\/?/, ""));
    } else {
      const page = PAGES[path];
      if (!page) {
        root.append(
          h("h1", null, "Not found"),
          h("p", null, `There is no page ${path}. `, h("a", { href: "#/runs" }, "Runs")),
        );
      } else await page(root, params, live);
    }
  } catch (err) {
    if (mine === generation) root.append(errorBox(err));
  }
  if (mine !== generation) return;
  const title = root.querySelector("h1");
  document.title = `${title?.textContent ?? "Tessera"} - Tessera console`;
}

window.addEventListener("hashchange", () => void render());
void render();
void api<{ user: string; mode: string }>("/me")
  .then((me) => {
    const el = document.getElementById("user");
    if (el) el.textContent = `${me.user} (${me.mode})`;
  })
  .catch(() => undefined);
