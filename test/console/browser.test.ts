import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Browser,
  type ConsoleTwin,
  hasChromium,
  launchBrowser,
  SKIP_REASON,
  screenshot,
  startConsoleTwin,
} from "./helpers.ts";
import { CAUSEMOS_RUN, OUTPUT_DAY, seedOutputs } from "./outputs-fixture.ts";

/**
 * The console in a real browser against the local twin (fixture `demo` pipeline): every page loads, a
 * backfill started from the form shows its progress, a failed run shows its reason, the pages work from the
 * keyboard and at 200% zoom. Screenshots go to test-results/console/; UPDATE_SCREENSHOTS=1 also refreshes the
 * README's copies in test/console/screenshots/.
 */

const README_SHOTS = join(import.meta.dirname, "screenshots");
const update = process.env.UPDATE_SCREENSHOTS === "1";

/** A full-page artifact; for the README's pages (`readme`), with UPDATE_SCREENSHOTS=1, also the first screen. */
async function shot(b: Browser, name: string, readme = false): Promise<void> {
  await screenshot(b.page, name);
  if (update && readme) {
    mkdirSync(README_SHOTS, { recursive: true });
    await b.page.evaluate(() => window.scrollTo(0, 0));
    await b.page.screenshot({ path: join(README_SHOTS, `${name}.png`) });
  }
}

describe.skipIf(!hasChromium)(`console in chromium${hasChromium ? "" : ` (skipped: ${SKIP_REASON})`}`, () => {
  let c: ConsoleTwin;
  let b: Browser;
  let backfillId = "";
  const pageErrors: string[] = [];

  beforeAll(async () => {
    [c, b] = await Promise.all([
      startConsoleTwin({ now: () => new Date("2024-07-01T12:00:00Z") }),
      launchBrowser(),
    ]);
    await seedOutputs(c.twin.adapters.objects.bucket(c.twin.buckets.data), c.twin.ctx.ledger);
    b.page.on("pageerror", (e) => pageErrors.push(String(e)));
  });
  afterAll(async () => {
    await b?.close();
    await c?.close();
  });

  // The failing partition's job runs four times (the workflow retries it), each a new process: slow under load.
  it("starts a backfill from the form: the dry-run plan first, then its progress", {
    timeout: 150_000,
  }, async () => {
    const { page } = b;
    await page.goto(`${c.url}#/backfill/new`);
    await page.getByRole("heading", { name: "New backfill" }).waitFor();
    await page.getByLabel("Pipeline").selectOption("demo");
    await page.getByLabel("From").fill("2024-06-01");
    await page.getByLabel("To", { exact: true }).fill("2024-06-03");
    await page.getByLabel("Max at once").fill("2");
    await page.getByLabel("Parameters").fill('{"alwaysFail": ["2024-06-02"]}');
    await page.getByRole("button", { name: "Plan (dry run)" }).click();
    const summary = page.locator(".plan-summary");
    await summary.waitFor();
    expect(await summary.textContent()).toContain("3 to run, 0 to rerun, 0 skipped");
    // Nothing was recorded by the plan.
    expect(await c.twin.ctx.ledger.listBackfills()).toHaveLength(0);
    await shot(b, "backfill-plan", true);
    await page.getByRole("button", { name: "Start this backfill" }).click();
    await page.waitForURL(/#\/backfill\?id=bf-demo-/);
    backfillId = new URL(page.url()).hash.split("id=")[1];
    await page.getByRole("heading", { name: `Backfill ${backfillId}` }).waitFor();
    // Progress is refreshed while it runs, until every partition is done.
    await page.locator(".progress-text", { hasText: "3/3 done" }).waitFor({ timeout: 120_000 });
    const text = await page.locator(".progress-text").textContent();
    expect(text).toContain("2 succeeded");
    expect(text).toContain("1 failed");
    await page.getByRole("button", { name: "Rerun failed partitions" }).waitFor();
    await shot(b, "backfill-progress", true);
  });

  it("opens the failed run from the backfill and reads its failure reason and job tasks", async () => {
    const { page } = b;
    await page.getByRole("link", { name: "2024-06-02" }).click();
    await page.waitForURL(/#\/run\?pipeline=demo&partition=2024-06-02/);
    const reason = page.getByRole("region", { name: "Failure reason" });
    await reason.waitFor();
    expect(await reason.textContent()).toContain("partition 2024-06-02 always fails");
    // The timeline has the workflow execution and its job: the workflow retried the failed job 3 times.
    const jobs = page.getByRole("heading", { name: /^Job demo-work failed/ });
    await jobs.first().waitFor();
    expect(await jobs.count()).toBe(4);
    await page.getByRole("button", { name: "Show the log of task 0 attempt 0" }).first().click();
    await page.locator(".task-log pre", { hasText: "always fails" }).first().waitFor();
    await shot(b, "run-failed", true);
  });

  it("lists partitions by state with filters, and backfills with their state", async () => {
    const { page } = b;
    await page.goto(`${c.url}#/runs?pipeline=demo&state=failed`);
    const rows = page.getByRole("region", { name: "Partitions of demo" }).locator("tbody tr");
    // The page may first show the last listing (2024-06-02 still running) and redraws while anything runs.
    await rows.filter({ hasText: "2024-06-02" }).waitFor({ timeout: 20_000 });
    expect(await rows.count()).toBe(1);
    await page.goto(`${c.url}#/runs?pipeline=demo`);
    await page.getByRole("region", { name: "Partitions of demo" }).locator("tbody tr").nth(2).waitFor();
    expect(await page.getByRole("region", { name: "Partitions of demo" }).locator("tbody tr").count()).toBe(
      3,
    );
    // The backfill has ended, so the overview counts no active one.
    const demoRow = page.getByRole("region", { name: "Pipelines" }).locator("tbody tr", { hasText: "demo" });
    expect(await demoRow.locator("td").nth(3).textContent()).toBe("0");
    await shot(b, "runs", true);
    await page.goto(`${c.url}#/backfills`);
    const row = page.getByRole("region", { name: "Backfills" }).locator("tbody tr", { hasText: backfillId });
    await row.waitFor();
    expect(await row.locator(".state").textContent()).toBe("failed");
  });

  it("shows the outputs: fan charts, a causemos tile and timeseries, TAAR files, mozaggregator days", async () => {
    const { page } = b;
    await page.goto(`${c.url}#/outputs?kind=mozaic-daily`);
    const charts = page.locator("figure.chart img");
    await charts.first().waitFor();
    expect(await charts.count()).toBe(8);
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>("figure.chart img")].every(
        (i) => i.complete && i.naturalWidth > 0,
      ),
    );
    await page.getByLabel("Country").selectOption("US");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForFunction(() => document.querySelectorAll("figure.chart img").length === 4);
    await shot(b, "outputs-mozaic", true);

    await page.goto(`${c.url}#/outputs?kind=causemos&partition=${encodeURIComponent(CAUSEMOS_RUN)}`);
    await page.locator("figure.chart svg polyline").first().waitFor();
    const tile = page.locator("figure.chart img");
    await tile.waitFor();
    await page.waitForFunction(() => {
      const i = document.querySelector<HTMLImageElement>("figure.chart img");
      return i?.complete && i.naturalWidth > 0;
    });
    await shot(b, "outputs-causemos");

    await page.goto(`${c.url}#/outputs?kind=taar-daily`);
    await page
      .getByRole("region", { name: /Model files/ })
      .locator("tbody tr")
      .first()
      .waitFor();
    expect(await page.getByRole("region", { name: /Model files/ }).textContent()).toContain(
      "taar/locale/top10_dict.json.bz2",
    );
    expect(await page.getByRole("region", { name: /Model files/ }).textContent()).not.toContain(
      ".20240630.bz2",
    );

    await page.goto(`${c.url}#/outputs?kind=mozaggregator`);
    await page.getByText(`Day ${OUTPUT_DAY}`).waitFor();
    expect(await page.getByText("Status: loaded").count()).toBe(1);
  });

  it("routes #/mmm to the workbench", async () => {
    const { page } = b;
    await page.goto(`${c.url}#/mmm`);
    await page.locator(".workbench").getByText("1. Connect data").first().waitFor();
    expect(await page.locator(".page > .error").count()).toBe(0);
  });

  it("is usable from the keyboard: skip link, navigation, focus on the new page", async () => {
    const { page } = b;
    await page.goto(`${c.url}#/runs`);
    await page.reload(); // a fresh load: focus starts at the top of the document
    await page.getByRole("heading", { name: "Runs" }).waitFor();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Backfills");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Backfills" }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("main");
    expect(await page.locator('header nav a[aria-current="page"]').textContent()).toBe("Backfills");
  });

  it("reads at 200% zoom: no page-wide horizontal scrolling on any page", async () => {
    const { page } = b;
    // 200% zoom of a 1280-pixel window lays the page out in 640 CSS pixels.
    await page.setViewportSize({ width: 640, height: 450 });
    try {
      for (const route of [
        "#/runs?pipeline=demo",
        `#/backfill?id=${backfillId}`,
        "#/run?pipeline=demo&partition=2024-06-02",
        "#/backfill/new",
        "#/outputs?kind=mozaic-daily",
      ]) {
        await page.goto(`${c.url}${route}`);
        await page.locator("main h1").waitFor();
        await page.waitForLoadState("networkidle");
        const [scroll, client] = await page.evaluate(() => [
          document.documentElement.scrollWidth,
          document.documentElement.clientWidth,
        ]);
        expect(scroll, route).toBeLessThanOrEqual(client);
      }
      await shot(b, "zoom-200-run");
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    expect(pageErrors).toEqual([]);
  });
});
