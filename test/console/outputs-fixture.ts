import { encodeTileReference } from "../../containers/causemos/tile-proto.ts";
import { fanChartSvg } from "../../containers/forecast/fanchart.ts";
import type { Forecast } from "../../containers/forecast/prophet.ts";
import type { ObjectStore } from "../../shared/adapters/ports.ts";
import type { Ledger } from "../../shared/ledger/ledger.ts";

/**
 * Outputs as the pipelines publish them (same object names and shapes, small sizes), and succeeded ledger
 * entries for their partitions, so that the console's Outputs page has something to show without running the
 * pipelines themselves (their own tests cover producing these).
 */

export const OUTPUT_DAY = "2024-06-30";
export const CAUSEMOS_RUN = "model-demo/run-1";

/** A seeded pseudo-random generator, so fixtures are the same every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function fanChart(seed: number, level: number): string {
  const r = rng(seed);
  const start = 19_700; // days since epoch
  const histDays = Array.from({ length: 120 }, (_, i) => start + i);
  const y = histDays.map((d) => level * (1 + 0.1 * Math.sin((d / 7) * 2 * Math.PI)) * (0.95 + 0.1 * r()));
  const n = 60;
  const S = 40;
  const days = new Float64Array(Array.from({ length: n }, (_, i) => start + 120 + i));
  const yhat = new Float64Array(n);
  const samples = new Float64Array(n * S);
  for (let i = 0; i < n; i++) {
    yhat[i] = level * (1 + 0.1 * Math.sin((days[i] / 7) * 2 * Math.PI));
    for (let s = 0; s < S; s++) samples[i * S + s] = yhat[i] * (1 + (r() - 0.5) * 0.02 * Math.sqrt(i + 1));
  }
  const zeros = new Float64Array(n);
  const forecast: Forecast = {
    ds: [],
    days,
    yhat,
    yhatLower: zeros,
    yhatUpper: zeros,
    trend: zeros,
    trendLower: zeros,
    trendUpper: zeros,
    components: {},
    samples,
    nSamples: S,
    intervalWidth: 0.8,
  };
  return fanChartSvg({ days: histDays, y }, forecast, { title: "fixture fan chart" });
}

async function succeeded(ledger: Ledger, pipeline: string, partition: string): Promise<void> {
  const c = await ledger.claim({ pipeline, partition, runId: `${pipeline}-fixture` });
  if (c.claimed) await ledger.succeed(c.run);
}

export async function seedOutputs(data: ObjectStore, ledger: Ledger): Promise<void> {
  const day = OUTPUT_DAY;
  // mozaic-daily: fan charts by source, metric and country.
  let seed = 1;
  for (const source of ["glean_desktop", "glean_mobile"])
    for (const metric of ["dau", "new_profiles"])
      for (const country of ["ALL", "US"])
        await data.put(
          `mozaic-daily/${day}/plots/${source}/${metric}.${country}.svg`,
          fanChart(seed++, country === "ALL" ? 1e6 : 2e5),
          { contentType: "image/svg+xml" },
        );
  await data.put(`mozaic-daily/${day}/manifest.json`, JSON.stringify({ forecastStartDate: day }));
  await succeeded(ledger, "mozaic-daily", day);

  // causemos: results, a global timeseries, two tiles.
  const base = CAUSEMOS_RUN;
  await data.put(
    `${base}/results/results.json`,
    JSON.stringify({ data_info: { num_rows: 1234, features: ["rainfall"] } }),
  );
  const rows = ["timestamp,s_sum_t_sum,s_mean_t_sum,s_sum_t_mean,s_mean_t_mean,s_count"];
  for (let m = 0; m < 12; m++) {
    const t = Date.UTC(2023, m, 1);
    rows.push(
      `${t},${100 + 30 * Math.sin(m / 2)},${5 + m},${50 + 10 * Math.cos(m / 3)},${2 + m / 10},${20 + m}`,
    );
  }
  await data.put(`${base}/month/rainfall/timeseries/global/global.csv`, `${rows.join("\n")}\n`);
  for (const [z, x, y] of [
    [0, 0, 0],
    [1, 1, 0],
  ]) {
    const stats: Record<number, { s_sum_t_sum: number; s_sum_t_mean: number; weight: number }> = {};
    for (let b = 0; b < 4096; b += 7)
      stats[b] = { s_sum_t_sum: b % 97, s_sum_t_mean: (b % 64) + (b >> 6), weight: 1 };
    await data.put(
      `${base}/month/rainfall/tiles/1672531200000-${z}-${x}-${y}.tile`,
      Buffer.from(encodeTileReference({ coord: { x, y, z }, bins: { totalBins: 4096, stats } })),
    );
  }
  await succeeded(ledger, "causemos", base);

  // taar-daily: model files (current and dated copies) and step summaries.
  const compact = day.replaceAll("-", "");
  for (const name of ["addon_recommender/only_guids_top_200.json.bz2", "taar/locale/top10_dict.json.bz2"]) {
    await data.put(name, Buffer.alloc(321, 1));
    await data.put(name.replace(/\.bz2$/, `.${compact}.bz2`), Buffer.alloc(321, 1));
  }
  await data.put(`taar/runs/${day}/locale.json`, JSON.stringify({ locales: 12, seconds: 3.2 }));
  await succeeded(ledger, "taar-daily", day);

  // mozaggregator: the day's status and a _SUCCESS manifest.
  await data.put(
    `mozaggregator/status/${day}.json`,
    JSON.stringify({ status: "loaded", tables: [{ table: "submission_date_aggregates", rows: 4321 }] }),
  );
  await data.put(
    `mozaggregator/parquet/submission/${compact}/_SUCCESS`,
    JSON.stringify({ rows: 4321, parts: ["submission_date_aggregates.parquet"] }),
  );
  await succeeded(ledger, "mozaggregator", day);
}
