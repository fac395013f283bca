import Holidays from "date-holidays";
import { fitProphet, type HolidayEvent, predictProphet } from "../forecast/index.ts";
import type { ModelFrame } from "./frame.ts";

/**
 * Robyn's `prophet_decomp` through the forecast engine: Prophet fitted on the dependent variable over the whole
 * series with yearly seasonality, the country's public holidays (on weekly data each holiday is moved to the
 * row of its week) and, on daily data only, weekly seasonality. The in-sample components become the model
 * frame's prophet columns: `trend`, `season` (yearly), `holiday`, `weekday` (daily data; Robyn drops it on
 * weekly data).
 */
export interface Baseline {
  vars: string[];
  columns: Record<string, Float64Array>;
}

export function countryHolidays(country: string, dates: string[]): HolidayEvent[] {
  if (dates.length === 0) return [];
  const hd = new Holidays(country.toUpperCase());
  const first = Number(dates[0].slice(0, 4));
  const last = Number(dates[dates.length - 1].slice(0, 4));
  const step = dates.length > 1 ? (Date.parse(dates[1]) - Date.parse(dates[0])) / 86_400_000 : 1;
  const out: HolidayEvent[] = [];
  for (let y = first; y <= last; y++) {
    for (const h of hd.getHolidays(y) || []) {
      if (h.type !== "public") continue;
      const day = h.date.slice(0, 10);
      // The row whose period contains the holiday.
      let row: string | undefined;
      for (const d of dates) {
        if (d <= day && Date.parse(day) - Date.parse(d) < step * 86_400_000) row = d;
      }
      if (row) out.push({ holiday: h.name, ds: row });
    }
  }
  return out;
}

export function prophetBaseline(raw: ModelFrame, depVar: string, country: string): Baseline {
  const daily =
    raw.dates.length > 1 && (Date.parse(raw.dates[1]) - Date.parse(raw.dates[0])) / 86_400_000 < 2;
  const holidays = countryHolidays(country, raw.dates);
  const model = fitProphet(
    { ds: raw.dates, y: Array.from(raw.columns[depVar]) },
    {
      yearlySeasonality: true,
      weeklySeasonality: daily,
      dailySeasonality: false,
      holidays: holidays.length > 0 ? holidays : undefined,
    },
  );
  const f = predictProphet(model, { dates: raw.dates, samples: 0 });
  const zeros = () => new Float64Array(raw.dates.length);
  const columns: Record<string, Float64Array> = {
    trend: Float64Array.from(f.trend),
    season: Float64Array.from(f.components.yearly ?? zeros()),
    holiday: Float64Array.from(f.components.holidays ?? zeros()),
  };
  const vars = ["trend", "season", "holiday"];
  if (daily) {
    columns.weekday = Float64Array.from(f.components.weekly ?? zeros());
    vars.push("weekday");
  }
  return { vars, columns };
}
