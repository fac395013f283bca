import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { mmm } from "../../shared/pipelines/mmm.ts";
import { createRegistry } from "../../shared/pipelines/types.ts";
import {
  type Browser,
  type ConsoleTwin,
  hasChromium,
  launchBrowser,
  SKIP_REASON,
  screenshot,
  startConsoleTwin,
} from "./helpers.ts";

/**
 * The MMM workbench end to end in chromium against the local twin (the mmm pipeline, Robyn's demo data in
 * DuckDB): connect the warehouse table, accept the suggested roles, review, validate and queue a small run,
 * watch it train, and see the one-pager; then the best models page, keyboard use and 200% zoom.
 * Screenshots go to test-results/console/workbench-*.png.
 */

describe.skipIf(!hasChromium)(
  `MMM workbench in chromium${hasChromium ? "" : ` (skipped: ${SKIP_REASON})`}`,
  () => {
    let c: ConsoleTwin;
    let b: Browser;
    const pageErrors: string[] = [];
    let runId = "";

    beforeAll(async () => {
      [c, b] = await Promise.all([startConsoleTwin({ registry: createRegistry([mmm]) }), launchBrowser()]);
      const log = createLogger({ sink: memorySink(), minSeverity: "WARNING" });
      await mmm.local?.seed?.({
        adapters: c.twin.adapters,
        stateDir: c.stateDir,
        buckets: c.twin.buckets,
        log,
        now: new Date(),
      });
      // No setWorkbenchDeps / setMmmApiDeps: the workbench and the mmm functions find the twin's state
      // directory from its context, as under `npm start`.
      b.page.on("pageerror", (e) => pageErrors.push(String(e)));
    }, 120_000);

    afterAll(async () => {
      await b?.close();
      await c?.close();
    });

    it("runs on the Robyn demo data end to end: connect, map, review, run, results with the one-pager", async () => {
      const { page } = b;
      await page.goto(`${c.url}#/mmm/connect`);
      await page.getByRole("heading", { name: "Data source" }).waitFor();
      await page.getByLabel("Warehouse table", { exact: true }).fill("mmm.demo_weekly");
      await page.getByRole("button", { name: "Load data" }).click();
      await page.getByRole("heading", { name: "Data loaded" }).waitFor();
      await expect.poll(() => page.getByText("208 rows").count()).toBeGreaterThan(0);
      await screenshot(page, "workbench-connect");

      await page.getByRole("link", { name: "Next: map variables" }).click();
      await page.getByRole("heading", { name: "Variable roles" }).waitFor();
      // Suggestions by name and type.
      await expect.poll(() => page.getByLabel("REVENUE").inputValue()).toBe("dep_var");
      expect(await page.getByLabel("TV_S").inputValue()).toBe("paid_media_spends");
      expect(await page.getByLabel("FACEBOOK_I").inputValue()).toBe("paid_media_vars");
      expect(await page.getByLabel("NEWSLETTER").inputValue()).toBe("organic_vars");
      // A mapping with two dependent variables is refused, naming the problem; then put back.
      await page.getByLabel("COMPETITOR_SALES_B").selectOption("dep_var");
      await page.getByRole("button", { name: "Next: review data" }).click();
      await page.getByText("choose exactly one dependent variable").waitFor();
      await page.getByLabel("COMPETITOR_SALES_B").selectOption("context_vars");
      await page.getByLabel("EVENTS").selectOption("ignore");
      await screenshot(page, "workbench-map");
      await page.getByRole("button", { name: "Next: review data" }).click();

      await page.getByRole("heading", { name: "Skip and preparation rules" }).waitFor({ timeout: 30_000 });
      await page.getByText(/No skip rule applies: \d+ rows/).waitFor();
      await page.getByRole("table", { name: /Summary statistics/ }).waitFor();
      await screenshot(page, "workbench-review");
      await page.getByRole("link", { name: "Next: prepare and run" }).click();

      await page.getByRole("heading", { name: "Job config" }).waitFor();
      await page.getByLabel("Window start").fill("2016-01-04");
      await page.getByLabel("Window end").fill("2018-12-31");
      await page.getByLabel("Hyperparameter preset").selectOption("Facebook recommend");
      await page.getByLabel("Trials", { exact: true }).fill("21");
      await page.getByRole("button", { name: "Validate" }).click();
      await page.getByRole("alert").filter({ hasText: "trials" }).waitFor();
      expect(await page.getByLabel("Trials", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      await page.getByLabel("Iterations").fill("40");
      await page.getByLabel("Trials", { exact: true }).fill("2");
      await page.getByRole("button", { name: "Validate" }).click();
      await page.getByText("The job config is valid.").waitFor();
      await page.getByRole("table", { name: "Hyperparameter ranges" }).waitFor();
      await screenshot(page, "workbench-run");
      await page.getByRole("button", { name: "Queue training run" }).click();

      await page.waitForURL(/#\/mmm\/results\?run=/);
      runId = decodeURIComponent(new URL(page.url()).hash.split("run=")[1]);
      expect(runId).toMatch(/^api-job-de-/);
      await page.getByRole("heading", { name: "Best model" }).waitFor({ timeout: 170_000 });
      const onePager = page.getByRole("img", { name: /^One-pager of model/ }).first();
      await onePager.waitFor();
      await expect
        .poll(() => onePager.evaluate((img) => (img as HTMLImageElement).naturalWidth), { timeout: 10_000 })
        .toBe(1000);
      expect(
        await page
          .getByRole("img", { name: /^Pareto front/ })
          .evaluate((i) => (i as HTMLImageElement).naturalWidth),
      ).toBeGreaterThan(0);
      await page.getByRole("table", { name: /Candidate models by NRMSE/ }).waitFor();
      await page.getByRole("button", { name: "Sort by DECOMP.RSSD" }).click();
      await page.getByRole("table", { name: /Candidate models by DECOMP.RSSD/ }).waitFor();
      expect(
        await page.getByRole("button", { name: "Sort by DECOMP.RSSD" }).getAttribute("aria-pressed"),
      ).toBe("true");
      await page.getByRole("img", { name: /Response per period against spend/ }).waitFor();
      await page.getByRole("table", { name: "Spend and response per period" }).waitFor();
      await screenshot(page, "workbench-results");
    }, 240_000);

    it("shows the best models per country over time and lists the run", async () => {
      const { page } = b;
      await page.goto(`${c.url}#/mmm/best`);
      await page.getByRole("table", { name: "Runs of DE over time" }).waitFor();
      await page.getByRole("link", { name: runId }).waitFor();
      await page.getByRole("img", { name: /Best model NRMSE of each run/ }).waitFor();
      await screenshot(page, "workbench-best");
      await page.goto(`${c.url}#/mmm/results`);
      await page.getByRole("table", { name: "Training runs" }).waitFor();
      await page.getByRole("link", { name: runId }).waitFor();
    });

    it("is usable from the keyboard and reads at 200% zoom", async () => {
      const { page } = b;
      await page.goto(`${c.url}#/mmm/connect`);
      await page.getByRole("heading", { name: "Data source" }).waitFor();
      // Every form control has a label.
      const unlabeled = await page.evaluate(() =>
        [...document.querySelectorAll("main input, main select, main textarea")]
          .filter((el) => !(el as HTMLInputElement).labels?.length && !el.closest("label"))
          .map((el) => el.id || el.outerHTML),
      );
      expect(unlabeled).toEqual([]);
      // From the table field, Tab reaches the Load button; Enter submits.
      await page.getByLabel("Warehouse table", { exact: true }).focus();
      let reached = false;
      for (let i = 0; i < 40 && !reached; i++) {
        await page.keyboard.press("Tab");
        reached = await page.evaluate(() => document.activeElement?.textContent === "Load data");
      }
      expect(reached).toBe(true);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Data loaded" }).waitFor();
      await page.setViewportSize({ width: 640, height: 900 });
      for (const step of ["connect", "map", "run", `results?run=${runId}`, "best"]) {
        await page.goto(`${c.url}#/mmm/${step}`);
        await page.locator("main h1").waitFor();
        await page.waitForTimeout(300);
        const [sw, cw] = await page.evaluate(() => [
          document.documentElement.scrollWidth,
          document.documentElement.clientWidth,
        ]);
        expect(sw, step).toBeLessThanOrEqual(cw + 1);
      }
      await screenshot(page, "workbench-zoom-200-results");
      await page.setViewportSize({ width: 1280, height: 900 });
      expect(pageErrors).toEqual([]);
    }, 90_000);
  },
);
