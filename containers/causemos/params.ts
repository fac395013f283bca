import { z } from "zod";

/** The output tasks a run can be limited to (`selected_output_tasks`); record_results runs only with all of them. */
export const OUTPUT_TASKS = [
  "compute_global_timeseries",
  "compute_regional_stats",
  "compute_regional_timeseries",
  "compute_regional_aggregation",
  "compute_tiles",
] as const;
export type OutputTask = (typeof OUTPUT_TASKS)[number];

const buildQualifierThresholds = () =>
  z.strictObject({
    max_count: z.number().int().min(0).default(10_000),
    regional_timeseries_count: z.number().int().min(0).default(100),
    regional_timeseries_max_level: z.number().int().min(0).max(3).default(1),
  });
let qualifierThresholds: ReturnType<typeof buildQualifierThresholds> | undefined;
const qualifierThresholdsObject = () => (qualifierThresholds ??= buildQualifierThresholds());
export const QualifierThresholds = z.lazy(qualifierThresholdsObject);

/**
 * The original flow's parameters, same names and defaults, as a ZodObject (`causemosParamsObject()`, for
 * `.extend`/`.shape`) built on first use: every deployed function bundle holds the registry, and most never
 * parse these params, so a cold start does not build the schema.
 */
const buildCausemosParams = () =>
  z.strictObject({
    model_id: z.string().min(1),
    run_id: z.string().min(1),
    data_paths: z.array(z.string().min(1)).min(1),
    raw_count_threshold: z.number().int().min(0).default(10_000),
    is_indicator: z.boolean().default(false),
    qualifier_map: z.record(z.string(), z.array(z.string())).default({}),
    indicator_bucket: z.string().min(1).optional(),
    model_bucket: z.string().min(1).optional(),
    fill_timestamp: z.number().default(0),
    weight_column: z.string().default(""),
    selected_output_tasks: z.array(z.enum(OUTPUT_TASKS)).nullable().default(null),
    qualifier_thresholds: qualifierThresholdsObject().default({
      max_count: 10_000,
      regional_timeseries_count: 100,
      regional_timeseries_max_level: 1,
    }),
  });
let causemosParams: ReturnType<typeof buildCausemosParams> | undefined;
export const causemosParamsObject = () => (causemosParams ??= buildCausemosParams());
export const CausemosParams = z.lazy(causemosParamsObject);
export type CausemosParams = z.infer<typeof CausemosParams>;
export type CausemosParamsInput = z.input<typeof CausemosParams>;

/** Where Dojo model outputs are read from in the data bucket: `<prefix><model_id>/<run_id>/output.parquet`. */
export const DOJO_PREFIX = "causemos/dojo/";
