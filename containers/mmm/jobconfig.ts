import { z } from "zod";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { AdstockType } from "./transform.ts";

/**
 * The training job config, as the original app's `run_all.R` read it (snake_case, same defaults): country,
 * revision, date range, dependent variable, variable roles (CSV strings or arrays), adstock, iterations, trials,
 * hyperparameter preset or custom ranges, allocator scenario; plus Tessera's `seed`, `source` (where the data
 * comes from) and `queue`. Variable names are upper-cased, as the original upper-cased the data's columns.
 */

export const PRESETS = ["Meshed recommend", "Facebook recommend", "Custom"] as const;

/**
 * The schemas, built on first use (`z.lazy`): every deployed function bundle holds the registry, whose mmm
 * params are the job config, and most never parse one, so a cold start does not build them.
 */
function buildSchemas() {
  const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a YYYY-MM-DD date");
  const names = z
    .union([z.string(), z.array(z.string())])
    .transform((v) =>
      (typeof v === "string" ? v.split(",") : v).map((s) => s.trim().toUpperCase()).filter(Boolean),
    );
  const range = z.tuple([z.number(), z.number()]);

  const DataSource = z.discriminatedUnion("kind", [
    /** A warehouse table (BigQuery on GCP, DuckDB locally): `dataset.table`. */
    z.strictObject({
      kind: z.literal("warehouse"),
      table: z.string().regex(/^[A-Za-z_][\w]*\.[A-Za-z_][\w]*$/),
    }),
    /** Snowflake: a table (`DB.SCHEMA.TABLE`) or a SQL query. */
    z
      .strictObject({
        kind: z.literal("snowflake"),
        table: z.string().optional(),
        query: z.string().optional(),
        account: z.string().optional(),
        user: z.string().optional(),
        warehouse: z.string().optional(),
        database: z.string().optional(),
        schema: z.string().optional(),
        role: z.string().optional(),
      })
      .refine((s) => Boolean(s.table) !== Boolean(s.query), "give exactly one of table or query"),
  ]);

  const JobConfig = z
    .strictObject({
      country: z
        .string()
        .regex(/^[A-Za-z]{2}$/, "must be a two-letter country code")
        .transform((c) => c.toLowerCase()),
      revision: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,40}$/, "must be 1-40 letters, digits, '.', '_' or '-'")
        .default("api-test"),
      date_var: z
        .string()
        .default("date")
        .transform((s) => s.toUpperCase()),
      start_date: day.default("2024-01-01"),
      end_date: day.optional(),
      dep_var: z
        .string()
        .default("UPLOAD_VALUE")
        .transform((s) => s.toUpperCase()),
      dep_var_type: z.enum(["revenue", "conversion"]).default("revenue"),
      iterations: z.number().int().min(1).max(10_000).default(2000),
      trials: z.number().int().min(1).max(20).default(5),
      train_size: range.optional(),
      seed: z.number().int().min(0).default(123),
      adstock: z.enum(["geometric", "weibull_cdf", "weibull_pdf"]).default("geometric"),
      hyperparameter_preset: z.enum(PRESETS).default("Meshed recommend"),
      custom_hyperparameters: z.record(z.string(), range).default({}),
      resample_freq: z.enum(["none", "W", "M"]).default("none"),
      /** Per-column aggregation when resampling (default sum); a JSON string or an object, as the original. */
      column_agg_strategies: z
        .union([
          z.string().transform((s, ctx) => {
            try {
              return JSON.parse(s) as unknown;
            } catch {
              ctx.addIssue({ code: "custom", message: "is not JSON" });
              return z.NEVER;
            }
          }),
          z.record(z.string(), z.unknown()),
        ])
        .pipe(z.record(z.string(), z.enum(["sum", "mean", "max", "min", "last"])))
        .transform((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toUpperCase(), v])))
        .default({}),
      paid_media_spends: names,
      paid_media_vars: names.optional(),
      context_vars: names.default([]),
      factor_vars: names.default([]),
      organic_vars: names.default([]),
      source: DataSource.default({ kind: "warehouse", table: "mmm.demo_weekly" }),
      /**
       * The allocator: `max_historical_response` (historical spend re-allocated), `max_response` /
       * `max_response_expected_spend` (expected_spend allocated), `target_efficiency` (the largest response at
       * `target_value` ROAS or CPA; default 0.8 × historical ROAS or 1.2 × historical CPA).
       */
      budget_scenario: z
        .enum(["max_historical_response", "max_response", "max_response_expected_spend", "target_efficiency"])
        .default("max_historical_response"),
      /** Total spend over the last 365 days of data to allocate (the original's total_budget). */
      expected_spend: z.number().positive().optional(),
      target_value: z.number().positive().optional(),
      channel_budgets: z.record(z.string(), z.number().nonnegative()).optional(),
      calibration: z
        .array(
          z.strictObject({
            channel: z.string(),
            liftStartDate: day,
            liftEndDate: day,
            liftAbs: z.number(),
            calibration_scope: z.enum(["immediate", "total"]).default("immediate"),
          }),
        )
        .optional(),
      /** Runs of one queue train one at a time, in order. */
      queue: z
        .string()
        .regex(/^[a-z0-9-]{1,40}$/)
        .default("default"),
    })
    .superRefine((c, ctx) => {
      const end = c.end_date ?? new Date().toISOString().slice(0, 10);
      if (c.start_date >= end)
        ctx.addIssue({
          code: "custom",
          path: ["end_date"],
          message: `must be after start_date ${c.start_date}`,
        });
      if (c.paid_media_spends.length === 0)
        ctx.addIssue({ code: "custom", path: ["paid_media_spends"], message: "needs at least one channel" });
      if (c.paid_media_vars && c.paid_media_vars.length !== c.paid_media_spends.length)
        ctx.addIssue({
          code: "custom",
          path: ["paid_media_vars"],
          message: `has ${c.paid_media_vars.length} names for ${c.paid_media_spends.length} paid_media_spends`,
        });
      for (const f of c.factor_vars)
        if (![...c.context_vars, ...c.organic_vars].includes(f))
          ctx.addIssue({
            code: "custom",
            path: ["factor_vars"],
            message: `${f} is not a context or organic var`,
          });
    });
  return { DataSource, JobConfig };
}
let schemas: ReturnType<typeof buildSchemas> | undefined;
const schemasOf = () => (schemas ??= buildSchemas());

export const DataSource = z.lazy(() => schemasOf().DataSource);
export type DataSource = z.infer<typeof DataSource>;

export const JobConfig = z.lazy(() => schemasOf().JobConfig);
export type JobConfig = z.output<typeof JobConfig>;
export type JobConfigInput = z.input<typeof JobConfig>;

/** The small demo `npm start` trains: Robyn's simulated weekly data, few iterations. */
export const DEMO_CONFIG: JobConfigInput = {
  country: "de",
  revision: "demo",
  date_var: "DATE",
  start_date: "2016-01-04",
  end_date: "2018-12-31",
  dep_var: "REVENUE",
  iterations: 300,
  trials: 2,
  // Robyn's own demo ranges suit Robyn's simulated data.
  hyperparameter_preset: "Facebook recommend",
  paid_media_spends: ["TV_S", "OOH_S", "PRINT_S", "FACEBOOK_S", "SEARCH_S"],
  context_vars: ["COMPETITOR_SALES_B"],
  organic_vars: ["NEWSLETTER"],
  source: { kind: "warehouse", table: "mmm.demo_weekly" },
};

/** Validates a job config; the first problem names its field. */
export function parseJobConfig(input: unknown, source = "job config"): JobConfig {
  const r = JobConfig.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.join(".") || "(root)";
    throw new NonRetriableError(`${source}: ${field}: ${issue.message}`, {
      field,
      fix: "see docs: mmm job config fields (country, iterations 1-10000, trials 1-20, YYYY-MM-DD dates, ...)",
    });
  }
  return r.data;
}

/** The media variables the model sees: exposure vars where given, else the spends, then organic vars. */
export function mediaOf(c: JobConfig): { paid: string[]; organic: string[] } {
  return { paid: c.paid_media_vars ?? c.paid_media_spends, organic: c.organic_vars };
}

/**
 * Hyperparameter ranges from the preset (by variable name, as the original's presets), overridden by
 * `custom_hyperparameters` (Robyn names `{VAR}_thetas` ...). lambda stays at Robyn's default [0, 1];
 * train_size comes from the config or Robyn's [0.5, 0.8] with ts_validation.
 */
export function hyperparameterRanges(c: JobConfig): Record<string, [number, number]> {
  const { paid, organic } = mediaOf(c);
  const out: Record<string, [number, number]> = {};
  const adstock: AdstockType = c.adstock;
  for (const v of [...paid, ...organic]) {
    const p = presetFor(c.hyperparameter_preset, v, organic.includes(v));
    out[`${v}_alphas`] = p.alphas;
    out[`${v}_gammas`] = p.gammas;
    if (adstock === "geometric") out[`${v}_thetas`] = p.thetas;
    else {
      out[`${v}_shapes`] = [0.5, 2.5];
      out[`${v}_scales`] = [0.001, 0.15];
    }
  }
  if (c.train_size) out.train_size = c.train_size;
  for (const [k, v] of Object.entries(c.custom_hyperparameters)) {
    const key = k.replace(
      /^(.*)_(alphas|gammas|thetas|shapes|scales)$/,
      (_, n, s) => `${n.toUpperCase()}_${s}`,
    );
    if (!(key in out) && key !== "lambda" && key !== "train_size")
      throw new NonRetriableError(`custom_hyperparameters.${k}: not a hyperparameter of this model`, {
        field: `custom_hyperparameters.${k}`,
        fix: `use one of ${Object.keys(out).join(", ")}`,
      });
    if (!(v[0] <= v[1]))
      throw new NonRetriableError(`custom_hyperparameters.${k}: range [${v}] is reversed`, {
        field: `custom_hyperparameters.${k}`,
      });
    out[key] = v;
  }
  return out;
}

type Preset = { alphas: [number, number]; gammas: [number, number]; thetas: [number, number] };

function presetFor(preset: (typeof PRESETS)[number], v: string, organic: boolean): Preset {
  if (preset === "Facebook recommend") {
    const thetas: [number, number] = /TV/.test(v)
      ? [0.3, 0.8]
      : /FACEBOOK|SEARCH/.test(v)
        ? [0, 0.3]
        : [0.1, 0.4];
    return { alphas: [0.5, 3], gammas: [0.3, 1], thetas };
  }
  // "Meshed recommend" (and the base of "Custom"): by variable name, default alphas 1-3, gammas .6-.9, thetas .1-.4.
  if (v === "TV_COST") return { alphas: [0.8, 2.2], gammas: [0.6, 0.99], thetas: [0.7, 0.95] };
  if (v === "ORGANIC_TRAFFIC" || (organic && /TRAFFIC/.test(v)))
    return { alphas: [1, 3], gammas: [0.6, 0.9], thetas: [0.9, 0.99] };
  return { alphas: [1, 3], gammas: [0.6, 0.9], thetas: [0.1, 0.4] };
}
