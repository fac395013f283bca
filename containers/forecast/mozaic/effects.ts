import { weekdayOf } from "../time.ts";
import type { HolidayDay } from "./holidays.ts";

/**
 * Country-level holiday effects (mozaic/core.py `_fit_holiday_effects`, `_predict_holiday_effects`), as this port
 * reads the spec:
 * - history: for every holiday day h (except "Data Loss") and offset d in [-7, 7] with h + d before the forecast,
 *   the proportional effect (observed - expected) / expected, observed = raw country series, expected = the
 *   holiday-detrended one; each day's weight 1 / (1 + |d|) is normalised over the holidays touching that day; the
 *   effect of (holiday name, d) is the mean over its occurrences;
 * - forecast: the effects of the holidays around each forecast date are summed, scaled by a day-of-week factor
 *   (mean non-zero effect on that weekday / overall mean, in [0, 1.25]; 1 for a weekday without any), clipped
 *   to [-0.6, 0]; blackout days are -1.
 * Holidays in the forecast window never seen in history are returned in `newHolidays`.
 */
export interface HolidayEffects {
  /** Proportional effect per forecast date (0 = none). */
  effect: Float64Array;
  newHolidays: string[];
}

const RADIUS = 7;

export function holidayEffects(
  historyDays: ArrayLike<number>,
  observed: ArrayLike<number>,
  expected: ArrayLike<number>,
  calendar: (HolidayDay & { day: number })[],
  forecastDays: ArrayLike<number>,
): HolidayEffects {
  const index = new Map<number, number>();
  for (let i = 0; i < historyDays.length; i++) index.set(historyDays[i], i);
  const lastHistory = historyDays.length > 0 ? historyDays[historyDays.length - 1] : Number.NEGATIVE_INFINITY;
  const relevant = calendar.filter((h) => !/Data Loss/.test(h.name));
  // Holidays touching each history day, for the weight normalisation.
  const touching = new Map<number, { name: string; d: number; w: number }[]>();
  for (const h of relevant) {
    for (let d = -RADIUS; d <= RADIUS; d++) {
      const day = h.day + d;
      if (day > lastHistory) continue;
      const list = touching.get(day) ?? [];
      list.push({ name: h.name, d, w: 1 / (1 + Math.abs(d)) });
      touching.set(day, list);
    }
  }
  const sums = new Map<string, { s: number; n: number }>();
  const byDow = Array.from({ length: 7 }, () => ({ s: 0, n: 0 }));
  let all = { s: 0, n: 0 };
  for (const [day, list] of touching) {
    const i = index.get(day);
    if (i === undefined) continue;
    const o = observed[i];
    const e = expected[i];
    if (!Number.isFinite(o) || !Number.isFinite(e) || e === 0) continue;
    const eff = (o - e) / e;
    const wSum = list.reduce((a, b) => a + b.w, 0);
    for (const { name, d, w } of list) {
      const key = `${name}\u0000${d}`;
      const acc = sums.get(key) ?? { s: 0, n: 0 };
      acc.s += (eff * w) / wSum;
      acc.n++;
      sums.set(key, acc);
    }
    if (eff !== 0) {
      byDow[weekdayOf(day)].s += eff;
      byDow[weekdayOf(day)].n++;
      all = { s: all.s + eff, n: all.n + 1 };
    }
  }
  const seen = new Set([...sums.keys()].map((k) => k.split("\u0000")[0]));
  const overall = all.n > 0 ? all.s / all.n : 0;
  const dowFactor = byDow.map((b) =>
    b.n > 0 && overall !== 0 ? Math.max(0, Math.min(1.25, b.s / b.n / overall)) : 1,
  );
  const fIndex = new Map<number, number>();
  for (let i = 0; i < forecastDays.length; i++) fIndex.set(forecastDays[i], i);
  const effect = new Float64Array(forecastDays.length);
  const newHolidays = new Set<string>();
  const blackout = new Set<number>();
  for (const h of relevant) {
    if (h.blackout && fIndex.has(h.day)) blackout.add(fIndex.get(h.day) as number);
    for (let d = -RADIUS; d <= RADIUS; d++) {
      const i = fIndex.get(h.day + d);
      if (i === undefined) continue;
      if (!seen.has(h.name)) {
        if (d === 0) newHolidays.add(h.name);
        continue;
      }
      const acc = sums.get(`${h.name}\u0000${d}`);
      if (acc && acc.n > 0) effect[i] += acc.s / acc.n;
    }
  }
  for (let i = 0; i < effect.length; i++) {
    effect[i] = Math.min(0, Math.max(-0.6, effect[i] * dowFactor[weekdayOf(forecastDays[i])]));
    if (blackout.has(i)) effect[i] = -1;
  }
  return { effect, newHolidays: [...newHolidays] };
}
