import { writeFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { type Io, parseVerbArgs, UsageError } from "../../shared/cli/verb.ts";
import { NonRetriableError, reasonOf } from "../../shared/core/errors.ts";
import { createLogger, type LogRecord } from "../../shared/core/log.ts";
import { formatNumber, readHolidaysCsv, readSeriesCsv } from "./csv.ts";
import { fanChartSvg } from "./fanchart.ts";
import type { ProphetOptions, SeasonalitySwitch } from "./prophet.ts";
import { fitSeries, forecastSeries } from "./series.ts";
import { parseDs } from "./time.ts";

export const FORECAST_HELP = `Usage: tessera forecast fit --input FILE.csv --periods N --output OUT.csv [options]

Fits Prophet (this engine's TypeScript implementation) to one series and writes the forecast for every input
date and the N days after the last one.

Input:  a CSV with columns ds,y (and cap, floor for logistic growth); empty or NA y is a missing day; any other
        numeric column is used as an extra regressor.
Output: a CSV with columns ds,yhat,yhat_lower,yhat_upper.

Options:
  --input FILE.csv                  the series (required)
  --periods N                       future days to forecast (required, >= 0)
  --output OUT.csv                  where to write the forecast (required)
  --growth linear|logistic          trend (default linear)
  --cap X / --floor X               constant cap / floor for logistic growth (override the columns)
  --yearly auto|true|false          yearly seasonality (default auto: on with >= 2 years of history)
  --weekly auto|true|false          weekly seasonality (default auto: on with >= 2 weeks of sub-weekly data)
  --daily auto|true|false           daily seasonality (default auto: on for sub-daily data)
  --seasonality-mode additive|multiplicative   (default additive)
  --changepoint-prior-scale X       (default 0.05)
  --optimizer auto|stan|exact       auto (default): stop where R prophet's Stan L-BFGS stops (exact optimum under
                                    100 rows, as Prophet's Newton); stan: always Stan's L-BFGS; exact: the exact MAP
  --holidays FILE.csv               holiday,ds[,lower_window,upper_window,prior_scale]
  --samples N                       simulation draws for the interval (default 1000; 0 = no interval)
  --seed S                          seed of the simulation (default 0)
  --interval W                      interval width (default 0.8)
  --svg FILE.svg                    also draw a fan chart (history, median, 50% and 80% bands)

Examples:
  tessera forecast fit --input peyton.csv --periods 365 --output forecast.csv
  tessera forecast fit --input sales.csv --periods 90 --growth logistic --cap 1200 --seed 7 --output f.csv --svg f.svg
`;

const OPTIONS = {
  input: { type: "string" },
  periods: { type: "string" },
  output: { type: "string" },
  growth: { type: "string" },
  cap: { type: "string" },
  floor: { type: "string" },
  yearly: { type: "string" },
  weekly: { type: "string" },
  daily: { type: "string" },
  "seasonality-mode": { type: "string" },
  "changepoint-prior-scale": { type: "string" },
  optimizer: { type: "string" },
  holidays: { type: "string" },
  samples: { type: "string" },
  seed: { type: "string" },
  interval: { type: "string" },
  svg: { type: "string" },
} as const;

function num(
  v: string | undefined,
  flag: string,
  check: (n: number) => boolean,
  what: string,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || !check(n))
    throw new UsageError(`--${flag} must be ${what}, got "${v}"`);
  return n;
}

function seasonality(v: string | undefined, flag: string): SeasonalitySwitch | undefined {
  if (v === undefined) return undefined;
  if (v === "auto") return "auto";
  if (v === "true") return true;
  if (v === "false") return false;
  throw new UsageError(`--${flag} must be auto, true or false, got "${v}"`);
}

export async function runForecast(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "fit")
    throw new UsageError(
      sub ? `unknown subcommand "${sub}" (expected: fit)` : "missing subcommand (expected: fit)",
    );
  const { values, positionals } = parseVerbArgs(rest, OPTIONS, false);
  if (values.help) {
    io.stdout.write(FORECAST_HELP);
    return 0;
  }
  void positionals;
  for (const required of ["input", "periods", "output"] as const)
    if (!values[required]) throw new UsageError(`--${required} is required`);
  const periods = num(
    values.periods,
    "periods",
    (n) => Number.isInteger(n) && n >= 0,
    "a whole number >= 0",
  ) as number;
  const growth = values.growth ?? "linear";
  if (growth !== "linear" && growth !== "logistic")
    throw new UsageError(`--growth must be linear or logistic, got "${growth}"`);
  const mode = values["seasonality-mode"] ?? "additive";
  if (mode !== "additive" && mode !== "multiplicative")
    throw new UsageError(`--seasonality-mode must be additive or multiplicative, got "${mode}"`);
  const optimizer = values.optimizer ?? "auto";
  if (optimizer !== "auto" && optimizer !== "stan" && optimizer !== "exact")
    throw new UsageError(`--optimizer must be auto, stan or exact, got "${optimizer}"`);
  const samples =
    num(values.samples, "samples", (n) => Number.isInteger(n) && n >= 0, "a whole number >= 0") ?? 1000;
  const seed = num(values.seed, "seed", Number.isInteger, "an integer") ?? 0;
  const interval = num(values.interval, "interval", (n) => n > 0 && n < 1, "a number in (0, 1)") ?? 0.8;
  const cap = num(values.cap, "cap", () => true, "a number");
  const floor = num(values.floor, "floor", () => true, "a number");
  const cps = num(values["changepoint-prior-scale"], "changepoint-prior-scale", (n) => n > 0, "a number > 0");
  const path = (p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));

  const records: LogRecord[] = [];
  const logger = createLogger({ labels: { component: "forecast" }, sink: { write: (r) => records.push(r) } });
  try {
    const series = readSeriesCsv(path(values.input as string));
    if (growth === "logistic") {
      if (cap !== undefined) series.cap = series.ds.map(() => cap);
      if (floor !== undefined) series.floor = series.ds.map(() => floor);
      if (!series.cap)
        throw new NonRetriableError(`${values.input}: logistic growth needs a cap column or --cap`, {
          field: "cap",
          fix: "add a cap column or pass --cap X",
        });
    }
    const options: ProphetOptions = {
      growth,
      seasonalityMode: mode,
      yearlySeasonality: seasonality(values.yearly, "yearly"),
      weeklySeasonality: seasonality(values.weekly, "weekly"),
      dailySeasonality: seasonality(values.daily, "daily"),
      intervalWidth: interval,
      uncertaintySamples: samples,
      optimizer,
    };
    if (cps !== undefined) options.changepointPriorScale = cps;
    if (values.holidays) options.holidays = readHolidaysCsv(path(values.holidays));
    if (series.regressors) options.regressors = Object.keys(series.regressors).map((name) => ({ name }));
    if (series.regressors && periods > 0) {
      throw new NonRetriableError(
        `${values.input}: extra columns (${Object.keys(series.regressors).join(", ")}) would be regressors, which need future values`,
        {
          field: "input",
          fix: "keep only ds,y (and cap, floor) in the input, or use --periods 0",
        },
      );
    }
    const fit = fitSeries(series, options, { logger, id: values.input });
    const forecast = forecastSeries(fit, {
      periods,
      samples,
      seed,
      intervalWidth: interval,
      cap: cap ?? (series.cap ? series.cap[series.cap.length - 1] : undefined),
      floor: floor ?? (series.floor ? series.floor[series.floor.length - 1] : undefined),
      regressors: series.regressors,
      keepSamples: values.svg !== undefined && samples > 0,
    });
    const lines = ["ds,yhat,yhat_lower,yhat_upper"];
    for (let i = 0; i < forecast.ds.length; i++) {
      lines.push(
        `${forecast.ds[i]},${formatNumber(forecast.yhat[i])},${formatNumber(forecast.yhatLower[i])},${formatNumber(forecast.yhatUpper[i])}`,
      );
    }
    writeFileSync(path(values.output as string), `${lines.join("\n")}\n`);
    if (values.svg) {
      const hist = { days: series.ds.map((d, i) => parseDs(d, `ds[${i}]`)), y: Array.from(series.y) };
      writeFileSync(path(values.svg), fanChartSvg(hist, forecast, { title: `${values.input}: ${fit.kind}` }));
    }
    io.stdout.write(
      `${values.output}: ${forecast.ds.length} rows (${forecast.ds.length - periods} history + ${periods} future), model ${fit.kind}${fit.reason ? ` (fallback: ${fit.reason})` : ""}, ${fit.ms.toFixed(0)} ms fit\n`,
    );
    for (const w of fit.warnings) io.stderr.write(`warning: ${w}\n`);
    return 0;
  } catch (err) {
    if (err instanceof NonRetriableError) {
      io.stderr.write(`tessera forecast fit: ${reasonOf(err)}\n`);
      return 1;
    }
    throw err;
  }
}
