/**
 * Variable roles and the mapping page's suggestions, by column name and type, as the original app's mapping
 * page tagged columns: spends by `_S`/`_COST`/`_SPEND` suffixes, exposures (`_I`, `_IMPRESSIONS`, `_CLICKS`,
 * `_P`, `_GRPS`) paired with the spend of the same channel prefix, organic by name, text columns as factors.
 * Shared by the server (suggestions, config building) and the page (no Node imports here).
 */

export const ROLES = [
  "ignore",
  "date",
  "dep_var",
  "paid_media_spends",
  "paid_media_vars",
  "organic_vars",
  "context_vars",
  "factor_vars",
] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_LABELS: Record<Role, string> = {
  ignore: "not used",
  date: "date",
  dep_var: "dependent variable (revenue or conversions)",
  paid_media_spends: "paid media spend",
  paid_media_vars: "paid media exposure (of the spend with the same prefix)",
  organic_vars: "organic",
  context_vars: "context",
  factor_vars: "context factor (categorical)",
};

export type ColumnType = "date" | "number" | "text";

export interface ColumnInfo {
  name: string;
  type: ColumnType;
  distinct: number;
  missing: number;
  sample: string[];
}

const DATE_NAMES = ["DATE", "DS", "DAY", "WEEK", "PERIOD", "DT", "DATUM", "FECHA", "DATA"];
const DEP_NAMES = /^(REVENUE|SALES|UPLOAD_VALUE|CONVERSIONS?|ORDERS|GMV|TURNOVER|INSTALLS)$/;
const SPEND = /(_S|_COSTS?|_SPEND|_SPENDS)$/;
const EXPOSURE = /(_I|_IMPRESSIONS|_IMPR|_CLICKS|_P|_GRPS?|_REACH)$/;
const ORGANIC = /^(NEWSLETTER|ORGANIC_.*|.*_TRAFFIC|SEO.*|EMAIL.*|PUSH.*|N_SEARCHES)$/;
const CONTEXT = /^(COMPETITOR.*|.*_B|IS_WEEKEND|DOW|HOLIDAY.*|PROMO.*|PRICE.*|TV_IS_ON)$/;
const IGNORE = /^(COUNTRY|COUNTRY_CODE|MARKET|COUNTRY_ISO|LOCALE)$/;

/** The channel prefix of a spend or exposure column: `FACEBOOK_S` and `FACEBOOK_I` -> `FACEBOOK`. */
export function channelOf(name: string): string {
  const u = name.toUpperCase();
  const m = SPEND.exec(u) ?? EXPOSURE.exec(u);
  return m ? u.slice(0, m.index) : u;
}

/** Whether an exposure column belongs to a spend: same channel, or the spend's channel plus a suffix (SEARCH_CLICKS_P of SEARCH_S). */
export function exposureOf(exposure: string, spend: string): boolean {
  const e = channelOf(exposure);
  const s = channelOf(spend);
  return e === s || e.startsWith(`${s}_`);
}

/** A role per column, by name first, then by type. */
export function suggestRoles(columns: ColumnInfo[], dateVar?: string): Record<string, Role> {
  const out: Record<string, Role> = {};
  const upper = (c: ColumnInfo) => c.name.toUpperCase();
  const date =
    columns.find((c) => dateVar && upper(c) === dateVar.toUpperCase()) ??
    columns.find((c) => DATE_NAMES.includes(upper(c)) && c.type === "date") ??
    columns.find((c) => c.type === "date");
  const spends = columns.filter((c) => c.type === "number" && SPEND.test(upper(c))).map((c) => upper(c));
  let dep = columns.find((c) => c.type === "number" && DEP_NAMES.test(upper(c)));
  for (const c of columns) {
    const n = upper(c);
    let role: Role = "ignore";
    if (c === date) role = "date";
    else if (IGNORE.test(n)) role = "ignore";
    else if (c === dep) role = "dep_var";
    else if (c.type === "text") role = c.distinct > 1 ? "factor_vars" : "ignore";
    else if (c.type !== "number") role = "ignore";
    else if (SPEND.test(n)) role = "paid_media_spends";
    else if (EXPOSURE.test(n) && spends.some((sp) => exposureOf(n, sp))) role = "paid_media_vars";
    else if (ORGANIC.test(n)) role = "organic_vars";
    else if (CONTEXT.test(n)) role = "context_vars";
    else if (!dep) {
      dep = c;
      role = "dep_var";
    } else role = c.distinct > 1 ? "context_vars" : "ignore";
    out[c.name] = role;
  }
  return out;
}

export interface MappedRoles {
  date_var: string;
  dep_var: string;
  paid_media_spends: string[];
  paid_media_vars?: string[];
  organic_vars: string[];
  context_vars: string[];
  factor_vars: string[];
}

/**
 * The job config's variable fields from a role per column. An exposure replaces its channel's spend in
 * paid_media_vars (same order as the spends); a factor is also a context variable, as Robyn wants.
 * Problems name the column, as `{field, message}`.
 */
export function rolesToConfig(
  roles: Record<string, Role>,
): { ok: true; value: MappedRoles } | { ok: false; field: string; message: string } {
  const of = (r: Role) => Object.keys(roles).filter((k) => roles[k] === r);
  const dates = of("date");
  if (dates.length !== 1)
    return { ok: false, field: "date", message: `choose exactly one date column (now ${dates.length})` };
  const deps = of("dep_var");
  if (deps.length !== 1)
    return {
      ok: false,
      field: "dep_var",
      message: `choose exactly one dependent variable (now ${deps.length})`,
    };
  const spends = of("paid_media_spends");
  if (spends.length === 0)
    return { ok: false, field: "paid_media_spends", message: "choose at least one paid media spend column" };
  const exposures = of("paid_media_vars");
  const vars = spends.map((s) => s);
  for (const e of exposures) {
    const i = spends.findIndex((s) => exposureOf(e, s));
    if (i < 0)
      return {
        ok: false,
        field: e,
        message: `exposure ${e} has no spend column of channel ${channelOf(e)}`,
      };
    if (vars[i] !== spends[i])
      return {
        ok: false,
        field: e,
        message: `channel ${channelOf(e)} has two exposures: ${vars[i]} and ${e}`,
      };
    vars[i] = e;
  }
  const factors = of("factor_vars");
  return {
    ok: true,
    value: {
      date_var: dates[0],
      dep_var: deps[0],
      paid_media_spends: spends,
      paid_media_vars: exposures.length > 0 ? vars : undefined,
      organic_vars: of("organic_vars"),
      context_vars: [...of("context_vars"), ...factors],
      factor_vars: factors,
    },
  };
}

/** The original's skip rules and data-preparation rules, as the review page states them before a run. */
export const SKIP_RULES = [
  "The run is SKIPPED (not failed) when the dependent variable is missing or has at most one distinct value in the window.",
  "The run is SKIPPED when none of the paid media spend columns is in the data, or every one of them is constant in the window.",
  "Column names are upper-cased; rows of other countries are dropped when the data has a COUNTRY column.",
  "Duplicate dates are summed; missing numeric values count as 0.",
  "With resampling (W or M), columns are aggregated per the column strategies (default sum).",
];
