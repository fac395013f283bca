import { z } from "zod";
import { NonRetriableError } from "../../shared/core/errors.ts";
import type { ModelSpec } from "./model.ts";

/**
 * The JSON model spec of `tessera mmm evaluate` (snake_case as Robyn names things): roles of the frame's columns,
 * adstock type, window, hyperparameters (Robyn names, `lambda` is the hyperparameter in [0,1]) and each paid channel's
 * window spend total for DECOMP.RSSD. Hyperparameter ranges (`[lo, hi]`) are accepted for searches.
 */
const sign = z.enum(["positive", "negative", "default"]);
const hyperValue = z.union([z.number(), z.tuple([z.number(), z.number()])]);

export const modelSpecSchema = z
  .object({
    dep_var: z.string().default("dep_var"),
    dep_var_type: z.enum(["revenue", "conversion"]).default("revenue"),
    date_var: z.string().default("ds"),
    prophet_vars: z.array(z.string()).default([]),
    context_vars: z.array(z.string()).default([]),
    paid_media_vars: z.array(z.string()).min(1),
    paid_media_spends: z.array(z.string()).optional(),
    organic_vars: z.array(z.string()).default([]),
    adstock: z.enum(["geometric", "weibull_cdf", "weibull_pdf"]),
    window_start: z.string().optional(),
    window_end: z.string().optional(),
    hyperparameters: z.record(z.string(), hyperValue),
    spend_totals: z.record(z.string(), z.number().nonnegative()).optional(),
    signs: z.record(z.string(), sign).optional(),
    intercept_sign: z.enum(["non_negative", "unconstrained"]).default("non_negative"),
    rssd_zero_penalty: z.boolean().default(true),
    ts_validation: z.boolean().default(false),
    calibration: z
      .array(
        z.object({
          channel: z.string(),
          liftStartDate: z.string(),
          liftEndDate: z.string(),
          liftAbs: z.number(),
          calibration_scope: z.enum(["immediate", "total"]).default("immediate"),
        }),
      )
      .optional(),
  })
  .strict();

export type ModelSpecJson = z.input<typeof modelSpecSchema>;

export interface ParsedSpec {
  spec: ModelSpec;
  /** Fixed values. */
  fixed: Record<string, number>;
  /** Ranges to search. */
  ranges: Record<string, [number, number]>;
}

/** Validates a spec object; errors name the field and the source. */
export function parseModelSpec(input: unknown, source = "spec"): ParsedSpec {
  const r = modelSpecSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.join(".");
    throw new NonRetriableError(`${source}: ${field || "(root)"}: ${issue.message}`, {
      field,
      fix: "see `tessera mmm --help` for the spec fields",
    });
  }
  const s = r.data;
  const fixed: Record<string, number> = {};
  const ranges: Record<string, [number, number]> = {};
  for (const [k, v] of Object.entries(s.hyperparameters)) {
    if (Array.isArray(v)) {
      if (!(v[0] <= v[1]))
        throw new NonRetriableError(`${source}: hyperparameters.${k}: range [${v}] is reversed`, {
          field: `hyperparameters.${k}`,
        });
      if (v[0] === v[1]) fixed[k] = v[0];
      else ranges[k] = [v[0], v[1]];
    } else fixed[k] = v;
  }
  const spec: ModelSpec = {
    depVar: s.dep_var,
    depVarType: s.dep_var_type,
    dateVar: s.date_var,
    prophetVars: s.prophet_vars,
    contextVars: s.context_vars,
    paidMediaVars: s.paid_media_vars,
    paidMediaSpends: s.paid_media_spends,
    organicVars: s.organic_vars,
    adstock: s.adstock,
    window: { start: s.window_start, end: s.window_end },
    spendTotals: s.spend_totals,
    signs: s.signs,
    interceptSign: s.intercept_sign,
    rssdZeroPenalty: s.rssd_zero_penalty,
    tsValidation: s.ts_validation,
    calibration: s.calibration?.map((c) => ({ ...c, calibrationScope: c.calibration_scope })),
  };
  return { spec, fixed, ranges };
}
