import type { JobConfig } from "./jobconfig.ts";
import type { PreparedModel } from "./model.ts";
import type { ParetoModel } from "./pareto.ts";
import { type ModelDetails, responseCurve } from "./response.ts";
import type { Candidate } from "./search.ts";
import { adstock } from "./transform.ts";

/**
 * Plain SVG plots: a one-pager per selected model (actual vs fitted, decomposition shares, response curves with
 * the mean spend marked, carryover per channel, spend vs effect share) and the Pareto front.
 */

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "0");
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

function panel(b: Box, title: string, body: string): string {
  return `<g><rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" fill="#fff" stroke="#ccc"/><text x="${b.x + 8}" y="${b.y + 18}" font-size="13" font-weight="bold">${esc(title)}</text>${body}</g>`;
}

function lines(b: Box, series: { values: ArrayLike<number>; color: string; label: string }[]): string {
  const all = series.flatMap((s) => Array.from(s.values));
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const inner = { x: b.x + 10, y: b.y + 28, w: b.w - 20, h: b.h - 40 };
  return series
    .map((s, k) => {
      const n = s.values.length;
      const pts = Array.from(s.values, (v, i) => {
        const x = inner.x + (n > 1 ? (i / (n - 1)) * inner.w : 0);
        const y = inner.y + inner.h - ((v - lo) / (hi - lo || 1)) * inner.h;
        return `${f(x)},${f(y)}`;
      }).join(" ");
      return `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts}"/><text x="${b.x + b.w - 120}" y="${b.y + 18 + k * 14}" font-size="11" fill="${s.color}">${esc(s.label)}</text>`;
    })
    .join("");
}

function bars(
  b: Box,
  items: { label: string; value: number; color?: string }[],
  fmt: (v: number) => string,
): string {
  const max = Math.max(...items.map((i) => Math.abs(i.value)), 1e-12);
  const rowH = Math.min(22, (b.h - 34) / Math.max(items.length, 1));
  const x0 = b.x + 130;
  const w = b.w - 190;
  return items
    .map((it, i) => {
      const y = b.y + 28 + i * rowH;
      const len = (Math.abs(it.value) / max) * w;
      return `<text x="${b.x + 8}" y="${f(y + rowH * 0.7)}" font-size="11">${esc(it.label)}</text><rect x="${x0}" y="${f(y + 2)}" width="${f(len)}" height="${f(rowH - 4)}" fill="${it.color ?? (it.value < 0 ? "#d62728" : "#1f77b4")}"/><text x="${f(x0 + len + 4)}" y="${f(y + rowH * 0.7)}" font-size="10">${esc(fmt(it.value))}</text>`;
    })
    .join("");
}

/** Decomposition waterfall: each regressor's share as a bar starting where the previous ones ended. */
function waterfall(b: Box, items: { label: string; value: number }[], fmt: (v: number) => string): string {
  let cum = 0;
  const steps = items.map((it) => {
    const from = cum;
    cum += it.value;
    return { ...it, from, to: cum };
  });
  const lo = Math.min(0, ...steps.map((s) => Math.min(s.from, s.to)));
  const hi = Math.max(1e-12, ...steps.map((s) => Math.max(s.from, s.to)));
  const rowH = Math.min(22, (b.h - 34) / Math.max(items.length, 1));
  const x0 = b.x + 130;
  const w = b.w - 190;
  const px = (v: number) => x0 + ((v - lo) / (hi - lo)) * w;
  return steps
    .map((st, i) => {
      const y = b.y + 28 + i * rowH;
      const a = px(Math.min(st.from, st.to));
      const len = Math.max(1, px(Math.max(st.from, st.to)) - a);
      return `<text x="${b.x + 8}" y="${f(y + rowH * 0.7)}" font-size="11">${esc(st.label)}</text><rect x="${f(a)}" y="${f(y + 2)}" width="${f(len)}" height="${f(rowH - 4)}" fill="${st.value < 0 ? "#d62728" : "#2ca02c"}"/><text x="${f(a + len + 4)}" y="${f(y + rowH * 0.7)}" font-size="10">${esc(fmt(st.value))}</text>`;
    })
    .join("");
}

/** Compact numbers for labels: 1234 -> 1.2k, 2500000 -> 2.5M. */
const compact = (v: number) =>
  Math.abs(v) >= 1e6
    ? `${(v / 1e6).toFixed(1)}M`
    : Math.abs(v) >= 1e3
      ? `${(v / 1e3).toFixed(1)}k`
      : v.toFixed(0);

/** Lines on a shared scale with optional markers (x index, value) and a legend sized to its labels. */
function curvesWithMarkers(
  b: Box,
  series: { values: number[]; color: string; label: string; marker?: [number, number] }[],
): string {
  const all = series.flatMap((s) => s.values);
  const lo = Math.min(...all, 0);
  const hi = Math.max(...all);
  const inner = { x: b.x + 10, y: b.y + 28, w: b.w - 20, h: b.h - 40 };
  const legendX = b.x + b.w - 10 - Math.max(...series.map((s) => s.label.length)) * 6.6;
  return series
    .map((s, k) => {
      const n = s.values.length;
      const X = (i: number) => inner.x + (n > 1 ? (i / (n - 1)) * inner.w : 0);
      const Y = (v: number) => inner.y + inner.h - ((v - lo) / (hi - lo || 1)) * inner.h;
      const pts = s.values.map((v, i) => `${f(X(i))},${f(Y(v))}`).join(" ");
      const mark = s.marker
        ? `<circle cx="${f(X(s.marker[0]))}" cy="${f(Y(s.marker[1]))}" r="4" fill="${s.color}"/>`
        : "";
      return `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts}"/>${mark}<text x="${f(legendX)}" y="${b.y + 36 + k * 14}" font-size="11" fill="${s.color}">${esc(s.label)}</text>`;
    })
    .join("");
}

export function onePagerSvg(prep: PreparedModel, d: ModelDetails, m: Candidate, config: JobConfig): string {
  const W = 1000;
  const actual = prep.y.slice(prep.ws, prep.we);
  const fitted =
    d.result.yPred.length === actual.length ? d.result.yPred : d.result.yPred.slice(prep.ws, prep.we);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const paid = d.channels.filter((c) => c.paid);
  const parts: string[] = [];
  parts.push(
    panel(
      { x: 10, y: 60, w: W - 20, h: 220 },
      "Actual vs fitted",
      lines({ x: 10, y: 60, w: W - 20, h: 220 }, [
        { values: actual, color: "#333", label: "actual" },
        { values: fitted, color: "#1f77b4", label: "fitted" },
      ]),
    ),
  );
  const dec = { x: 10, y: 290, w: 485, h: 300 };
  parts.push(
    panel(
      dec,
      "Decomposition waterfall (share of fitted)",
      waterfall(
        dec,
        d.decomposition.map((r) => ({ label: r.name, value: r.xDecompPerc })),
        pct,
      ),
    ),
  );
  const share = { x: 505, y: 290, w: 485, h: 300 };
  const totalSpend = paid.reduce((s, c) => s + c.totalSpend, 0) || 1;
  const totalEffect = paid.reduce((s, c) => s + c.xDecompAgg, 0) || 1;
  parts.push(
    panel(
      share,
      "Spend share (grey) vs effect share (blue)",
      bars(
        share,
        paid.flatMap((c) => [
          { label: `${c.name} spend`, value: c.totalSpend / totalSpend, color: "#999" },
          { label: `${c.name} effect`, value: c.xDecompAgg / totalEffect, color: "#1f77b4" },
        ]),
        pct,
      ),
    ),
  );
  const rc = { x: 10, y: 600, w: 485, h: 280 };
  const curves = paid.map((c, k) => {
    const xs = Array.from({ length: 40 }, (_, i) => (i / 39) * c.meanSpend * 3);
    return {
      values: responseCurve(c, xs),
      color: COLORS[k % COLORS.length],
      label: `${c.name} (mean ${compact(c.meanSpend)})`,
      marker: [13, responseCurve(c, [c.meanSpend])[0]] as [number, number],
    };
  });
  parts.push(panel(rc, "Response curves to 3x mean spend (dot: mean)", curvesWithMarkers(rc, curves)));
  const ad = { x: 505, y: 600, w: 485, h: 280 };
  const LAGS = 13;
  const decay = prep.mediaNames.map((name, k) => {
    const keys = prep.mediaKeys[k];
    const impulse = new Float64Array(prep.dates.length);
    impulse[0] = 1;
    const params =
      prep.adstock === "geometric"
        ? { theta: m.hyp[keys.thetas] }
        : { shape: m.hyp[keys.shapes], scale: m.hyp[keys.scales] };
    const res = adstock(impulse, prep.adstock, params).decayed;
    return { values: Array.from(res.slice(0, LAGS)), color: COLORS[k % COLORS.length], label: name };
  });
  parts.push(
    panel(
      ad,
      `Adstock decay of one unit over ${LAGS} periods (${prep.adstock})`,
      curvesWithMarkers(ad, decay),
    ),
  );
  const roas = paid.map((c) => `${c.name} ${(c.xDecompAgg / (c.totalSpend || 1)).toFixed(2)}`).join(" · ");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="900" font-family="sans-serif"><rect width="100%" height="100%" fill="#f7f7f7"/><text x="10" y="24" font-size="18" font-weight="bold">Model ${esc(m.solID)} · ${esc(config.country.toUpperCase())} · ${esc(config.revision)}</text><text x="10" y="46" font-size="12">NRMSE ${m.nrmse.toFixed(4)} · DECOMP.RSSD ${m.decompRssd.toFixed(4)} · R² train ${m.rsqTrain.toFixed(3)} · ROAS: ${esc(roas)}</text>${parts.join("")}</svg>`;
}

export function paretoSvg(all: Candidate[], models: ParetoModel[]): string {
  const W = 700;
  const H = 500;
  const xs = all.map((c) => c.nrmse).filter(Number.isFinite);
  const ys = all.map((c) => c.decompRssd).filter(Number.isFinite);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const px = (v: number) => 50 + ((v - x0) / (x1 - x0 || 1)) * (W - 80);
  const py = (v: number) => H - 40 - ((v - y0) / (y1 - y0 || 1)) * (H - 80);
  const onFront = new Set(models.map((m) => m.solID));
  const dots = all
    .filter((c) => Number.isFinite(c.nrmse) && Number.isFinite(c.decompRssd))
    .map(
      (c) =>
        `<circle cx="${f(px(c.nrmse))}" cy="${f(py(c.decompRssd))}" r="${onFront.has(c.solID) ? 3.5 : 2}" fill="${onFront.has(c.solID) ? "#d62728" : "#9ecae1"}"/>`,
    )
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/><text x="10" y="20" font-size="14" font-weight="bold">Pareto front: ${models.length} models of ${all.length}</text>${dots}<text x="${W / 2}" y="${H - 10}" font-size="12">NRMSE</text><text x="5" y="${H / 2}" font-size="12">DECOMP.RSSD</text></svg>`;
}
