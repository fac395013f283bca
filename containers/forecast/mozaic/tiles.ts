import { NonRetriableError } from "../../../shared/core/errors.ts";
import type { ProphetOptions } from "../prophet.ts";
import { formatDs, parseDs } from "../time.ts";

/**
 * Tiles (mozaic/utils.py `populate_tiles`) and the per-platform Prophet settings (mozaic/models.py).
 */
export interface LongRow {
  date: string;
  metric: string;
  country: string;
  y: number;
  /** Boolean segment columns (desktop: win10/win11/winX; mobile: fenix_android/...). */
  segments?: Record<string, boolean>;
  /** The population when the caller already knows it (as `populationOf(segments)`); wins over `segments`. */
  population?: string;
}

export interface Tile {
  metric: string;
  country: string;
  population: string;
  /** Consecutive days from the first to the last date of the metric. */
  days: number[];
  /** NaN where the tile has no data (zeros are NaN too, as Mozaic pivots 0 -> NaN). */
  y: Float64Array;
}

/** Mozaic keeps a tile only with more than this many non-NaN days. */
export const MIN_TILE_DAYS = 30;

export function populationOf(segments: Record<string, boolean> | undefined): string {
  let out = "";
  for (const k in segments) if (segments[k]) out = out ? `${out}_${k}` : k;
  return out || "other";
}

export function populateTiles(rows: LongRow[]): Tile[] {
  const byMetric = new Map<string, Map<string, Map<number, number>>>();
  const spans = new Map<string, [number, number]>();
  // Millions of rows share a few thousand dates.
  const dayOf = new Map<string, number>();
  rows.forEach((r, i) => {
    if (!Number.isFinite(r.y)) return;
    let day = dayOf.get(r.date);
    if (day === undefined) {
      day = Math.floor(parseDs(r.date, `rows[${i}].date`));
      dayOf.set(r.date, day);
    }
    if (!r.metric || !r.country)
      throw new NonRetriableError(`rows[${i}] needs a metric and a country`, { field: `rows[${i}]` });
    const key = `${r.country}\u0000${r.population ?? populationOf(r.segments)}`;
    let m = byMetric.get(r.metric);
    if (!m) {
      m = new Map();
      byMetric.set(r.metric, m);
    }
    let series = m.get(key);
    if (!series) {
      series = new Map();
      m.set(key, series);
    }
    series.set(day, (series.get(day) ?? 0) + r.y);
    const span = spans.get(r.metric) ?? [day, day];
    spans.set(r.metric, [Math.min(span[0], day), Math.max(span[1], day)]);
  });
  const tiles: Tile[] = [];
  for (const [metric, m] of [...byMetric].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const [from, to] = spans.get(metric) as [number, number];
    const days = Array.from({ length: to - from + 1 }, (_, i) => from + i);
    for (const [key, series] of [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const [country, population] = key.split("\u0000");
      const y = Float64Array.from(days, (d) => {
        const v = series.get(d);
        return v === undefined || v === 0 ? Number.NaN : v;
      });
      const count = y.filter(Number.isFinite).length;
      if (count > MIN_TILE_DAYS) tiles.push({ metric, country, population, days, y });
    }
  }
  return tiles;
}

export type Platform = "desktop" | "mobile";

export interface TileModel {
  options: ProphetOptions;
  /** "log1p": fit log(y + 1) and map samples back with exp(s) - 1 (desktop's multiplicative switch). */
  transform: "none" | "log1p";
  cap?: number;
  floor?: number;
  /** Desktop drops NaN training rows; mobile keeps them (Prophet ignores them either way). */
  why: string;
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  if (n < 2) return Number.NaN;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  return lo + 1 < s.length ? s[lo] + (pos - lo) * (s[lo + 1] - s[lo]) : s[lo];
}

/** Mozaic's model settings for one training series (finite values in date order). */
export function tileModel(platform: Platform, y: ArrayLike<number>): TileModel {
  const xs = Array.from(y).filter(Number.isFinite);
  if (xs.length === 0) throw new NonRetriableError("a tile has no finite value to train on", { field: "y" });
  const max = Math.max(...xs);
  const min = Math.min(...xs);
  if (platform === "desktop") {
    const options: ProphetOptions = {
      dailySeasonality: false,
      weeklySeasonality: true,
      yearlySeasonality: false,
      changepointRange: 0.8,
      seasonalityPriorScale: 0.00825,
      changepointPriorScale: 0.15983,
      growth: "logistic",
      uncertaintySamples: 1000,
    };
    const ratio = percentile(xs, 0.5) / (percentile(xs, 0.1) + 1e-8);
    if (xs.length > 730 && ratio < 5) options.yearlySeasonality = true;
    const absX = xs.slice(1).map(Math.abs);
    const absDiff = xs.slice(1).map((v, i) => Math.abs(v - xs[i]));
    const corr = pearson(absX, absDiff);
    if (corr > 0) {
      return {
        options: { ...options, seasonalityMode: "multiplicative", growth: "linear" },
        transform: "log1p",
        why: `corr(|x|, |diff x|) = ${corr.toFixed(3)} > 0`,
      };
    }
    return {
      options,
      transform: "none",
      cap: 1.2 * max,
      floor: 0.8 * min,
      why: "logistic, cap 1.2 max, floor 0.8 min",
    };
  }
  const options: ProphetOptions = {
    weeklySeasonality: true,
    dailySeasonality: false,
    yearlySeasonality: xs.length > 730,
    changepointRange: 0.8,
    growth: "logistic",
    uncertaintySamples: 1000,
  };
  if (max >= 1e6) {
    options.seasonalityPriorScale = 0.1;
    options.changepointPriorScale = 0.1;
  }
  if (max <= 2e6) options.seasonalityMode = "multiplicative";
  return {
    options,
    transform: "none",
    cap: 2 * max,
    floor: max >= 10e6 ? 0.8 * min : 0,
    why: "mobile logistic, cap 2 max",
  };
}

export const dayString = formatDs;
