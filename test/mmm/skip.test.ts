import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseJobConfig } from "../../containers/mmm/jobconfig.ts";
import { trainLocally } from "../../containers/mmm/local-train.ts";
import { readStatus } from "../../containers/mmm/run.ts";
import { csvRows, rawFrame, skipReason } from "../../containers/mmm/source.ts";
import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { teamData } from "../helpers/team-data.ts";
import { tinyConfig } from "./pipeline-helpers.ts";

const rows = csvRows(readFileSync(teamData("robyn", "dt_simulated_weekly.csv"), "utf8"));
const config = parseJobConfig(tinyConfig);

describe("the original's skip rules", () => {
  it("passes the demo data and names each rule that skips", () => {
    expect(skipReason(rawFrame(rows, config), config)).toBeUndefined();
    const flatDep = rows.map((r) => ({ ...r, revenue: 7 }));
    expect(skipReason(rawFrame(flatDep, config), config)).toMatch(/dep_var REVENUE has 1 distinct/);
    const noDep = rows.map(({ revenue: _r, ...r }) => r);
    expect(skipReason(rawFrame(noDep, config), config)).toMatch(/dep_var REVENUE is not in the data/);
    const renamed = parseJobConfig({ ...tinyConfig, paid_media_spends: "radio_S, cinema_S" });
    expect(skipReason(rawFrame(rows, renamed), renamed)).toMatch(
      /none of the paid_media_spends \(RADIO_S, CINEMA_S\)/,
    );
    const flatSpend = rows.map((r) => ({ ...r, tv_S: 0, ooh_S: 0, print_S: 0, facebook_S: 0, search_S: 0 }));
    expect(skipReason(rawFrame(flatSpend, config), config)).toMatch(/every paid media spend .* is constant/);
  });

  it("a skipped run writes SKIPPED.txt and status SKIPPED with the reason, and ends successfully", async () => {
    const store = createLocalObjects({ root: mkdtempSync(join(tmpdir(), "mmm-skip-")) }).bucket("data");
    const steps: string[] = [];
    const { record, summary } = await trainLocally({
      config: tinyConfig,
      rows: rows.map((r) => ({ ...r, revenue: 7 })),
      store,
      log: createLogger({ sink: memorySink() }),
      runId: "skip-1",
      onStep: (s) => steps.push(s),
    });
    expect(summary.state).toBe("SKIPPED");
    const status = await readStatus(store, record.prefix);
    expect(status?.state).toBe("SKIPPED");
    expect(status?.skip_reason).toMatch(/REVENUE has 1 distinct/);
    expect((await store.get(`${record.prefix}SKIPPED.txt`)).toString()).toMatch(/REVENUE/);
    expect(await store.exists(`${record.prefix}model_summary.json`)).toBe(false);
    expect(steps.at(-1)).toBe("skipped");
    expect((await store.get(`${record.prefix}console.log`)).toString()).toMatch(
      /SKIPPED: dep_var REVENUE has 1/,
    );
  });
});
