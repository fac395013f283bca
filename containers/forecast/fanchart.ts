import type { Forecast } from "./prophet.ts";
import { quantileInPlace } from "./prophet.ts";
import { formatDs } from "./time.ts";

/**
 * A fan chart as a standalone SVG: history as dots, the forecast median as a line, the 50% and 80% bands as
 * shaded areas. With sample paths the bands are their quantiles (0.1/0.25/0.5/0.75/0.9); without them the chart
 * draws yhat and the forecast's own [yhat_lower, yhat_upper] band.
 */
export interface FanChartOptions {
  title?: string;
  width?: number;
  height?: number;
  /** Only draw dates from this day number (days since epoch) on; default: everything. */
  fromDay?: number;
}

export interface FanBands {
  days: Float64Array;
  median: Float64Array;
  bands: { level: number; lower: Float64Array; upper: Float64Array }[];
}

export function fanBands(f: Forecast): FanBands {
  const N = f.days.length;
  if (!f.samples || f.nSamples === 0) {
    return {
      days: f.days,
      median: f.yhat,
      bands: [{ level: f.intervalWidth, lower: f.yhatLower, upper: f.yhatUpper }],
    };
  }
  const S = f.nSamples;
  const qs = [0.1, 0.25, 0.5, 0.75, 0.9];
  const out = qs.map(() => new Float64Array(N));
  const buf = new Float64Array(S);
  for (let i = 0; i < N; i++) {
    buf.set(f.samples.subarray(i * S, (i + 1) * S));
    qs.forEach((q, k) => {
      out[k][i] = quantileInPlace(buf, q);
    });
  }
  return {
    days: f.days,
    median: out[2],
    bands: [
      { level: 0.8, lower: out[0], upper: out[4] },
      { level: 0.5, lower: out[1], upper: out[3] },
    ],
  };
}

export function fanChartSvg(
  history: { days: ArrayLike<number>; y: ArrayLike<number> },
  forecast: Forecast,
  options: FanChartOptions = {},
): string {
  const W = options.width ?? 900;
  const H = options.height ?? 360;
  const m = { l: 64, r: 16, t: 32, b: 40 };
  const from = options.fromDay ?? Number.NEGATIVE_INFINITY;
  const bands = fanBands(forecast);
  const lastHist = Math.max(...Array.from(history.days));
  const keepF: number[] = [];
  for (let i = 0; i < bands.days.length; i++)
    if (bands.days[i] >= from && bands.days[i] > lastHist - 1e-9) keepF.push(i);
  const keepH: number[] = [];
  for (let i = 0; i < history.days.length; i++)
    if (history.days[i] >= from && Number.isFinite(history.y[i])) keepH.push(i);
  const xsAll = [...keepH.map((i) => history.days[i]), ...keepF.map((i) => bands.days[i])];
  let x0 = Math.min(...xsAll);
  let x1 = Math.max(...xsAll);
  if (!(x1 > x0)) x1 = x0 + 1;
  const ysAll: number[] = keepH.map((i) => history.y[i]);
  for (const i of keepF) {
    ysAll.push(bands.median[i]);
    for (const b of bands.bands) ysAll.push(b.lower[i], b.upper[i]);
  }
  const finiteYs = ysAll.filter(Number.isFinite);
  let y0 = finiteYs.length ? Math.min(...finiteYs) : 0;
  let y1 = finiteYs.length ? Math.max(...finiteYs) : 1;
  if (!(y1 > y0)) {
    y0 -= 1;
    y1 += 1;
  }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  if (!(x1 > x0)) x0 = x1 - 1;
  const px = (d: number) => (m.l + ((d - x0) / (x1 - x0)) * (W - m.l - m.r)).toFixed(1);
  const py = (v: number) => (m.t + (1 - (v - y0) / (y1 - y0)) * (H - m.t - m.b)).toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  if (options.title)
    parts.push(
      `<text x="${m.l}" y="20" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
    );
  // Axes and grid.
  for (let k = 0; k <= 4; k++) {
    const v = y0 + ((y1 - y0) * k) / 4;
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(v)}" y2="${py(v)}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${m.l - 6}" y="${py(v)}" text-anchor="end" dominant-baseline="middle">${escapeXml(shortNumber(v))}</text>`,
    );
  }
  for (let k = 0; k <= 5; k++) {
    const d = x0 + ((x1 - x0) * k) / 5;
    parts.push(
      `<text x="${px(d)}" y="${H - m.b + 16}" text-anchor="middle">${formatDs(Math.round(d))}</text>`,
    );
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#555"/>`);
  // Bands, widest first.
  const fills: Record<string, string> = { "0.8": "#9ecae1", "0.5": "#4292c6" };
  for (const b of [...bands.bands].sort((a, c) => c.level - a.level)) {
    if (keepF.length === 0) break;
    const up = keepF.map((i) => `${px(bands.days[i])},${py(b.upper[i])}`);
    const down = keepF
      .slice()
      .reverse()
      .map((i) => `${px(bands.days[i])},${py(b.lower[i])}`);
    parts.push(
      `<polygon class="band-${Math.round(b.level * 100)}" points="${[...up, ...down].join(" ")}" fill="${fills[String(b.level)] ?? "#9ecae1"}" fill-opacity="0.6" stroke="none"/>`,
    );
  }
  for (const i of keepH)
    parts.push(`<circle cx="${px(history.days[i])}" cy="${py(history.y[i])}" r="1.2" fill="#222"/>`);
  if (keepF.length > 0) {
    parts.push(
      `<polyline class="median" points="${keepF.map((i) => `${px(bands.days[i])},${py(bands.median[i])}`).join(" ")}" fill="none" stroke="#08306b" stroke-width="1.5"/>`,
    );
  }
  const legend = bands.bands.map((b) => `${Math.round(b.level * 100)}% band`).join(", ");
  parts.push(
    `<text x="${W - m.r}" y="20" text-anchor="end">history (dots), median (line), ${escapeXml(legend)}</text>`,
  );
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

function shortNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return Number(v.toPrecision(4)).toString();
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
