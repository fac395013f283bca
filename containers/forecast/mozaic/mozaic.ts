import { createLogger, type Logger } from "../../../shared/core/log.ts";
import type { ForecastPool } from "../pool.ts";
import type { ProphetOptions } from "../prophet.ts";
import { parseDs } from "../time.ts";
import { detrendHolidays } from "./detrend.ts";
import { holidayEffects } from "./effects.ts";
import { mozaicCalendar } from "./holidays.ts";
import type { MozaicPool } from "./pool.ts";
import { reconcileSummaries, type SampleMatrix, sumMatrices, TOP_DOWN_BAND } from "./reconcile.ts";
import { clipPaths, quantilesAt, summarisePaths } from "./summary.ts";
import { fitTile, type TileFit, type TileTask } from "./tilefit.ts";
import { dayString, type Platform, type Tile, tileModel } from "./tiles.ts";

/**
 * One Mozaic run for one data source (mozaic/core.py, mozaic/utils.py `curate_mozaics`), per metric:
 * detrend every tile's history around its country's holidays, fit each tile and the metric's top node (the sum
 * of the tiles' detrended histories) with the platform's Prophet settings, draw 1000 sample paths (negatives
 * clipped to 0) and summarise them where they were drawn (summary.ts: the order statistics, mean and variance
 * that reconciliation reads), reconcile the tiles top-down against the top node, rebuild country and population
 * nodes bottom-up (sums of the tiles' quantiles), and emit the granular rows at the requested quantile.
 * Holiday effects are estimated per country (effects.ts) and applied to each tile's paths as
 * forecast x (1 + effect); the top node's impact is the sum of its tiles' median impacts. Because that impact is
 * aggregated upward from the same tiles, it cancels out of the top-down gap, so reconciliation runs on the
 * holiday-free forecasts and the impacts are added afterwards.
 */
export interface MozaicOptions {
  platform: Platform;
  /** First forecast day (YYYY-MM-DD); training uses the days before it. */
  forecastStart: string;
  /** Last forecast day (inclusive). */
  forecastEnd: string;
  quantile?: number;
  samples?: number;
  /** The Prophet optimizer of every node (ProphetOptions.optimizer); default the engine's. */
  optimizer?: ProphetOptions["optimizer"];
  seed?: number;
  /**
   * Where nodes are fitted: a MozaicPool summarises their paths on its workers; a plain ForecastPool or none
   * (this thread) works too.
   */
  pool?: ForecastPool | MozaicPool;
  logger?: Logger;
}

export interface GranularRow {
  targetDate: string;
  metric: string;
  country: string;
  population: string;
  source: "actual" | "forecast";
  value: number;
}

export interface TileReport {
  metric: string;
  country: string;
  population: string;
  kind: string;
  reason?: string;
  model: string;
}

export interface MozaicResult {
  rows: GranularRow[];
  tiles: TileReport[];
  /** The top-down quantile chosen per metric. */
  quantileStep: Record<string, number>;
  /** Holidays in the forecast window with no history, per country ("New holidays" in Mozaic). */
  newHolidays: Record<string, string[]>;
}

interface Node {
  key: string;
  days: number[];
  raw: Float64Array;
  detrended: Float64Array;
}

export async function forecastMozaic(tiles: Tile[], options: MozaicOptions): Promise<MozaicResult> {
  const logger = options.logger ?? createLogger({ labels: { component: "mozaic" } });
  const q = options.quantile ?? 0.5;
  const nSamples = options.samples ?? 1000;
  const startDay = Math.floor(parseDs(options.forecastStart, "forecastStart"));
  const endDay = Math.floor(parseDs(options.forecastEnd, "forecastEnd"));
  const forecastDates: string[] = [];
  for (let d = startDay; d <= endDay; d++) forecastDates.push(dayString(d));
  const D = forecastDates.length;
  const rows: GranularRow[] = [];
  const reports: TileReport[] = [];
  const quantileStep: Record<string, number> = {};
  const newHolidays: Record<string, string[]> = {};

  const band: [number, number] = [Math.min(TOP_DOWN_BAND[0], q, 0.5), Math.max(TOP_DOWN_BAND[1], q, 0.5)];
  const pool = options.pool;
  const fitNode = async (node: Node): Promise<{ fit: TileFit; model: string }> => {
    const train: { ds: string[]; y: number[] } = { ds: [], y: [] };
    node.days.forEach((d, i) => {
      if (d >= startDay) return;
      const v = node.detrended[i];
      train.ds.push(dayString(d));
      train.y.push(Number.isFinite(v) && v !== 0 ? v : Number.NaN);
    });
    const spec = tileModel(options.platform, train.y);
    const y = spec.transform === "log1p" ? train.y.map((v) => Math.log(v + 1)) : train.y;
    const task: TileTask = {
      fit: {
        id: node.key,
        series: {
          ds: train.ds,
          y,
          ...(spec.cap !== undefined
            ? { cap: y.map(() => spec.cap as number), floor: y.map(() => spec.floor as number) }
            : {}),
        },
        options: {
          ...spec.options,
          uncertaintySamples: nSamples,
          ...(options.optimizer ? { optimizer: options.optimizer } : {}),
        },
        predict: {
          dates: forecastDates,
          samples: nSamples,
          seed: options.seed ?? 42,
          keepSamples: true,
          // Reconciliation reads the paths only (summary.ts); the bands' quantiles would be thrown away.
          bands: false,
          cap: spec.cap,
          floor: spec.floor,
        },
      },
      transform: spec.transform,
      band,
    };
    let fit: TileFit;
    if (pool && "fitTile" in pool) fit = await pool.fitTile(task);
    else if (pool) {
      const r = await pool.fit(task.fit);
      const values =
        r.samples && r.samples.length === D * nSamples
          ? r.samples
          : Float64Array.from({ length: D * nSamples }, (_, i) => r.yhat[Math.floor(i / nSamples)]);
      fit = {
        id: r.id,
        kind: r.kind,
        reason: r.reason,
        summary: summarisePaths(clipPaths(values, spec.transform), D, nSamples, band[0], band[1]),
      };
    } else fit = fitTile(task, logger);
    if (fit.kind !== "prophet")
      logger.warn("mozaic tile fell back", { node: node.key, kind: fit.kind, reason: fit.reason });
    return { fit, model: spec.why };
  };

  const metrics = [...new Set(tiles.map((t) => t.metric))];
  for (const metric of metrics) {
    const mt = tiles.filter((t) => t.metric === metric);
    const years = (t: Tile) =>
      [
        new Date(t.days[0] * 86_400_000).getUTCFullYear(),
        new Date(endDay * 86_400_000).getUTCFullYear(),
      ] as const;
    const calendars = new Map<string, ReturnType<typeof mozaicCalendar>>();
    const nodes: Node[] = mt.map((t) => {
      const [y0, y1] = years(t);
      const cal = calendars.get(t.country) ?? mozaicCalendar(t.country, y0, y1);
      calendars.set(t.country, cal);
      const hol = cal.map((h) => Math.floor(parseDs(h.date)));
      return {
        key: `${metric}/${t.country}/${t.population}`,
        days: t.days,
        raw: t.y,
        detrended: detrendHolidays(t.days, t.y, hol),
      };
    });
    const sumSeries = (pick: (n: Node) => Float64Array, idx: number[]) => {
      const out = new Float64Array(nodes[0].days.length).fill(Number.NaN);
      for (const i of idx) {
        const s = pick(nodes[i]);
        for (let k = 0; k < out.length; k++)
          if (Number.isFinite(s[k])) out[k] = (Number.isFinite(out[k]) ? out[k] : 0) + s[k];
      }
      return out;
    };
    const all = nodes.map((_, i) => i);
    const top: Node = {
      key: `${metric}/ALL/ALL`,
      days: nodes[0].days,
      raw: sumSeries((n) => n.raw, all),
      detrended: sumSeries((n) => n.detrended, all),
    };
    // The top node is fitted alongside its tiles (it needs only their detrended histories).
    const [topFit, ...fits] = await Promise.all([top, ...nodes].map(fitNode));
    mt.forEach((t, i) => {
      reports.push({
        metric,
        country: t.country,
        population: t.population,
        kind: fits[i].fit.kind,
        reason: fits[i].fit.reason,
        model: fits[i].model,
      });
    });
    const rec = reconcileSummaries(
      topFit.fit.summary,
      fits.map((f) => f.fit.summary),
    );
    quantileStep[metric] = rec.q;

    const emit = (country: string, population: string, raw: Float64Array, forecast: Float64Array) => {
      top.days.forEach((d, i) => {
        if (d < startDay && Number.isFinite(raw[i]))
          rows.push({
            targetDate: dayString(d),
            metric,
            country,
            population,
            source: "actual",
            value: raw[i],
          });
      });
      forecast.forEach((v, d) => {
        if (Number.isFinite(v))
          rows.push({
            targetDate: forecastDates[d],
            metric,
            country,
            population,
            source: "forecast",
            value: v,
          });
      });
    };
    // Country-level holiday effects, pushed down to the tiles.
    const fDays = forecastDates.map((d) => Math.floor(parseDs(d)));
    const effectOf = new Map<string, Float64Array>();
    for (const country of [...new Set(mt.map((t) => t.country))]) {
      const idx = all.filter((i) => mt[i].country === country);
      const histIdx = nodes[0].days.map((d, k) => [d, k] as const).filter(([d]) => d < startDay);
      const raw = sumSeries((n) => n.raw, idx);
      const det = sumSeries((n) => n.detrended, idx);
      const cal = (calendars.get(country) ?? []).map((h) => ({ ...h, day: Math.floor(parseDs(h.date)) }));
      const eff = holidayEffects(
        histIdx.map(([d]) => d),
        histIdx.map(([, k]) => raw[k]),
        histIdx.map(([, k]) => det[k]),
        cal,
        fDays,
      );
      effectOf.set(country, eff.effect);
      if (eff.newHolidays.length > 0) {
        newHolidays[country] = eff.newHolidays;
        logger.notice("mozaic new holidays", { metric, country, holidays: eff.newHolidays });
      }
    }
    const tileMedians = fits.map((f, i) => quantilesAt(f.fit.summary, 0.5, rec.offsets[i]));
    const topImpact = new Float64Array(D);
    mt.forEach((t, i) => {
      const e = effectOf.get(t.country) as Float64Array;
      for (let d = 0; d < D; d++) topImpact[d] += tileMedians[i][d] * e[d];
    });
    const tileQ = fits.map((f, i) => {
      const e = effectOf.get(mt[i].country) as Float64Array;
      return quantilesAt(f.fit.summary, q, rec.offsets[i]).map((v, d) => v * (1 + e[d]));
    });
    const sumQ = (idx: number[]) => {
      const out = new Float64Array(D);
      for (const i of idx) for (let d = 0; d < D; d++) out[d] += tileQ[i][d];
      return out;
    };
    for (const [i, t] of mt.entries()) emit(t.country, t.population, t.y, tileQ[i]);
    for (const country of [...new Set(mt.map((t) => t.country))]) {
      const idx = all.filter((i) => mt[i].country === country);
      emit(
        country,
        "ALL",
        sumSeries((n) => n.raw, idx),
        sumQ(idx),
      );
    }
    for (const population of [...new Set(mt.map((t) => t.population))]) {
      const idx = all.filter((i) => mt[i].population === population);
      emit(
        "ALL",
        population,
        sumSeries((n) => n.raw, idx),
        sumQ(idx),
      );
    }
    emit(
      "ALL",
      "ALL",
      top.raw,
      quantilesAt(topFit.fit.summary, q).map((v, d) => Math.max(0, v + topImpact[d])),
    );
  }
  return { rows, tiles: reports, quantileStep, newHolidays };
}

/** Bottom-up node of reconciled tiles (country or population level): the path-wise sum. */
export function bottomUp(children: SampleMatrix[]): SampleMatrix {
  return sumMatrices(children);
}
