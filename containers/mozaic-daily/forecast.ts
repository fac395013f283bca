import { parseDay } from "../../shared/core/dates.ts";
import type { Logger } from "../../shared/core/log.ts";
import {
  type FitResult,
  type FitTask,
  type Forecast,
  type ForecastPool,
  fanChartSvg,
  forecastMozaic,
  type GranularRow,
  type LongRow,
  type ProphetOptions,
  populateTiles,
} from "../forecast/index.ts";
import type { MozaicPool } from "../forecast/mozaic/pool.ts";
import { populationOf } from "../forecast/mozaic/tiles.ts";
import { type DataSource, type Metric, PLATFORM_OF, QUANTILE } from "./config.ts";
import { type PackedRow, unpackRow } from "./queries.ts";

/**
 * One data source's Mozaic run (`forecast.py`): the raw rows of its metrics become tiles (country × population),
 * the forecast engine's Mozaic layer fits, reconciles and emits the granular rows at the 0.5 quantile.
 */
export interface SourceRun {
  source: DataSource;
  rows: GranularRow[];
  tiles: number;
  fallbacks: { key: string; kind: string; reason?: string }[];
  quantileStep: Record<string, number>;
  newHolidays: Record<string, string[]>;
}

export async function forecastSource(
  source: DataSource,
  raw: Partial<Record<Metric, PackedRow[]>>,
  dates: { forecastStartDate: string; forecastEndDate: string },
  options: {
    pool?: ForecastPool | MozaicPool;
    logger?: Logger;
    samples?: number;
    optimizer?: ProphetOptions["optimizer"];
  },
): Promise<SourceRun> {
  const long: LongRow[] = [];
  const platform = PLATFORM_OF[source];
  const populations = new Map<number, string>();
  for (const [metric, rows] of Object.entries(raw) as [Metric, PackedRow[]][])
    for (const r of rows) {
      let population = populations.get(r[2]);
      if (population === undefined) {
        population = populationOf(unpackRow(platform, r).segments);
        populations.set(r[2], population);
      }
      long.push({ date: r[0], metric, country: r[1], y: r[3], population });
    }
  const tiles = populateTiles(long);
  options.logger?.info("mozaic tiles", { source, tiles: tiles.length });
  // One Mozaic per metric, all at once: while one metric reconciles on this thread, the pool fits the others.
  const metrics = [...new Set(tiles.map((t) => t.metric))];
  const results = await Promise.all(
    metrics.map((metric) =>
      forecastMozaic(
        tiles.filter((t) => t.metric === metric),
        {
          platform: PLATFORM_OF[source],
          forecastStart: dates.forecastStartDate,
          forecastEnd: dates.forecastEndDate,
          quantile: QUANTILE,
          samples: options.samples ?? 1000,
          seed: 42,
          pool: options.pool,
          logger: options.logger,
          optimizer: options.optimizer,
        },
      ),
    ),
  );
  const result = {
    rows: results.flatMap((r) => r.rows),
    tiles: results.flatMap((r) => r.tiles),
    quantileStep: Object.assign({}, ...results.map((r) => r.quantileStep)) as Record<string, number>,
    newHolidays: Object.assign({}, ...results.map((r) => r.newHolidays)) as Record<string, string[]>,
  };
  return {
    source,
    rows: result.rows,
    tiles: result.tiles.length,
    fallbacks: result.tiles
      .filter((t) => t.kind !== "prophet")
      .map((t) => ({ key: `${t.metric}/${t.country}/${t.population}`, kind: t.kind, reason: t.reason })),
    quantileStep: result.quantileStep,
    newHolidays: result.newHolidays,
  };
}

export interface Plot {
  name: string;
  svg: string;
}

const dayOf = (d: string) => parseDay(d).getTime() / 86_400_000;

/**
 * Fan charts for ALL/ALL and the top `topCountries` countries (by the last year's volume) of every metric: the
 * line is the published (reconciled) median; the 50% and 80% bands are the spread of the node's own Prophet
 * sample paths, centred on that median.
 */
export async function fanCharts(
  source: DataSource,
  rows: GranularRow[],
  forecastStartDate: string,
  options: {
    pool?: ForecastPool;
    runTask?: (t: FitTask) => Promise<FitResult>;
    topCountries?: number;
    samples?: number;
  },
): Promise<Plot[]> {
  const plots: Plot[] = [];
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const nSamples = options.samples ?? 200;
  const fitOne = (t: FitTask): Promise<FitResult> =>
    options.pool ? options.pool.fit(t) : (options.runTask as (t: FitTask) => Promise<FitResult>)(t);
  for (const metric of metrics) {
    const mine = rows.filter((r) => r.metric === metric && r.population === "ALL");
    const yearAgo = new Date(parseDay(forecastStartDate).getTime() - 365 * 86_400_000)
      .toISOString()
      .slice(0, 10);
    const volume = new Map<string, number>();
    for (const r of mine)
      if (r.country !== "ALL" && r.source === "actual" && r.targetDate >= yearAgo)
        volume.set(r.country, (volume.get(r.country) ?? 0) + r.value);
    const countries = [
      "ALL",
      ...[...volume]
        .sort((a, b) => b[1] - a[1])
        .slice(0, options.topCountries ?? 3)
        .map(([c]) => c),
    ];
    const jobs = countries.map(async (country) => {
      const node = mine
        .filter((r) => r.country === country)
        .sort((a, b) => (a.targetDate < b.targetDate ? -1 : 1));
      const hist = node.filter((r) => r.source === "actual");
      const fut = node.filter((r) => r.source === "forecast");
      if (hist.length < 30 || fut.length === 0) return undefined;
      const res = await fitOne({
        id: `${source}/${metric}/${country}/plot`,
        series: { ds: hist.map((r) => r.targetDate), y: hist.map((r) => Math.log1p(r.value)) },
        options: { weeklySeasonality: true, yearlySeasonality: hist.length > 730, dailySeasonality: false },
        predict: { dates: fut.map((r) => r.targetDate), samples: nSamples, seed: 42, keepSamples: true },
      });
      const D = fut.length;
      const S = res.samples ? res.nSamples : 0;
      const samples = new Float64Array(D * Math.max(S, 1));
      const median = Float64Array.from(fut, (r) => r.value);
      for (let d = 0; d < D; d++) {
        if (!res.samples || S === 0) {
          samples[d] = median[d];
          continue;
        }
        const slice = Float64Array.from(res.samples.subarray(d * S, (d + 1) * S), Math.expm1).sort();
        const mid = slice[Math.floor(S / 2)];
        for (let s = 0; s < S; s++) samples[d * S + s] = Math.max(0, slice[s] - mid + median[d]);
      }
      const forecast: Forecast = {
        ds: fut.map((r) => r.targetDate),
        days: Float64Array.from(fut, (r) => dayOf(r.targetDate)),
        yhat: median,
        yhatLower: median,
        yhatUpper: median,
        trend: median,
        trendLower: median,
        trendUpper: median,
        components: {},
        samples: S > 0 ? samples : undefined,
        nSamples: S,
        intervalWidth: 0.8,
      };
      const recent = hist.slice(-730);
      const svg = fanChartSvg(
        { days: recent.map((r) => dayOf(r.targetDate)), y: recent.map((r) => r.value) },
        forecast,
        { title: `${source} · ${metric} · ${country}/ALL (forecast from ${forecastStartDate})` },
      );
      return { name: `${source}/${metric.toLowerCase().replace(/ /g, "_")}.${country}.svg`, svg };
    });
    for (const p of await Promise.all(jobs)) if (p) plots.push(p);
  }
  return plots;
}
