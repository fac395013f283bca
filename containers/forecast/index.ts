/**
 * The forecast engine as a library (used by mozaic-daily and the MMM baseline):
 *
 *   const model = fitProphet({ ds, y }, { growth: "linear" });          // fit as R prophet does, throws on failure
 *   fitProphet({ ds, y }, { optimizer: "exact" });                      // the exact MAP instead of Stan's stop
 *   const f = predictProphet(model, { periods: 365, samples: 1000, seed: 42, keepSamples: true });
 *   f.ds, f.yhat, f.yhatLower, f.yhatUpper, f.trend, f.components.weekly, f.samples (date-major)
 *
 *   const fit = fitSeries({ ds, y }, options, { logger, id });          // never throws for model failures
 *   const g = forecastSeries(fit, { periods: 30 });                     // fit.kind: prophet | linear-weekly | naive
 *
 *   const pool = createForecastPool({ size: 2 }); await pool.fitAll(tasks); await pool.close();
 */
export { FORECAST_HELP, runForecast } from "./cli.ts";
export { parseCsv, readHolidaysCsv, readSeriesCsv } from "./csv.ts";
export { fanBands, fanChartSvg } from "./fanchart.ts";
export { detrendHolidays, kinematicK } from "./mozaic/detrend.ts";
export { easter, lunarNewYear, mozaicCalendar } from "./mozaic/holidays.ts";
export {
  bottomUp,
  forecastMozaic,
  type GranularRow,
  type MozaicOptions,
  type MozaicResult,
} from "./mozaic/mozaic.ts";
export {
  quantilePerDate,
  reconcileTopDown,
  rollingMean,
  type SampleMatrix,
  sumMatrices,
} from "./mozaic/reconcile.ts";
export { type LongRow, type Platform, populateTiles, type Tile, tileModel } from "./mozaic/tiles.ts";
export {
  type MinimizeResult,
  minimizeStanLbfgs,
  STAN_LBFGS_DEFAULTS,
  type StanLbfgsOptions,
} from "./optimizer.ts";
export { createForecastPool, type ForecastPool } from "./pool.ts";
export {
  type Forecast,
  fitProphet,
  type HolidayEvent,
  type PredictOptions,
  type ProphetModel,
  type ProphetOptions,
  predictProphet,
  predictProphet as predict,
  type SeriesInput,
} from "./prophet.ts";
export { fitSeries, forecastSeries, MIN_PROPHET_POINTS, type ModelKind, type SeriesFit } from "./series.ts";
export { type FitResult, type FitTask, runTask } from "./task.ts";
