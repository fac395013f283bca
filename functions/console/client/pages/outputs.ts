import { api, qs } from "../api.ts";
import { field, h, href, select, table, when } from "../dom.ts";
import type { Live } from "../main.ts";

const KINDS: [string, string][] = [
  ["mozaic-daily", "mozaic-daily fan charts"],
  ["causemos", "causemos tiles and timeseries"],
  ["taar-daily", "TAAR daily model files"],
  ["taar-weekly", "TAAR weekly model files"],
  ["mozaggregator", "mozaggregator days"],
];

const fileUrl = (path: string) => `api/outputs/file${qs({ path })}`;

/** `#/outputs?kind&partition`: what the pipelines published, by the partitions that succeeded. */
export async function outputsPage(root: HTMLElement, params: URLSearchParams, live: Live): Promise<void> {
  root.append(h("h1", null, "Outputs"));
  const kind = params.get("kind") || "mozaic-daily";
  const available = await api<Record<string, string[]>>(`/outputs${qs({ kind })}`);
  if (!live.active()) return;
  root.append(
    h(
      "nav",
      { class: "tabs", "aria-label": "Output kinds" },
      h(
        "ul",
        null,
        KINDS.map(([k, t]) =>
          h(
            "li",
            null,
            h(
              "a",
              { href: href("/outputs", { kind: k }), "aria-current": k === kind ? "page" : undefined },
              k === kind ? `${t} (${available[k]?.length ?? 0})` : t,
            ),
          ),
        ),
      ),
    ),
  );
  const partitions = available[kind] ?? [];
  if (partitions.length === 0) {
    root.append(h("p", { class: "muted" }, `No succeeded ${kind} partition yet.`));
    return;
  }
  const partition = params.get("partition") || partitions[0];
  const form = h(
    "form",
    { class: "card filters", "aria-label": "Pick a partition" },
    h(
      "div",
      { class: "form-grid" },
      field(
        kind === "causemos" ? "Run" : "Date",
        select(
          "partition",
          partitions.map((p) => [p, p]),
          partition,
        ),
      ),
    ),
    h("div", { class: "form-actions" }, h("button", { class: "btn", type: "submit" }, "Show")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = href("/outputs", { kind, partition: String(new FormData(form).get("partition")) });
  });
  root.append(form);
  const body = h("div");
  root.append(body);
  if (kind === "mozaic-daily") await mozaic(body, partition, params);
  else if (kind === "causemos") await causemos(body, partition, params);
  else if (kind === "mozaggregator") await mozaggregator(body, partition);
  else await taar(body, partition);
}

interface Chart {
  source: string;
  metric: string;
  country: string;
  path: string;
}

async function mozaic(body: HTMLElement, date: string, params: URLSearchParams): Promise<void> {
  const out = await api<{ charts: Chart[] }>(`/outputs/mozaic-daily${qs({ date })}`);
  const uniq = (k: keyof Chart) => [...new Set(out.charts.map((c) => c[k]))].sort();
  const want = {
    source: params.get("source") ?? "",
    metric: params.get("metric") ?? "",
    country: params.get("country") ?? "",
  };
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter fan charts" },
    h(
      "div",
      { class: "form-grid" },
      (["source", "metric", "country"] as const).map((k) =>
        field(
          k[0].toUpperCase() + k.slice(1),
          select(k, [["", `every ${k}`], ...uniq(k).map((v): [string, string] => [v, v])], want[k]),
        ),
      ),
    ),
    h("div", { class: "form-actions" }, h("button", { class: "btn", type: "submit" }, "Filter")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const d = new FormData(form);
    location.hash = href("/outputs", {
      kind: "mozaic-daily",
      partition: date,
      source: String(d.get("source")),
      metric: String(d.get("metric")),
      country: String(d.get("country")),
    });
  });
  const charts = out.charts.filter(
    (c) =>
      (!want.source || c.source === want.source) &&
      (!want.metric || c.metric === want.metric) &&
      (!want.country || c.country === want.country),
  );
  body.append(
    form,
    h("p", null, `${charts.length} of ${out.charts.length} fan chart(s) for ${date}.`),
    h(
      "div",
      { class: "charts" },
      charts.slice(0, 60).map((c) =>
        h(
          "figure",
          { class: "card chart" },
          h("img", {
            src: fileUrl(c.path),
            alt: `Fan chart of ${c.metric} for ${c.country} from ${c.source}`,
            loading: "lazy",
          }),
          h("figcaption", null, `${c.source} · ${c.metric} · ${c.country}`),
        ),
      ),
    ),
  );
}

interface CausemosRun {
  files: number;
  summary: Record<string, number>;
  results?: { data_info?: Record<string, unknown> };
  timeseries: { resolution: string; feature: string; path: string }[];
  tiles: {
    path: string;
    resolution: string;
    feature: string;
    timestamp: string;
    z: number;
    x: number;
    y: number;
  }[];
  tileCount: number;
}

async function causemos(body: HTMLElement, partition: string, params: URLSearchParams): Promise<void> {
  const run = await api<CausemosRun>(`/outputs/causemos${qs({ partition })}`);
  body.append(
    table(
      "Files by kind",
      ["kind", "files"],
      Object.entries(run.summary).map(([k, n]) => [k, String(n)]),
    ),
  );
  if (run.results?.data_info)
    body.append(
      h(
        "details",
        null,
        h("summary", null, "results.json: data_info"),
        h("pre", null, JSON.stringify(run.results.data_info, null, 2)),
      ),
    );
  // Timeseries: pick one, draw it.
  const tsPath = params.get("ts") || run.timeseries[0]?.path;
  const tilePath = params.get("tile") || run.tiles[0]?.path;
  const stat = params.get("stat") || "s_sum_t_mean";
  const form = h(
    "form",
    { class: "card filters", "aria-label": "Pick a timeseries and a tile" },
    h(
      "div",
      { class: "form-grid" },
      field(
        "Timeseries",
        select(
          "ts",
          run.timeseries.map((t) => [t.path, `${t.resolution} · ${t.feature}`]),
          tsPath,
        ),
      ),
      field(
        "Tile",
        select(
          "tile",
          run.tiles.map((t) => [
            t.path,
            `${t.resolution} · ${t.feature} · ${t.timestamp} z${t.z}/${t.x}/${t.y}`,
          ]),
          tilePath,
        ),
        `${run.tileCount} tiles; the first ${run.tiles.length} by zoom are listed`,
      ),
      field(
        "Statistic",
        select(
          "stat",
          [
            ["s_sum_t_mean", "s_sum_t_mean"],
            ["s_sum_t_sum", "s_sum_t_sum"],
            ["s_mean_t_mean", "s_mean_t_mean"],
            ["weight", "weight"],
          ],
          stat,
        ),
      ),
    ),
    h("div", { class: "form-actions" }, h("button", { class: "btn", type: "submit" }, "Show")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const d = new FormData(form);
    location.hash = href("/outputs", {
      kind: "causemos",
      partition,
      ts: String(d.get("ts") ?? ""),
      tile: String(d.get("tile") ?? ""),
      stat: String(d.get("stat") ?? ""),
    });
  });
  body.append(form);
  const row = h("div", { class: "charts" });
  body.append(row);
  if (tsPath) {
    const ts = await api<{ columns: string[]; rows: (number | null)[][] }>(
      `/outputs/causemos/timeseries${qs({ path: tsPath })}`,
    );
    row.append(
      h("figure", { class: "card chart" }, lineChart(ts.columns, ts.rows), h("figcaption", null, tsPath)),
    );
  }
  if (tilePath)
    row.append(
      h(
        "figure",
        { class: "card chart" },
        h("img", {
          src: `api/outputs/causemos/tile${qs({ path: tilePath, stat })}`,
          alt: `Tile ${tilePath} coloured by ${stat}`,
        }),
        h("figcaption", null, `${tilePath} (${stat})`),
      ),
    );
}

/** A small SVG line chart of every numeric column against the first (a timestamp in ms). */
function lineChart(columns: string[], rows: (number | null)[][]): SVGSVGElement {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640;
  const H = 300;
  const m = { l: 60, r: 10, t: 10, b: 50 };
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  const series = columns.slice(1, 3);
  svg.setAttribute("aria-label", `Timeseries of ${series.join(" and ")} over ${rows.length} points`);
  const xs = rows.map((r) => r[0] ?? 0);
  const ys = rows
    .flatMap((r) => r.slice(1, 3))
    .filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (!rows.length || !ys.length) return svg;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const el = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text) e.textContent = text;
    svg.append(e);
    return e;
  };
  el("line", { x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b, class: "axis" });
  el("line", { x1: m.l, y1: m.t, x2: m.l, y2: H - m.b, class: "axis" });
  el("text", { x: 4, y: m.t + 10, class: "tick" }, fmt(y1));
  el("text", { x: 4, y: H - m.b, class: "tick" }, fmt(y0));
  el("text", { x: m.l, y: H - m.b + 16, class: "tick" }, new Date(x0).toISOString().slice(0, 10));
  el("text", { x: W - m.r - 70, y: H - m.b + 16, class: "tick" }, new Date(x1).toISOString().slice(0, 10));
  series.forEach((name, k) => {
    const pts = rows
      .filter((r) => typeof r[k + 1] === "number")
      .map((r) => `${sx(r[0] ?? 0).toFixed(1)},${sy(r[k + 1] as number).toFixed(1)}`);
    el("polyline", { points: pts.join(" "), class: `series s${k}`, fill: "none" });
    el("text", { x: m.l + 8 + k * 200, y: H - 12, class: `legend s${k}` }, `— ${name}`);
  });
  return svg;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 ? v.toExponential(2) : String(Math.round(v * 100) / 100);
}

async function taar(body: HTMLElement, date: string): Promise<void> {
  const out = await api<{
    models: { path: string; size: number; updated: string }[];
    steps: { step: string; summary: unknown }[];
  }>(`/outputs/taar${qs({ date })}`);
  body.append(
    table(
      "Model files (the current copies; each also has a dated one)",
      ["file", "bytes", "updated"],
      out.models.map((m) => [m.path, m.size.toLocaleString("en"), when(m.updated)]),
    ),
    table(
      `Step summaries of ${date}`,
      ["step", "summary"],
      out.steps.map((s) => [s.step, h("pre", { class: "summary" }, JSON.stringify(s.summary, null, 1))]),
    ),
  );
}

async function mozaggregator(body: HTMLElement, date: string): Promise<void> {
  const out = await api<{
    status?: { status?: string; reason?: string; tables?: { table: string; rows: number }[] };
    manifests: { type: string; path: string; manifest: unknown }[];
  }>(`/outputs/mozaggregator${qs({ date })}`);
  const s = out.status;
  body.append(
    h(
      "section",
      { class: "card" },
      h("h2", null, `Day ${date}`),
      h("p", null, `Status: ${s?.status ?? "(no status file)"}${s?.reason ? ` (${s.reason})` : ""}`),
      s?.tables
        ? table(
            "Loaded tables",
            ["table", "rows"],
            s.tables.map((t) => [t.table, t.rows.toLocaleString("en")]),
          )
        : null,
    ),
    table(
      "Parquet manifests (_SUCCESS)",
      ["type", "manifest"],
      out.manifests.map((m) => [m.type, h("pre", { class: "summary" }, JSON.stringify(m.manifest, null, 1))]),
    ),
  );
}
