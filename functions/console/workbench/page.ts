/// <reference lib="dom" />
import { errorBox, h, progressBar, stateBadge, table } from "../client/dom.ts";
import { ROLE_LABELS, ROLES, type Role, rolesToConfig } from "./mapping.ts";

/**
 * The MMM workbench, in the original app's page order (routes `#/mmm/<step>`):
 *   connect  a warehouse table or Snowflake (table or SQL; the private key uploaded once, stored server-side)
 *   map      a role per column, suggested by name and type
 *   review   statistics of the mapped variables, zero-variance and missing-value warnings, the skip rules
 *   run      the job config form with presets, validated by the API's own rules, queued
 *   results  status and progress; Pareto front, candidates by NRMSE / DECOMP.RSSD, one-pagers, response
 *            curves, allocator
 *   best     a country's best model per run over time
 * What the steps share (source, preview, roles, config; never the key) lives in sessionStorage.
 */

type Api = (path: string, init?: RequestInit) => Promise<unknown>;

interface Column {
  name: string;
  type: string;
  distinct: number;
  missing: number;
  sample: string[];
}

interface Preview {
  rows: number;
  columns: Column[];
  suggestions: Record<string, Role>;
  date_range: { start: string; end: string } | null;
  countries: string[];
}

interface State {
  source?: Record<string, unknown>;
  preview?: Preview;
  roles?: Record<string, Role>;
  form?: Record<string, string>;
}

const KEY = "tessera-mmm-workbench";
const STEPS: [string, string][] = [
  ["connect", "1. Connect data"],
  ["map", "2. Map variables"],
  ["review", "3. Review data"],
  ["run", "4. Prepare and run"],
  ["results", "5. Results"],
  ["best", "6. Best models"],
];

function load(): State {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "{}") as State;
  } catch {
    return {};
  }
}

function save(s: State): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

const post = (api: Api, path: string, body: unknown) =>
  api(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

const fmt = (v: unknown, digits = 4) =>
  typeof v === "number" && Number.isFinite(v)
    ? Math.abs(v) >= 1000
      ? v.toLocaleString("en", { maximumFractionDigits: 0 })
      : v.toFixed(digits)
    : "–";

function row(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h(
    "div",
    { class: "form-row" },
    h("label", { for: control.id }, label),
    control,
    hint ? h("small", { class: "muted", id: `${control.id}-hint` }, hint) : null,
  );
}

function input(
  id: string,
  value: string,
  attrs: Record<string, string | number | boolean> = {},
): HTMLInputElement {
  return h("input", { id, name: id, value, ...attrs });
}

function select(id: string, options: [string, string][], value: string): HTMLSelectElement {
  const s = h(
    "select",
    { id, name: id },
    options.map(([v, t]) => h("option", { value: v }, t)),
  );
  s.value = value;
  return s;
}

function status(el: HTMLElement, content: Node | string | null): void {
  el.replaceChildren(...(content === null ? [] : [content]));
}

function needs(root: HTMLElement, what: string, step: string, label: string): void {
  root.append(h("p", { class: "muted" }, `${what} first: `, h("a", { href: `#/mmm/${step}` }, label), "."));
}

/** Mounts the workbench's step `subpath` (e.g. `results?run=ID`) into `root`. */
export async function mountWorkbench(root: HTMLElement, subpath: string, api: Api): Promise<void> {
  const [stepRaw, query = ""] = subpath.split("?");
  const step = stepRaw.replace(/\/+$/, "") || "connect";
  const params = new URLSearchParams(query);
  const body = h("div", { class: "workbench-body" });
  root.replaceChildren(
    h("h1", null, `MMM workbench: ${STEPS.find(([s]) => s === step)?.[1].replace(/^\d\. /, "") ?? step}`),
    h(
      "nav",
      { class: "tabs", "aria-label": "Workbench steps" },
      h(
        "ul",
        null,
        STEPS.map(([s, label]) =>
          h("li", null, h("a", { href: `#/mmm/${s}`, "aria-current": s === step ? "page" : null }, label)),
        ),
      ),
    ),
    body,
  );
  try {
    if (step === "connect") await connectStep(body, api);
    else if (step === "map") mapStep(body);
    else if (step === "review") await reviewStep(body, api);
    else if (step === "run") await runStep(body, api);
    else if (step === "results") await resultsStep(body, api, params.get("run"));
    else if (step === "best") await bestStep(body, api, params.get("country"));
    else
      body.append(h("p", null, `No workbench step "${step}". `, h("a", { href: "#/mmm/connect" }, "Start")));
  } catch (err) {
    body.append(errorBox(err));
  }
}

// ---------------------------------------------------------------- 1. connect

async function connectStep(root: HTMLElement, api: Api): Promise<void> {
  const state = load();
  const info = (await api("/sources")) as {
    warehouse: { tables: string[] };
    snowflake: {
      key_stored: boolean;
      fingerprint: string | null;
      account: string | null;
      user: string | null;
    };
  };
  const src = (state.source ?? {}) as Record<string, string>;
  const kind = src.kind === "snowflake" ? (src.query ? "snowflake-query" : "snowflake-table") : "warehouse";
  const radios = (["warehouse", "snowflake-table", "snowflake-query"] as const).map((k) =>
    h(
      "label",
      { class: "inline" },
      h("input", { type: "radio", name: "wb-kind", value: k, checked: k === kind }),
      ` ${{ warehouse: "Warehouse", "snowflake-table": "Snowflake (a table)", "snowflake-query": "Snowflake (an SQL query)" }[k]}`,
    ),
  );
  const table = input(
    "wb-table",
    src.kind === "warehouse" ? (src.table ?? "") : (info.warehouse.tables[0] ?? ""),
    {
      list: "wb-tables",
      placeholder: "dataset.table",
      autocomplete: "off",
    },
  );
  const tablesList = h(
    "datalist",
    { id: "wb-tables" },
    info.warehouse.tables.map((t) => h("option", { value: t })),
  );
  const sf = {
    account: input("wb-sf-account", src.account ?? info.snowflake.account ?? ""),
    user: input("wb-sf-user", src.user ?? info.snowflake.user ?? ""),
    warehouse: input("wb-sf-warehouse", src.warehouse ?? ""),
    database: input("wb-sf-database", src.database ?? ""),
    schema: input("wb-sf-schema", src.schema ?? ""),
    role: input("wb-sf-role", src.role ?? ""),
    table: input("wb-sf-table", src.kind === "snowflake" ? (src.table ?? "") : "", {
      placeholder: "DB.SCHEMA.TABLE",
    }),
    query: h("textarea", { id: "wb-sf-query", rows: 4, cols: 60 }, src.query ?? "") as HTMLTextAreaElement,
  };
  const keyStatus = h(
    "p",
    { id: "wb-key-status", role: "status" },
    info.snowflake.key_stored
      ? `A private key is stored (fingerprint ${info.snowflake.fingerprint}).`
      : "No private key stored yet.",
  );
  const keyFile = h("input", {
    id: "wb-key-file",
    type: "file",
    accept: ".p8,.pem,.key",
  }) as HTMLInputElement;
  const keyOut = h("div");
  const storeKey = h("button", { type: "button", class: "btn" }, "Store key");
  storeKey.addEventListener("click", async () => {
    status(keyOut, null);
    const f = keyFile.files?.[0];
    if (!f) {
      status(keyOut, errorBox({ message: "choose the key file first", field: "privateKey" }));
      return;
    }
    try {
      const r = (await post(api, "/secrets/snowflake", { privateKey: await f.text() })) as {
        fingerprint: string;
      };
      keyStatus.textContent = `A private key is stored (fingerprint ${r.fingerprint}).`;
      keyFile.value = "";
    } catch (err) {
      status(keyOut, errorBox(err));
    }
  });
  const wh = h(
    "div",
    { id: "wb-warehouse" },
    row("Warehouse table", table, "dataset.table, e.g. mmm.demo_weekly"),
    tablesList,
  );
  const snow = h(
    "div",
    { id: "wb-snowflake" },
    h(
      "div",
      { class: "form-grid" },
      row("Snowflake account", sf.account),
      row("User", sf.user),
      row("Compute warehouse", sf.warehouse),
      row("Database", sf.database),
      row("Schema", sf.schema),
      row("Role", sf.role),
    ),
    h("div", { id: "wb-sf-table-row" }, row("Snowflake table", sf.table)),
    h("div", { id: "wb-sf-query-row" }, row("SQL query", sf.query)),
    h(
      "fieldset",
      null,
      h("legend", null, "Key-pair authentication"),
      keyStatus,
      row("Private key file", keyFile, "uploaded once and kept in Secret Manager; never shown again"),
      h("div", { class: "form-actions" }, storeKey),
      keyOut,
    ),
  );
  const showKind = () => {
    const k = (radios.map((r) => r.querySelector("input") as HTMLInputElement).find((i) => i.checked)
      ?.value ?? "warehouse") as string;
    wh.hidden = k !== "warehouse";
    snow.hidden = k === "warehouse";
    (snow.querySelector("#wb-sf-table-row") as HTMLElement).hidden = k !== "snowflake-table";
    (snow.querySelector("#wb-sf-query-row") as HTMLElement).hidden = k !== "snowflake-query";
    return k;
  };
  for (const r of radios) r.addEventListener("change", showKind);
  showKind();
  const out = h("div", { id: "wb-preview", "aria-live": "polite" });
  const loadBtn = h("button", { type: "submit", class: "btn btn-primary" }, "Load data");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "wb-connect-h" },
    h("h2", { id: "wb-connect-h" }, "Data source"),
    h("fieldset", null, h("legend", null, "Source"), radios),
    wh,
    snow,
    h("div", { class: "form-actions" }, loadBtn),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const k = showKind();
    const opt = (el: HTMLInputElement | HTMLTextAreaElement) => el.value.trim() || undefined;
    const source =
      k === "warehouse"
        ? { kind: "warehouse", table: table.value.trim() }
        : {
            kind: "snowflake",
            account: opt(sf.account),
            user: opt(sf.user),
            warehouse: opt(sf.warehouse),
            database: opt(sf.database),
            schema: opt(sf.schema),
            role: opt(sf.role),
            ...(k === "snowflake-query" ? { query: opt(sf.query) } : { table: opt(sf.table) }),
          };
    status(out, h("p", { class: "muted" }, "Loading..."));
    loadBtn.setAttribute("disabled", "");
    try {
      const p = (await post(api, "/preview", { source })) as Preview;
      const s: State = { ...load(), source, preview: p, roles: p.suggestions };
      save(s);
      status(out, previewView(p));
    } catch (err) {
      status(out, errorBox(err));
    } finally {
      loadBtn.removeAttribute("disabled");
    }
  });
  root.append(form, out);
  if (state.preview) status(out, previewView(state.preview));
}

function previewView(p: Preview): HTMLElement {
  return h(
    "section",
    { class: "card", "aria-labelledby": "wb-prev-h" },
    h("h2", { id: "wb-prev-h" }, "Data loaded"),
    h(
      "p",
      null,
      `${p.rows} rows, ${p.columns.length} columns`,
      p.date_range ? `, ${p.date_range.start} to ${p.date_range.end}` : "",
      p.countries.length ? `, countries: ${p.countries.join(", ")}` : "",
      ".",
    ),
    table(
      "Columns",
      ["column", "type", "distinct", "missing", "sample"],
      p.columns.map((c) => [c.name, c.type, c.distinct, c.missing, c.sample.join(", ")]),
    ),
    h("p", null, h("a", { class: "btn btn-primary", href: "#/mmm/map" }, "Next: map variables")),
  );
}

// ---------------------------------------------------------------- 2. map

function mapStep(root: HTMLElement): void {
  const state = load();
  const p = state.preview;
  if (!p) {
    needs(root, "Load data", "connect", "connect data");
    return;
  }
  const roles: Record<string, Role> = { ...p.suggestions, ...(state.roles ?? {}) };
  const out = h("div", { "aria-live": "polite" });
  const rows = p.columns.map((c) => {
    const id = `wb-role-${c.name}`;
    const sel = select(
      id,
      ROLES.map((r) => [r, ROLE_LABELS[r]] as [string, string]),
      roles[c.name] ?? "ignore",
    );
    const note = h(
      "span",
      { class: "muted" },
      roles[c.name] === p.suggestions[c.name] ? " suggested" : " changed",
    );
    sel.addEventListener("change", () => {
      roles[c.name] = sel.value as Role;
      note.textContent = sel.value === p.suggestions[c.name] ? " suggested" : " changed";
      save({ ...load(), roles });
    });
    return h(
      "tr",
      null,
      h("th", { scope: "row" }, h("label", { for: id }, c.name)),
      h("td", null, c.type),
      h("td", null, c.sample.join(", ")),
      h("td", null, sel, note),
    );
  });
  const next = h("button", { type: "button", class: "btn btn-primary" }, "Next: review data");
  next.addEventListener("click", () => {
    const r = rolesToConfig(roles);
    if (!r.ok) {
      status(out, errorBox({ message: r.message, field: r.field }));
      (document.getElementById(`wb-role-${r.field}`) as HTMLElement | null)?.focus();
      return;
    }
    save({ ...load(), roles });
    location.hash = "#/mmm/review";
  });
  const reset = h("button", { type: "button", class: "btn" }, "Reset to suggestions");
  reset.addEventListener("click", () => {
    save({ ...load(), roles: p.suggestions });
    mapStep(root.replaceChildren() as unknown as HTMLElement);
  });
  root.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "wb-map-h" },
      h("h2", { id: "wb-map-h" }, "Variable roles"),
      h(
        "p",
        { class: "muted" },
        "Roles are suggested from each column's name and type: spends end in _S, _COST or _SPEND; exposures (_I, _P, _CLICKS, _IMPRESSIONS) belong to the spend with the same prefix; text columns are factors.",
      ),
      h(
        "div",
        { class: "table-wrap", role: "region", "aria-label": "Variable roles", tabindex: 0 },
        h(
          "table",
          { class: "data" },
          h("caption", null, "Columns and their roles"),
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["column", "type", "sample", "role"].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          h("tbody", null, rows),
        ),
      ),
      h("div", { class: "form-actions" }, reset, next),
      out,
    ),
  );
}

// ---------------------------------------------------------------- 3. review and 4. run: the config

function baseForm(state: State): Record<string, string> {
  const p = state.preview as Preview;
  return {
    country: p.countries[0] ?? "",
    revision: "workbench",
    start_date: p.date_range?.start ?? "",
    end_date: p.date_range?.end ?? "",
    dep_var_type: "revenue",
    adstock: "geometric",
    hyperparameter_preset: "Meshed recommend",
    run_preset: "quick",
    iterations: "200",
    trials: "2",
    seed: "123",
    resample_freq: "none",
    budget_scenario: "max_historical_response",
    expected_spend: "",
    target_value: "",
    queue: "default",
    ...(state.form ?? {}),
  };
}

/** The job config from the mapping and the form; numbers as numbers, empty optional fields left out. */
function buildConfig(state: State, form: Record<string, string>): Record<string, unknown> {
  const mapped = rolesToConfig(state.roles ?? {});
  if (!mapped.ok) throw Object.assign(new Error(mapped.message), { field: mapped.field });
  const n = (v: string) => (v.trim() === "" ? undefined : Number(v));
  const s = (v: string) => (v.trim() === "" ? undefined : v.trim());
  return {
    ...mapped.value,
    source: state.source,
    country: s(form.country),
    revision: s(form.revision),
    start_date: s(form.start_date),
    end_date: s(form.end_date),
    dep_var_type: form.dep_var_type,
    adstock: form.adstock,
    hyperparameter_preset: form.hyperparameter_preset,
    iterations: n(form.iterations),
    trials: n(form.trials),
    seed: n(form.seed),
    resample_freq: form.resample_freq,
    budget_scenario: form.budget_scenario,
    expected_spend: n(form.expected_spend),
    target_value: n(form.target_value),
    queue: s(form.queue),
  };
}

function markInvalid(root: HTMLElement, field: string | undefined): void {
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const el = field ? (root.querySelector(`#wb-${field.split(".")[0]}`) as HTMLElement | null) : null;
  if (el) {
    el.setAttribute("aria-invalid", "true");
    el.focus();
  }
}

async function reviewStep(root: HTMLElement, api: Api): Promise<void> {
  const state = load();
  if (!state.preview || !state.source) return needs(root, "Load data", "connect", "connect data");
  const form = baseForm(state);
  const country = input("wb-country", form.country, { list: "wb-countries", required: true, size: 4 });
  const start = input("wb-start_date", form.start_date, { type: "date" });
  const end = input("wb-end_date", form.end_date, { type: "date" });
  const out = h("div", { "aria-live": "polite" });
  const f = h(
    "form",
    { class: "card", "aria-labelledby": "wb-rev-h" },
    h("h2", { id: "wb-rev-h" }, "Country and window"),
    h(
      "div",
      { class: "form-grid" },
      row("Country", country, "two letters"),
      h(
        "datalist",
        { id: "wb-countries" },
        state.preview.countries.map((c) => h("option", { value: c })),
      ),
      row("Window start", start),
      row("Window end", end),
    ),
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Review data"),
    ),
  );
  const run = async () => {
    const next = { ...form, country: country.value, start_date: start.value, end_date: end.value };
    save({ ...load(), form: next });
    status(out, h("p", { class: "muted" }, "Reviewing..."));
    try {
      const r = (await post(api, "/review", { config: buildConfig(load(), next) })) as {
        window: { start: string; end: string; rows: number };
        stats: Record<string, unknown>[];
        warnings: { column: string; kind: string; message: string }[];
        skip: string | null;
        problem: { message: string; field?: string } | null;
        rules: string[];
      };
      status(
        out,
        h(
          "div",
          null,
          r.skip
            ? h(
                "div",
                { class: "error", role: "alert" },
                h("strong", null, "This run would be SKIPPED: "),
                r.skip,
              )
            : r.problem
              ? errorBox(r.problem)
              : h(
                  "p",
                  { class: "card", role: "status" },
                  `No skip rule applies: ${r.window.rows} rows in ${r.window.start} to ${r.window.end}.`,
                ),
          h(
            "section",
            { class: "card", "aria-labelledby": "wb-warn-h" },
            h("h2", { id: "wb-warn-h" }, `Warnings (${r.warnings.length})`),
            r.warnings.length
              ? h(
                  "ul",
                  null,
                  r.warnings.map((w) => h("li", { "data-kind": w.kind }, w.message)),
                )
              : h("p", { class: "muted" }, "No zero-variance or missing-value warnings."),
          ),
          table(
            "Summary statistics of the mapped variables (window)",
            ["variable", "role", "rows", "missing", "zeros", "distinct", "mean", "sd", "min", "max"],
            r.stats.map((s) => [
              String(s.name),
              String(s.role),
              fmt(s.n, 0),
              fmt(s.missing, 0),
              fmt(s.zeros, 0),
              fmt(s.distinct, 0),
              fmt(s.mean, 2),
              fmt(s.sd, 2),
              fmt(s.min, 2),
              fmt(s.max, 2),
            ]),
          ),
          h(
            "section",
            { class: "card", "aria-labelledby": "wb-rules-h" },
            h("h2", { id: "wb-rules-h" }, "Skip and preparation rules"),
            h(
              "ul",
              null,
              r.rules.map((t) => h("li", null, t)),
            ),
          ),
          h("p", null, h("a", { class: "btn btn-primary", href: "#/mmm/run" }, "Next: prepare and run")),
        ),
      );
    } catch (err) {
      status(out, errorBox(err));
      markInvalid(f, (err as { field?: string }).field);
    }
  };
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    void run();
  });
  root.append(f, out);
  if (form.country) await run();
}

const RUN_PRESETS: Record<string, [string, string, string]> = {
  quick: ["Quick check: 200 iterations × 2 trials", "200", "2"],
  standard: ["Robyn default: 2,000 iterations × 5 trials", "2000", "5"],
  thorough: ["Thorough: 5,000 iterations × 10 trials", "5000", "10"],
  custom: ["Custom", "", ""],
};

async function runStep(root: HTMLElement, api: Api): Promise<void> {
  const state = load();
  if (!state.preview || !state.source) return needs(root, "Load data", "connect", "connect data");
  const form = baseForm(state);
  const el: Record<string, HTMLInputElement | HTMLSelectElement> = {
    run_preset: select(
      "wb-run_preset",
      Object.entries(RUN_PRESETS).map(([k, v]) => [k, v[0]]),
      form.run_preset,
    ),
    country: input("wb-country", form.country, { size: 4 }),
    revision: input("wb-revision", form.revision),
    start_date: input("wb-start_date", form.start_date, { type: "date" }),
    end_date: input("wb-end_date", form.end_date, { type: "date" }),
    dep_var_type: select(
      "wb-dep_var_type",
      [
        ["revenue", "revenue (ROAS)"],
        ["conversion", "conversion (CPA)"],
      ],
      form.dep_var_type,
    ),
    adstock: select(
      "wb-adstock",
      [
        ["geometric", "geometric"],
        ["weibull_cdf", "Weibull CDF"],
        ["weibull_pdf", "Weibull PDF"],
      ],
      form.adstock,
    ),
    hyperparameter_preset: select(
      "wb-hyperparameter_preset",
      ["Meshed recommend", "Facebook recommend", "Custom"].map((p) => [p, p]),
      form.hyperparameter_preset,
    ),
    iterations: input("wb-iterations", form.iterations, { type: "number", min: 1, max: 10000, step: 1 }),
    trials: input("wb-trials", form.trials, { type: "number", min: 1, max: 20, step: 1 }),
    seed: input("wb-seed", form.seed, { type: "number", min: 0, step: 1 }),
    resample_freq: select(
      "wb-resample_freq",
      [
        ["none", "none"],
        ["W", "weeks (W)"],
        ["M", "months (M)"],
      ],
      form.resample_freq,
    ),
    budget_scenario: select(
      "wb-budget_scenario",
      [
        ["max_historical_response", "max response at historical spend"],
        ["max_response_expected_spend", "max response at expected spend"],
        ["target_efficiency", "target efficiency (ROAS / CPA)"],
      ],
      form.budget_scenario,
    ),
    expected_spend: input("wb-expected_spend", form.expected_spend, { type: "number", min: 0, step: "any" }),
    target_value: input("wb-target_value", form.target_value, { type: "number", min: 0, step: "any" }),
    queue: input("wb-queue", form.queue),
  };
  const current = (): Record<string, string> =>
    Object.fromEntries(Object.entries(el).map(([k, v]) => [k, v.value]));
  el.run_preset.addEventListener("change", () => {
    const p = RUN_PRESETS[el.run_preset.value];
    if (p?.[1]) {
      el.iterations.value = p[1];
      el.trials.value = p[2];
    }
  });
  for (const k of ["iterations", "trials"])
    el[k].addEventListener("input", () => {
      el.run_preset.value = "custom";
    });
  const mapped = rolesToConfig(state.roles ?? {});
  const out = h("div", { "aria-live": "polite" });
  const validateBtn = h("button", { type: "button", class: "btn" }, "Validate");
  const trainBtn = h("button", { type: "submit", class: "btn btn-primary" }, "Queue training run");
  const f = h(
    "form",
    { class: "card", "aria-labelledby": "wb-run-h", novalidate: true },
    h("h2", { id: "wb-run-h" }, "Job config"),
    mapped.ok
      ? h(
          "p",
          { class: "muted" },
          `Dependent variable ${mapped.value.dep_var}; spends ${mapped.value.paid_media_spends.join(", ")}`,
          mapped.value.organic_vars.length ? `; organic ${mapped.value.organic_vars.join(", ")}` : "",
          mapped.value.context_vars.length ? `; context ${mapped.value.context_vars.join(", ")}` : "",
          ". ",
          h("a", { href: "#/mmm/map" }, "Change the mapping"),
        )
      : errorBox({ message: mapped.message, field: mapped.field }),
    h(
      "fieldset",
      null,
      h("legend", null, "Search"),
      h(
        "div",
        { class: "form-grid" },
        row("Preset", el.run_preset),
        row("Iterations", el.iterations, "1 to 10,000"),
        row("Trials", el.trials, "1 to 20"),
        row("Seed", el.seed),
        row("Hyperparameter preset", el.hyperparameter_preset),
        row("Adstock", el.adstock),
      ),
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "Data"),
      h(
        "div",
        { class: "form-grid" },
        row("Country", el.country, "two letters"),
        row("Revision", el.revision),
        row("Window start", el.start_date),
        row("Window end", el.end_date),
        row("Dependent variable type", el.dep_var_type),
        row("Resample", el.resample_freq),
      ),
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "Budget allocator"),
      h(
        "div",
        { class: "form-grid" },
        row("Scenario", el.budget_scenario),
        row("Expected spend", el.expected_spend, "total over a year; for the expected-spend scenario"),
        row("Target ROAS or CPA", el.target_value, "empty: 0.8 × historical ROAS / 1.2 × historical CPA"),
        row("Queue", el.queue, "runs of one queue train one at a time"),
      ),
    ),
    h("div", { class: "form-actions" }, validateBtn, trainBtn),
  );
  const config = () => {
    const values = current();
    save({ ...load(), form: values });
    return buildConfig(load(), values);
  };
  validateBtn.addEventListener("click", async () => {
    status(out, null);
    try {
      const r = (await post(api, "/validate", { config: config() })) as {
        ranges: Record<string, [number, number]>;
      };
      markInvalid(f, undefined);
      status(
        out,
        h(
          "div",
          null,
          h("p", { role: "status" }, "The job config is valid."),
          table(
            "Hyperparameter ranges",
            ["hyperparameter", "from", "to"],
            Object.entries(r.ranges).map(([k, [lo, hi]]) => [k, String(lo), String(hi)]),
          ),
        ),
      );
    } catch (err) {
      status(out, errorBox(err));
      markInvalid(f, (err as { field?: string }).field);
    }
  });
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    status(out, null);
    trainBtn.setAttribute("disabled", "");
    try {
      const r = (await post(api, "/train", { config: config() })) as { job_id: string };
      location.hash = `#/mmm/results?run=${encodeURIComponent(r.job_id)}`;
    } catch (err) {
      status(out, errorBox(err));
      markInvalid(f, (err as { field?: string }).field);
    } finally {
      trainBtn.removeAttribute("disabled");
    }
  });
  root.append(f, out);
}

// ---------------------------------------------------------------- 5. results

const TERMINAL = ["SUCCEEDED", "FAILED", "SKIPPED"];

async function resultsStep(root: HTMLElement, api: Api, runId: string | null): Promise<void> {
  if (!runId) {
    const r = (await api("/runs")) as { runs: Record<string, unknown>[] };
    root.append(
      table(
        "Training runs",
        ["run", "country", "state", "progress", "iterations × trials", "updated"],
        r.runs.map((x) => [
          h("a", { href: `#/mmm/results?run=${encodeURIComponent(String(x.run_id))}` }, String(x.run_id)),
          String(x.country ?? ""),
          stateBadge(String(x.state).toLowerCase()),
          x.progress === undefined ? "" : `${Math.round(Number(x.progress) * 100)}%`,
          x.iterations ? `${x.iterations} × ${x.trials}` : "",
          String(x.updated ?? "")
            .replace("T", " ")
            .slice(0, 19),
        ]),
      ),
    );
    return;
  }
  const head = h("section", { class: "card", "aria-labelledby": "wb-status-h", "aria-live": "polite" });
  const detail = h("div");
  root.append(head, detail);
  const base = `api/mmm/runs/${encodeURIComponent(runId)}/files/`;
  for (let i = 0; ; i++) {
    if (!root.isConnected && i > 0) return;
    const r = (await api(`/runs/${encodeURIComponent(runId)}`)) as {
      status: Record<string, unknown>;
      summary: Record<string, unknown> | null;
      allocator: Record<string, unknown> | null;
      files: string[];
    };
    const s = r.status;
    const pct = Math.round(Number(s.progress ?? 0) * 100);
    head.replaceChildren(
      h("h2", { id: "wb-status-h" }, `Run ${runId} `, stateBadge(String(s.state).toLowerCase())),
      h("p", null, `Step: ${s.step ?? "–"}. ${s.message ?? ""}`),
      progressBar(pct, 100, "training progress"),
      ...(s.error ? [h("div", { class: "error", role: "alert" }, `Failed in ${s.step}: ${s.error}`)] : []),
    );
    if (TERMINAL.includes(String(s.state)) && String(s.execution ?? "") !== "running") {
      if (s.state === "SUCCEEDED" && r.summary) await resultsView(detail, api, runId, r, base);
      return;
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function resultsView(
  root: HTMLElement,
  api: Api,
  runId: string,
  r: { summary: Record<string, unknown> | null; allocator: Record<string, unknown> | null; files: string[] },
  base: string,
): Promise<void> {
  const sum = r.summary as Record<string, unknown>;
  const best = sum.best_model as Record<string, number | string>;
  const pareto = (sum.pareto_models as Record<string, unknown>[]) ?? [];
  root.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "wb-sum-h" },
      h("h2", { id: "wb-sum-h" }, "Best model"),
      h(
        "dl",
        { class: "facts" },
        ...[
          ["model", String(best.model_id)],
          ["NRMSE", fmt(best.nrmse)],
          ["DECOMP.RSSD", fmt(best.decomp_rssd)],
          [
            "R² train / validation / test",
            `${fmt(best.rsq_train, 3)} / ${fmt(best.rsq_val, 3)} / ${fmt(best.rsq_test, 3)}`,
          ],
          ["Pareto models", String(sum.pareto_model_count)],
          ["candidate models", String(sum.candidate_model_count)],
        ].flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)]),
      ),
    ),
  );
  if (r.files.includes("pareto_front.svg"))
    root.append(
      h(
        "figure",
        { class: "card" },
        h("img", {
          src: `${base}pareto_front.svg`,
          alt: `Pareto front: NRMSE against DECOMP.RSSD of ${sum.candidate_model_count} candidate models, the ${sum.pareto_model_count} Pareto models in red`,
          style: "max-width:100%;height:auto",
        }),
        h("figcaption", null, "Pareto front (NRMSE × DECOMP.RSSD)"),
      ),
    );
  // Candidates, sortable by NRMSE or DECOMP.RSSD.
  const cand = h("section", { class: "card", "aria-labelledby": "wb-cand-h" });
  root.append(cand);
  let sort = "nrmse";
  let onlyPareto = false;
  const paretoBox = h("input", { type: "checkbox", id: "wb-only-pareto" }) as HTMLInputElement;
  const byNrmse = h("button", { type: "button", class: "btn", "aria-pressed": "true" }, "Sort by NRMSE");
  const byRssd = h(
    "button",
    { type: "button", class: "btn", "aria-pressed": "false" },
    "Sort by DECOMP.RSSD",
  );
  const list = h("div");
  const drawCandidates = async () => {
    const c = (await api(
      `/runs/${encodeURIComponent(runId)}/candidates?sort=${sort}&limit=50${onlyPareto ? "&pareto=1" : ""}`,
    )) as { total: number; candidates: Record<string, number | string | null>[] };
    byNrmse.setAttribute("aria-pressed", String(sort === "nrmse"));
    byRssd.setAttribute("aria-pressed", String(sort === "decomp_rssd"));
    list.replaceChildren(
      table(
        `Candidate models by ${sort === "nrmse" ? "NRMSE" : "DECOMP.RSSD"} (first 50 of ${c.total})`,
        ["model", "NRMSE", "DECOMP.RSSD", "R² train", "R² validation", "trial", "Pareto front"],
        c.candidates.map((m) => [
          String(m.model_id),
          fmt(m.nrmse),
          fmt(m.decomp_rssd),
          fmt(m.rsq_train, 3),
          fmt(m.rsq_val, 3),
          String(m.trial ?? ""),
          m.pareto_front ? String(m.pareto_front) : "",
        ]),
      ),
    );
  };
  byNrmse.addEventListener("click", () => {
    sort = "nrmse";
    void drawCandidates();
  });
  byRssd.addEventListener("click", () => {
    sort = "decomp_rssd";
    void drawCandidates();
  });
  paretoBox.addEventListener("change", () => {
    onlyPareto = paretoBox.checked;
    void drawCandidates();
  });
  cand.append(
    h("h2", { id: "wb-cand-h" }, "Candidate models"),
    h(
      "div",
      { class: "form-actions" },
      byNrmse,
      byRssd,
      h(
        "span",
        { class: "form-row checkbox" },
        paretoBox,
        h("label", { for: "wb-only-pareto" }, "Pareto models only"),
      ),
    ),
    list,
  );
  await drawCandidates();
  // One-pagers of the top models.
  const pagers = pareto.map((m) => String(m.model_id)).filter((id) => r.files.includes(`${id}.png`));
  root.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "wb-one-h" },
      h("h2", { id: "wb-one-h" }, "One-pagers"),
      pagers.map((id) =>
        h(
          "figure",
          { class: "onepager" },
          h("img", {
            src: `${base}${id}.png`,
            alt: `One-pager of model ${id}: actual vs fitted, decomposition waterfall, spend vs effect share, response curves, adstock decay`,
            style: "max-width:100%;height:auto",
          }),
          h(
            "figcaption",
            null,
            `Model ${id} `,
            h("a", { href: `${base}${id}.svg` }, "SVG"),
            " · ",
            h("a", { href: `${base}${id}.png` }, "PNG"),
          ),
        ),
      ),
    ),
  );
  // Response curves of a chosen Pareto model.
  const curvesCard = h("section", { class: "card", "aria-labelledby": "wb-curves-h" });
  root.append(curvesCard);
  const modelSel = select(
    "wb-curve-model",
    pareto.map((m) => [String(m.model_id), String(m.model_id)]),
    String(best.model_id),
  );
  const chart = h("div");
  const drawCurves = async () => {
    const c = (await api(
      `/runs/${encodeURIComponent(runId)}/curves?model=${encodeURIComponent(modelSel.value)}`,
    )) as {
      channels: {
        name: string;
        mean_spend: number;
        mean_response: number;
        roas: number | null;
        points: [number, number][];
      }[];
    };
    chart.replaceChildren(
      curvesSvg(c.channels),
      table(
        "Channels at mean spend",
        ["channel", "mean spend per period", "response at mean spend", "ROAS"],
        c.channels.map((ch) => [ch.name, fmt(ch.mean_spend, 0), fmt(ch.mean_response, 0), fmt(ch.roas, 2)]),
      ),
    );
  };
  modelSel.addEventListener("change", () => void drawCurves());
  curvesCard.append(h("h2", { id: "wb-curves-h" }, "Response curves"), row("Model", modelSel), chart);
  await drawCurves();
  // Allocator.
  const alloc = r.allocator;
  root.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "wb-alloc-h" },
      h("h2", { id: "wb-alloc-h" }, `Budget allocator (${alloc?.scenario ?? "not run"})`),
      alloc
        ? h(
            "div",
            null,
            alloc.metric
              ? h(
                  "p",
                  null,
                  `Target ${alloc.metric} ${fmt(alloc.target, 2)} (historical ${fmt(alloc.historical, 2)}), achieved ${fmt(alloc.achieved, 2)}${alloc.reached ? "" : " — not reachable within the bounds"}.`,
                )
              : null,
            table(
              "Spend and response per period",
              ["channel", "current spend", "optimal spend", "current response", "optimal response"],
              (alloc.allocations as Record<string, number | string>[]).map((a) => [
                String(a.channel),
                fmt(a.initSpend, 0),
                fmt(a.optimalSpend, 0),
                fmt(a.initResponse, 0),
                fmt(a.optimalResponse, 0),
              ]),
            ),
          )
        : h("p", { class: "muted" }, "The allocator did not run for this model."),
    ),
  );
}

const COLORS = ["#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666"];
const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Lines on shared axes, a dot at each channel's mean spend; scales with its container. */
function curvesSvg(
  channels: { name: string; mean_spend: number; mean_response: number; points: [number, number][] }[],
): SVGElement {
  const W = 640;
  const H = 320;
  const pad = { l: 60, r: 150, t: 10, b: 40 };
  const xs = channels.flatMap((c) => c.points.map((p) => p[0]));
  const ys = channels.flatMap((c) => c.points.map((p) => p[1]));
  const xmax = Math.max(...xs, 1);
  const ymax = Math.max(...ys, 1);
  const X = (v: number) => pad.l + (v / xmax) * (W - pad.l - pad.r);
  const Y = (v: number) => H - pad.b - (v / ymax) * (H - pad.t - pad.b);
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: "100%",
    role: "img",
    "aria-labelledby": "wb-curves-t",
  });
  root.style.maxWidth = "48rem";
  root.append(
    svg(
      "title",
      { id: "wb-curves-t" },
      `Response per period against spend per period for ${channels.length} channels`,
    ),
  );
  root.append(svg("line", { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, stroke: "#555" }));
  root.append(svg("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b, stroke: "#555" }));
  root.append(svg("text", { x: pad.l, y: H - 8, "font-size": 12 }, "spend per period →"));
  root.append(svg("text", { x: 4, y: pad.t + 12, "font-size": 12 }, "response"));
  channels.forEach((c, k) => {
    const color = COLORS[k % COLORS.length];
    root.append(
      svg("polyline", {
        points: c.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" "),
        fill: "none",
        stroke: color,
        "stroke-width": 2,
      }),
      svg("circle", { cx: X(c.mean_spend).toFixed(1), cy: Y(c.mean_response).toFixed(1), r: 4, fill: color }),
      svg("text", { x: W - pad.r + 8, y: pad.t + 14 + k * 16, "font-size": 12, fill: color }, c.name),
    );
  });
  return root;
}

// ---------------------------------------------------------------- 6. best models per country over time

async function bestStep(root: HTMLElement, api: Api, country: string | null): Promise<void> {
  const list = (await api("/countries")) as { countries: string[] };
  if (list.countries.length === 0) {
    root.append(h("p", { class: "muted" }, "No country has a trained model yet."));
    return;
  }
  const cc = country && list.countries.includes(country) ? country : list.countries[0];
  const sel = select(
    "wb-best-country",
    list.countries.map((c) => [c, c.toUpperCase()]),
    cc,
  );
  sel.addEventListener("change", () => {
    location.hash = `#/mmm/best?country=${sel.value}`;
  });
  root.append(h("div", { class: "card" }, row("Country", sel)));
  const r = (await api(`/countries/${cc}`)) as {
    best_model_overall: Record<string, unknown> | null;
    runs: {
      run_id: string;
      revision: string;
      created_at: string;
      best_model: Record<string, number | string>;
    }[];
  };
  const o = r.best_model_overall;
  root.append(
    o
      ? h(
          "p",
          { class: "card" },
          `Best overall: model ${o.model_id} of ${o.revision}/${o.timestamp}, NRMSE ${fmt(o.nrmse)}, DECOMP.RSSD ${fmt(o.decomp_rssd)}.`,
        )
      : h("p", { class: "muted" }, "No run with a Pareto model."),
  );
  const W = 640;
  const H = 200;
  const vals = r.runs.map((x) => Number(x.best_model?.nrmse));
  const lo = Math.min(...vals);
  const hi = Math.max(...vals);
  const X = (i: number) => 50 + (r.runs.length > 1 ? (i / (r.runs.length - 1)) * (W - 70) : (W - 70) / 2);
  const Y = (v: number) => H - 30 - ((v - lo) / (hi - lo || 1)) * (H - 50);
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: "100%",
    role: "img",
    "aria-labelledby": "wb-best-t",
  });
  chart.style.maxWidth = "48rem";
  chart.append(
    svg("title", { id: "wb-best-t" }, `Best model NRMSE of each run over time, ${r.runs.length} runs`),
  );
  chart.append(
    svg("text", { x: 4, y: 14, "font-size": 12 }, `best NRMSE per run (${fmt(lo)} to ${fmt(hi)})`),
  );
  if (vals.length > 1)
    chart.append(
      svg("polyline", {
        points: vals.map((v, i) => `${X(i).toFixed(1)},${Y(v).toFixed(1)}`).join(" "),
        fill: "none",
        stroke: "#0b5cad",
        "stroke-width": 2,
      }),
    );
  for (const [i, v] of vals.entries())
    chart.append(svg("circle", { cx: X(i).toFixed(1), cy: Y(v).toFixed(1), r: 4, fill: "#0b5cad" }));
  root.append(
    h("figure", { class: "card" }, chart, h("figcaption", null, "Best model NRMSE per run, oldest first")),
    table(
      `Runs of ${cc.toUpperCase()} over time`,
      ["trained", "revision", "run", "best model", "NRMSE", "DECOMP.RSSD", "R² train"],
      [...r.runs]
        .reverse()
        .map((x) => [
          x.created_at.replace("T", " ").slice(0, 19),
          x.revision,
          h("a", { href: `#/mmm/results?run=${encodeURIComponent(x.run_id)}` }, x.run_id),
          String(x.best_model?.model_id ?? ""),
          fmt(x.best_model?.nrmse),
          fmt(x.best_model?.decomp_rssd),
          fmt(x.best_model?.rsq_train, 3),
        ]),
    ),
  );
}
