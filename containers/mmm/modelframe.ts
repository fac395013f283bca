import { NonRetriableError } from "../../shared/core/errors.ts";
import { exposureInSpendUnits } from "./exposure.ts";
import { closestRow, type ModelFrame } from "./frame.ts";

/**
 * Builds Robyn's model frame `dt_mod` (`robyn_engineering`): `ds, dep_var, prophet vars, context vars, all media`,
 * where exposure metrics are rescaled into spend units over the window and factor context/organic variables are
 * replaced by their Prophet regressor component (Robyn adds them to Prophet with `add_regressor` and keeps the summed
 * component shifted to min 0). The Prophet decomposition itself (trend, season, monthly, weekday, holiday, factor
 * components; in-sample, fitted on the whole series) is an input: it comes from the forecast engine.
 */
export interface FrameRoles {
  depVar: string;
  paidMediaSpends: string[];
  /** Exposure metric per spend (defaults to the spend column). */
  paidMediaVars?: string[];
  organicVars?: string[];
  contextVars?: string[];
  /** Subset of context/organic that are factors: taken from `baseline[name]`. */
  factorVars?: string[];
  prophetVars?: string[];
  window?: { start?: string; end?: string };
}

export function buildModelFrame(
  raw: ModelFrame,
  roles: FrameRoles,
  baseline: Record<string, ArrayLike<number>>,
): ModelFrame {
  const n = raw.dates.length;
  const col = (name: string, role: string): ArrayLike<number> => {
    const c = raw.columns[name];
    if (!c) throw new NonRetriableError(`input data has no column "${name}" (${role})`, { field: role });
    return c;
  };
  const base = (name: string): ArrayLike<number> => {
    const c = baseline[name];
    if (!c || c.length !== n) {
      throw new NonRetriableError(`the Prophet decomposition lacks "${name}" for all ${n} rows`, {
        field: "prophet_vars",
      });
    }
    return c;
  };
  const ws = roles.window?.start ? closestRow(raw.dates, roles.window.start) : 0;
  const we = (roles.window?.end ? closestRow(raw.dates, roles.window.end) : n - 1) + 1;
  const factors = new Set(roles.factorVars ?? []);
  const columns: Record<string, Float64Array> = { dep_var: Float64Array.from(col(roles.depVar, "dep_var")) };
  for (const p of roles.prophetVars ?? []) columns[p] = Float64Array.from(base(p));
  for (const c of roles.contextVars ?? [])
    columns[c] = Float64Array.from(factors.has(c) ? base(c) : col(c, "context_vars"));
  roles.paidMediaSpends.forEach((spend, i) => {
    const v = roles.paidMediaVars?.[i] ?? spend;
    const s = col(spend, "paid_media_spends");
    columns[v] =
      v === spend ? Float64Array.from(s) : exposureInSpendUnits(col(v, "paid_media_vars"), s, ws, we);
  });
  for (const o of roles.organicVars ?? [])
    columns[o] = Float64Array.from(factors.has(o) ? base(o) : col(o, "organic_vars"));
  return { dates: [...raw.dates], columns };
}

/** Window spend totals per paid media var (the `spend_totals` of a model spec). */
export function windowSpendTotals(raw: ModelFrame, roles: FrameRoles): Record<string, number> {
  const ws = roles.window?.start ? closestRow(raw.dates, roles.window.start) : 0;
  const we = (roles.window?.end ? closestRow(raw.dates, roles.window.end) : raw.dates.length - 1) + 1;
  const out: Record<string, number> = {};
  roles.paidMediaSpends.forEach((spend, i) => {
    const c = raw.columns[spend];
    let s = 0;
    for (let r = ws; r < we; r++) s += c[r];
    out[roles.paidMediaVars?.[i] ?? spend] = s;
  });
  return out;
}
