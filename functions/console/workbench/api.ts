import { join } from "node:path";
import {
  type ApiDeps,
  localStateDirOf,
  NotFound,
  runStatus,
  status,
  train,
} from "../../../containers/mmm/api.ts";
import {
  DataSource,
  hyperparameterRanges,
  type JobConfig,
  PRESETS,
  parseJobConfig,
} from "../../../containers/mmm/jobconfig.ts";
import type { SnowflakeClient } from "../../../containers/mmm/source.ts";
import {
  NotFoundError,
  type ObjectStore,
  type Row,
  type Secrets,
  type Warehouse,
} from "../../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../../shared/core/errors.ts";
import type { OpsContext } from "../../../shared/ops/context.ts";
import { TOPICS } from "../../../shared/pipelines/platform.ts";
import { type ColumnInfo, type ColumnType, SKIP_RULES, suggestRoles } from "./mapping.ts";
import { keyFingerprint, type SecretWriter, SNOWFLAKE_KEY_SECRET } from "./secrets.ts";

/**
 * The MMM workbench's API (`/api/mmm/*` of the console, after its auth), in the original app's page order:
 *
 *   GET  /sources                      warehouse tables, whether a Snowflake key is stored, presets, rules
 *   POST /secrets/snowflake            {privateKey}: stored once via Secret Manager / the local secrets file;
 *                                      answers only its fingerprint, never the key
 *   POST /preview   {source}           columns (type, distinct, missing, samples), rows, date range, countries,
 *                                      role suggestions by name and type
 *   POST /review    {config}           the prepared data's statistics per mapped variable, zero-variance and
 *                                      missing-value warnings, the skip decision and the skip rules
 *   POST /validate  {config}           the job config validated exactly as the API's train, and its ranges
 *   POST /train     {config}           validated, queued through the mmm API's queue; {job_id, state, queue}
 *   GET  /runs                         recent runs with state
 *   GET  /runs/<id>                    status, progress, model summary, allocator, artifact names
 *   GET  /runs/<id>/candidates?sort=nrmse|decomp_rssd&pareto=1&limit=N   the candidate models
 *   GET  /runs/<id>/curves?model=ID    response curves of a Pareto model (points per channel, mean spend)
 *   GET  /runs/<id>/files/<name>       an artifact of the run (one-pager PNG/SVG, Pareto plot, CSV)
 *   GET  /countries, /countries/<cc>   countries with models; a country's best model per run over time
 *
 * Bad input is 400 with `{error, field, fix}`, an unknown run or country 404.
 */

export interface WorkbenchRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  user: string;
}

export interface WorkbenchResponse {
  status: number;
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
}

export interface WorkbenchDeps {
  /** The data bucket (runs, artifacts, model summaries). */
  store: ObjectStore;
  warehouse: Warehouse;
  secrets: Secrets;
  secretWriter: SecretWriter;
  /** The snowflake-sdk boundary (tests pass a fake). */
  snowflake?: SnowflakeClient;
  env: Record<string, string | undefined>;
}

let override: WorkbenchDeps | undefined;
const made = new WeakMap<object, Map<string, Promise<WorkbenchDeps>>>();

/** Tests (and a host that has its adapters at hand) give the dependencies; otherwise they come from the env. */
export function setWorkbenchDeps(deps: WorkbenchDeps | undefined): void {
  override = deps;
}

async function depsFromEnv(ctx: OpsContext): Promise<WorkbenchDeps> {
  if (override) return override;
  const { loadRuntimeConfig } = await import("../../../shared/runtime/config.ts");
  const base = loadRuntimeConfig(process.env);
  const config =
    base.mode === "local" ? { ...base, stateDir: localStateDirOf(ctx.state) ?? base.stateDir } : base;
  const key = `${config.mode}:${config.stateDir}`;
  const mine = made.get(ctx) ?? new Map<string, Promise<WorkbenchDeps>>();
  made.set(ctx, mine);
  let ready = mine.get(key);
  if (ready) return ready;
  ready = (async () => {
    if (config.mode === "gcp") {
      const { createGcpAdapters } = await import("../../../shared/adapters/gcp/index.ts");
      const { gcpSecretWriter } = await import("./secrets.ts");
      const a = await createGcpAdapters({ projectId: config.project as string, region: config.region });
      return {
        store: a.objects.bucket(config.dataBucket),
        warehouse: a.warehouse,
        secrets: a.secrets,
        secretWriter: gcpSecretWriter(config.project as string),
        env: process.env,
      };
    }
    const [{ createLocalObjects }, { createLocalWarehouse }, { createLocalSecrets }, { localSecretWriter }] =
      await Promise.all([
        import("../../../shared/adapters/local/objects.ts"),
        import("../../../shared/adapters/local/warehouse.ts"),
        import("../../../shared/adapters/local/secrets.ts"),
        import("./secrets.ts"),
      ]);
    const file = join(config.stateDir, "secrets.json");
    return {
      store: createLocalObjects({ root: join(config.stateDir, "objects") }).bucket(config.dataBucket),
      // Released after every query: the twin's job processes take turns on the same DuckDB file.
      warehouse: createLocalWarehouse({ path: join(config.stateDir, "warehouse.duckdb"), releaseAfterMs: 0 }),
      secrets: createLocalSecrets({ env: process.env, file }),
      secretWriter: localSecretWriter(file),
      env: process.env,
    };
  })();
  mine.set(key, ready);
  ready.catch(() => mine.delete(key));
  return ready;
}

function queueDeps(ctx: OpsContext, d: WorkbenchDeps): ApiDeps {
  return {
    store: d.store,
    start: async (runId, config) => {
      await ctx.messages.publish(TOPICS.scheduleTicks, { pipeline: "mmm", partition: runId, params: config });
    },
    executionState: async (runId) => (await ctx.ledger.partitionState("mmm", runId))?.state,
  };
}

const ok = (json: unknown): WorkbenchResponse => ({ status: 200, json });

function bad(message: string, field: string, fix?: string): never {
  throw new NonRetriableError(message, { field, fix });
}

function objectBody(body: unknown, what: string): Record<string, unknown> {
  if (!body || typeof body !== "object" || Array.isArray(body))
    bad(
      `${what}: the request body must be a JSON object`,
      "body",
      "send JSON with content-type application/json",
    );
  return body as Record<string, unknown>;
}

function parseSource(v: unknown): DataSource {
  const r = DataSource.safeParse(v);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = ["source", ...issue.path].join(".");
    bad(
      `${field}: ${issue.message}`,
      field,
      "choose a warehouse table (dataset.table) or a Snowflake table or query",
    );
  }
  return r.data;
}

async function sourceRows(d: WorkbenchDeps, source: DataSource): Promise<Row[]> {
  const { readSourceRows } = await import("../../../containers/mmm/source.ts");
  try {
    return await readSourceRows(source, {
      warehouse: d.warehouse,
      secrets: d.secrets,
      snowflake: d.snowflake,
      env: d.env,
    });
  } catch (err) {
    if (err instanceof NonRetriableError && err.field?.startsWith("source")) throw err;
    if (err instanceof NotFoundError)
      throw new NonRetriableError(`no Snowflake private key is stored (${err.message})`, {
        field: "privateKey",
        fix: "upload the key file once on the connect page",
      });
    // A table that does not exist or a query the database rejects: the user's input, named as such.
    const field = source.kind === "snowflake" && source.query ? "source.query" : "source.table";
    throw new NonRetriableError(`${field}: ${(err as Error).message.split("\n")[0]}`, {
      field,
      fix: "check the table name or the query",
    });
  }
}

const isMissing = (v: unknown) =>
  v === null || v === undefined || v === "" || (typeof v === "number" && Number.isNaN(v)) || v === "NA";

function dayOf(v: unknown): string | undefined {
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  const s = v === null || v === undefined ? "" : String(v);
  return /^\d{4}-\d{2}-\d{2}/.test(s) ? s.slice(0, 10) : undefined;
}

function columnsOf(rows: Row[]): ColumnInfo[] {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return names.map((raw) => {
    const vals = rows.map((r) => r[raw]);
    const present = vals.filter((v) => !isMissing(v));
    let type: ColumnType = "text";
    if (present.length > 0 && present.every((v) => dayOf(v) !== undefined)) type = "date";
    else if (
      present.length > 0 &&
      present.every((v) => typeof v === "number" || typeof v === "bigint" || !Number.isNaN(Number(v)))
    )
      type = "number";
    const distinct = new Set(present.map((v) => (v instanceof Date ? v.toISOString() : String(v)))).size;
    return {
      name: raw.toUpperCase(),
      type,
      distinct,
      missing: vals.length - present.length,
      sample: present.slice(0, 3).map((v) => (type === "date" ? (dayOf(v) as string) : String(v))),
    };
  });
}

async function preview(d: WorkbenchDeps, body: unknown) {
  const b = objectBody(body, "preview");
  const source = parseSource(b.source);
  const rows = await sourceRows(d, source);
  if (rows.length === 0) bad("the data source returned no rows", "source", "check the table or query");
  const columns = columnsOf(rows);
  const roles = suggestRoles(columns);
  const dateCol = Object.keys(roles).find((k) => roles[k] === "date");
  const rawDate = dateCol && Object.keys(rows[0]).find((k) => k.toUpperCase() === dateCol);
  const days = rawDate
    ? rows
        .map((r) => dayOf(r[rawDate]))
        .filter((x): x is string => !!x)
        .sort()
    : [];
  const countryKey = Object.keys(rows[0]).find((k) => /^(COUNTRY|COUNTRY_CODE|MARKET|COUNTRY_ISO)$/i.test(k));
  const countries = countryKey
    ? [...new Set(rows.map((r) => String(r[countryKey]).toLowerCase()))]
        .filter((c) => /^[a-z]{2}$/.test(c))
        .sort()
    : [];
  return {
    source,
    rows: rows.length,
    columns,
    suggestions: roles,
    date_var: dateCol ?? null,
    date_range: days.length > 0 ? { start: days[0], end: days[days.length - 1] } : null,
    countries,
    head: rows
      .slice(0, 5)
      .map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [k.toUpperCase(), v instanceof Date ? dayOf(v) : v]),
        ),
      ),
  };
}

interface ColumnStats {
  name: string;
  role: string;
  n: number;
  missing: number;
  zeros: number;
  distinct: number;
  mean: number | null;
  sd: number | null;
  min: number | null;
  max: number | null;
  total: number | null;
}

function configOf(body: unknown, what: string): JobConfig {
  const b = objectBody(body, what);
  return parseJobConfig(b.config ?? b, what);
}

async function review(d: WorkbenchDeps, body: unknown) {
  const config = configOf(body, "review");
  const rows = await sourceRows(d, config.source);
  const { rawFrame, skipReason, checkFrame } = await import("../../../containers/mmm/source.ts");
  const frame = rawFrame(rows, config);
  const end = config.end_date ?? frame.dates[frame.dates.length - 1];
  const idx = frame.dates.flatMap((x, i) => (x >= config.start_date && x <= end ? [i] : []));
  // Missing values are counted on the source rows of the country (the preparation fills them with 0).
  const upper = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toUpperCase(), v])));
  const mine = upper.filter((r) => !("COUNTRY" in r) || String(r.COUNTRY).toLowerCase() === config.country);
  const roleOf: [string, string][] = [
    [config.dep_var, "dep_var"],
    ...config.paid_media_spends.map((n): [string, string] => [n, "paid_media_spends"]),
    ...(config.paid_media_vars ?? [])
      .filter((n) => !config.paid_media_spends.includes(n))
      .map((n): [string, string] => [n, "paid_media_vars"]),
    ...config.organic_vars.map((n): [string, string] => [n, "organic_vars"]),
    ...config.context_vars.map((n): [string, string] => [
      n,
      config.factor_vars.includes(n) ? "factor_vars" : "context_vars",
    ]),
  ];
  const stats: ColumnStats[] = [];
  const warnings: { column: string; kind: string; message: string }[] = [];
  for (const [name, role] of roleOf) {
    const col = frame.columns[name];
    const missing = mine.filter((r) => isMissing(r[name])).length;
    if (!col) {
      stats.push({
        name,
        role,
        n: 0,
        missing,
        zeros: 0,
        distinct: 0,
        mean: null,
        sd: null,
        min: null,
        max: null,
        total: null,
      });
      warnings.push({ column: name, kind: "absent", message: `${name} is not a numeric column of the data` });
      continue;
    }
    const xs = idx.map((i) => col[i]);
    const n = xs.length;
    const mean = n > 0 ? xs.reduce((a, b) => a + b, 0) / n : 0;
    const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
    const distinct = new Set(xs).size;
    const zeros = xs.filter((x) => x === 0).length;
    stats.push({
      name,
      role,
      n,
      missing,
      zeros,
      distinct,
      mean,
      sd,
      min: n > 0 ? Math.min(...xs) : null,
      max: n > 0 ? Math.max(...xs) : null,
      total: xs.reduce((a, b) => a + b, 0),
    });
    if (distinct <= 1)
      warnings.push({
        column: name,
        kind: "zero_variance",
        message: `${name} is constant in the window (zero variance)`,
      });
    if (missing > 0)
      warnings.push({
        column: name,
        kind: "missing",
        message: `${name} has ${missing} missing value(s) in the source; they count as 0`,
      });
    if (role === "paid_media_spends" && xs.every((x) => x === 0))
      warnings.push({ column: name, kind: "no_spend", message: `${name} spent nothing in the window` });
  }
  const skip = skipReason(frame, config) ?? null;
  let problem: { message: string; field?: string } | null = null;
  if (!skip) {
    try {
      checkFrame(frame, config);
    } catch (err) {
      const e = err as NonRetriableError;
      problem = { message: e.message, field: e.field };
    }
  }
  return {
    rows: frame.dates.length,
    window: { start: config.start_date, end, rows: idx.length },
    stats,
    warnings,
    skip,
    problem,
    rules: SKIP_RULES,
  };
}

async function validate(body: unknown) {
  const config = configOf(body, "config");
  return { config, ranges: hyperparameterRanges(config) };
}

async function listRuns(ctx: OpsContext, d: WorkbenchDeps, query: Record<string, string>) {
  const objects = await d.store.list("mmm/runs/");
  const latest = new Map<string, string>();
  for (const o of objects) {
    const m = /^mmm\/runs\/([^/]+)\/(request|run)\.json$/.exec(o.name);
    if (m && (latest.get(m[1]) ?? "") < o.updated) latest.set(m[1], o.updated);
  }
  const limit = Math.min(200, Math.max(1, Number(query.limit ?? 50) || 50));
  const ids = [...latest.entries()].sort((a, b) => b[1].localeCompare(a[1])).slice(0, limit);
  const qd = queueDeps(ctx, d);
  const runs = await Promise.all(
    ids.map(async ([id, updated]) => {
      const s = await runStatus(qd, id).catch(() => undefined);
      const { readRunRecord } = await import("../../../containers/mmm/runrecord.ts");
      const rec = await readRunRecord(d.store, id).catch(() => undefined);
      let config = rec?.config as JobConfig | undefined;
      if (!config && (await d.store.exists(`mmm/runs/${id}/request.json`)))
        config = JSON.parse((await d.store.get(`mmm/runs/${id}/request.json`)).toString("utf8")).config;
      return {
        run_id: id,
        updated,
        state: s?.state ?? "UNKNOWN",
        step: s?.step,
        progress: s?.progress,
        message: s?.message,
        country: config?.country,
        revision: config?.revision,
        iterations: config?.iterations,
        trials: config?.trials,
      };
    }),
  );
  return { runs };
}

async function runDetail(ctx: OpsContext, d: WorkbenchDeps, id: string) {
  const qd = queueDeps(ctx, d);
  // `status` advances the run's queue as the API's status does.
  const s = await status(qd, id);
  const { readRunRecord } = await import("../../../containers/mmm/runrecord.ts");
  const rec = await readRunRecord(d.store, id).catch(() => undefined);
  const files = rec?.timestamp
    ? (await d.store.list(rec.prefix))
        .map((o) => o.name.slice(rec.prefix.length))
        .filter((n) => !n.includes("/"))
        .sort()
    : [];
  const readJson = async (name: string) =>
    rec && files.includes(name)
      ? JSON.parse((await d.store.get(`${rec.prefix}${name}`)).toString("utf8"))
      : null;
  return {
    run_id: id,
    status: s,
    config: rec?.config ?? null,
    files,
    summary: await readJson("model_summary.json"),
    allocator: await readJson("allocator.json"),
  };
}

async function runPrefix(d: WorkbenchDeps, id: string): Promise<string> {
  const { readRunRecord, runRecordName } = await import("../../../containers/mmm/runrecord.ts");
  if (!/^[\w.-]{1,120}$/.test(id) || !(await d.store.exists(runRecordName(id))))
    throw new NotFound(`no run "${id}" with artifacts`, { field: "run", fix: "pick a run from /runs" });
  return (await readRunRecord(d.store, id)).prefix;
}

function csvObjects(text: string): Record<string, string>[] {
  const [head, ...lines] = text.trim().split(/\r?\n/);
  const cols = head.split(",");
  return lines.map((l) => {
    const v = l.split(",");
    return Object.fromEntries(cols.map((c, i) => [c, v[i]]));
  });
}

async function candidates(d: WorkbenchDeps, id: string, query: Record<string, string>) {
  const prefix = await runPrefix(d, id);
  const name = `${prefix}all_candidates.csv`;
  if (!(await d.store.exists(name)))
    throw new NotFound(`run "${id}" has no candidate models yet`, { field: "run" });
  const sort = query.sort ?? "nrmse";
  if (sort !== "nrmse" && sort !== "decomp_rssd")
    bad(`sort must be nrmse or decomp_rssd, got "${sort}"`, "sort");
  const dir = query.dir === "desc" ? -1 : 1;
  const limit = Math.min(5000, Math.max(1, Number(query.limit ?? 100) || 100));
  const num = (v: string | undefined) => (v === undefined || v === "" || v === "NaN" ? null : Number(v));
  let rows = csvObjects((await d.store.get(name)).toString("utf8")).map((r) => ({
    model_id: r.solID,
    nrmse: num(r.nrmse),
    decomp_rssd: num(r.decompRssd),
    mape: num(r.mape),
    rsq_train: num(r.rsqTrain),
    rsq_val: num(r.rsqVal),
    rsq_test: num(r.rsqTest),
    trial: num(r.trial),
    pareto_front: num(r.robynParetoFront),
  }));
  if (query.pareto === "1") rows = rows.filter((r) => (r.pareto_front ?? 0) > 0);
  const key = sort as "nrmse" | "decomp_rssd";
  rows.sort((a, b) => dir * ((a[key] ?? Number.POSITIVE_INFINITY) - (b[key] ?? Number.POSITIVE_INFINITY)));
  return {
    run_id: id,
    sort,
    dir: dir === 1 ? "asc" : "desc",
    total: rows.length,
    candidates: rows.slice(0, limit),
  };
}

async function curves(d: WorkbenchDeps, id: string, query: Record<string, string>) {
  const prefix = await runPrefix(d, id);
  if (!(await d.store.exists(`${prefix}pareto.json`)))
    throw new NotFound(`run "${id}" has no Pareto models yet`, { field: "run" });
  const pareto = JSON.parse((await d.store.get(`${prefix}pareto.json`)).toString("utf8")) as {
    models: { solID: string; hyp: Record<string, number> }[];
  };
  const modelId = query.model || pareto.models[0]?.solID;
  const model = pareto.models.find((m) => m.solID === modelId);
  if (!model)
    throw new NotFound(`model "${modelId}" is not a Pareto model of run "${id}"`, {
      field: "model",
      fix: `use one of ${pareto.models
        .map((m) => m.solID)
        .slice(0, 10)
        .join(", ")}`,
    });
  const prepared = JSON.parse((await d.store.get(`${prefix}prepared.json`)).toString("utf8"));
  const [{ prepareModel }, { modelDetails, responseCurve }] = await Promise.all([
    import("../../../containers/mmm/model.ts"),
    import("../../../containers/mmm/response.ts"),
  ]);
  const frame = {
    dates: prepared.frame.dates as string[],
    columns: Object.fromEntries(
      Object.entries(prepared.frame.columns as Record<string, number[]>).map(([k, v]) => [
        k,
        Float64Array.from(v),
      ]),
    ),
  };
  const details = modelDetails(prepareModel(frame, prepared.spec), model.hyp);
  return {
    run_id: id,
    model_id: model.solID,
    models: pareto.models.map((m) => m.solID),
    channels: details.channels
      .filter((c) => c.paid)
      .map((c) => {
        const xs = Array.from({ length: 31 }, (_, i) => (i / 30) * 3 * c.meanSpend);
        return {
          name: c.name,
          mean_spend: c.meanSpend,
          mean_response: responseCurve(c, [c.meanSpend])[0],
          roas: c.totalSpend > 0 ? c.xDecompAgg / c.totalSpend : null,
          points: xs.map((x, i) => [x, responseCurve(c, xs)[i]]),
        };
      }),
  };
}

const FILE_TYPES: Record<string, string> = {
  png: "image/png",
  svg: "image/svg+xml",
  csv: "text/csv; charset=utf-8",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
};

async function file(d: WorkbenchDeps, id: string, name: string): Promise<WorkbenchResponse> {
  const ext = name.slice(name.lastIndexOf(".") + 1);
  if (!/^[\w][\w.-]{0,120}$/.test(name) || !FILE_TYPES[ext])
    bad(
      `file name "${name}" is not an artifact name`,
      "name",
      `use a file listed by /runs/${id} (${Object.keys(FILE_TYPES).join(", ")})`,
    );
  const prefix = await runPrefix(d, id);
  if (!(await d.store.exists(`${prefix}${name}`)))
    throw new NotFound(`run "${id}" has no file "${name}"`, { field: "name" });
  return {
    status: 200,
    body: new Uint8Array(await d.store.get(`${prefix}${name}`)),
    contentType: FILE_TYPES[ext],
  };
}

async function countries(d: WorkbenchDeps) {
  const names = (await d.store.list("model_summary/")).map((o) => o.name);
  return {
    countries: names
      .map((n) => /^model_summary\/([a-z]{2})\/summary\.json$/.exec(n)?.[1])
      .filter((c): c is string => !!c)
      .sort(),
  };
}

async function country(d: WorkbenchDeps, cc: string) {
  if (!/^[a-z]{2}$/.test(cc)) bad(`country "${cc}" is not a two-letter code`, "country");
  const name = `model_summary/${cc}/summary.json`;
  if (!(await d.store.exists(name)))
    throw new NotFound(`no models for country "${cc}"`, { field: "country" });
  const agg = JSON.parse((await d.store.get(name)).toString("utf8")) as {
    runs: Record<string, unknown>[];
    best_model_overall: unknown;
  };
  const runs = [...agg.runs]
    .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)))
    .map((r) => ({
      run_id: r.run_id,
      revision: r.revision,
      timestamp: r.timestamp,
      created_at: r.created_at,
      pareto_model_count: r.pareto_model_count,
      candidate_model_count: r.candidate_model_count,
      best_model: r.best_model,
    }));
  return { country: cc, best_model_overall: agg.best_model_overall, runs };
}

async function storeKey(d: WorkbenchDeps, body: unknown) {
  const b = objectBody(body, "snowflake key");
  if (typeof b.privateKey !== "string" || b.privateKey.length === 0)
    bad("privateKey is required (the PEM text of the key file)", "privateKey");
  if (b.privateKey.length > 20_000) bad("privateKey is too long for a PEM private key", "privateKey");
  const fingerprint = keyFingerprint(b.privateKey);
  await d.secretWriter.put(SNOWFLAKE_KEY_SECRET, b.privateKey);
  return { stored: true, secret: SNOWFLAKE_KEY_SECRET, fingerprint };
}

async function sources(d: WorkbenchDeps) {
  let tables: string[] = [];
  try {
    const rows = await d.warehouse.query<{ s: string; t: string }>(
      "SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('information_schema', 'pg_catalog', 'main') ORDER BY 1, 2",
    );
    tables = rows.map((r) => `${r.s}.${r.t}`).filter((t) => /^[A-Za-z_]\w*\.[A-Za-z_]\w*$/.test(t));
  } catch {
    // BigQuery has no project-wide information_schema without a region: the form takes a typed name.
  }
  let fingerprint: string | null = null;
  try {
    fingerprint = keyFingerprint(await d.secrets.get(SNOWFLAKE_KEY_SECRET));
  } catch {
    fingerprint = null;
  }
  return {
    warehouse: { tables },
    snowflake: {
      key_stored: fingerprint !== null,
      fingerprint,
      account: d.env.SNOWFLAKE_ACCOUNT ?? null,
      user: d.env.SNOWFLAKE_USER ?? null,
    },
    presets: PRESETS,
    rules: SKIP_RULES,
  };
}

/** One workbench request; `deps.workbench` overrides the dependencies built from the environment. */
export async function handleWorkbench(
  req: WorkbenchRequest,
  deps: { ctx: OpsContext; workbench?: WorkbenchDeps },
): Promise<WorkbenchResponse> {
  const path = req.path.replace(/\/+$/, "") || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const get = req.method === "GET" || req.method === "HEAD";
  const post = req.method === "POST";
  try {
    const d = deps.workbench ?? (await depsFromEnv(deps.ctx));
    const [a, b, c, e] = parts;
    if (get && a === "sources" && !b) return ok(await sources(d));
    if (post && a === "secrets" && b === "snowflake" && !c) return ok(await storeKey(d, req.body));
    if (post && a === "preview" && !b) return ok(await preview(d, req.body));
    if (post && a === "review" && !b) return ok(await review(d, req.body));
    if (post && a === "validate" && !b) return ok(await validate(req.body));
    if (post && a === "train" && !b) {
      const config = configOf(req.body, "train");
      const out = await train(queueDeps(deps.ctx, d), config);
      return { status: 202, json: { job_id: out.job_id, state: out.state, queue: out.queue } };
    }
    if (get && a === "runs" && !b) return ok(await listRuns(deps.ctx, d, req.query));
    if (get && a === "runs" && b && !c) return ok(await runDetail(deps.ctx, d, b));
    if (get && a === "runs" && b && c === "candidates" && !e) return ok(await candidates(d, b, req.query));
    if (get && a === "runs" && b && c === "curves" && !e) return ok(await curves(d, b, req.query));
    if (get && a === "runs" && b && c === "files" && e && parts.length === 4) return await file(d, b, e);
    if (get && a === "countries" && !b) return ok(await countries(d));
    if (get && a === "countries" && b && !c) return ok(await country(d, b));
    return {
      status: 404,
      json: {
        error: `no workbench route ${req.method} ${path}`,
        field: "path",
        fix: "see functions/console/workbench/api.ts",
      },
    };
  } catch (err) {
    const x = err as NonRetriableError & { field?: string; fix?: string };
    const code = err instanceof NotFound ? 404 : err instanceof NonRetriableError ? 400 : 500;
    // Never echo a request body (it may hold the private key): only the error's own message.
    return { status: code, json: { error: x.message, field: x.field, fix: x.fix } };
  }
}
