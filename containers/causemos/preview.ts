import { BINS_PER_SIDE } from "./slippy.ts";
import { decodeTile, type TileMessage } from "./tile-proto.ts";

/**
 * A picture of one tile: its 64 x 64 bins coloured by a statistic (sequential ramp, empty bins blank), with the
 * tile coordinate, the statistic and its range. For `npm start` and for people looking at outputs.
 */
export type PreviewStat = "s_sum_t_sum" | "s_sum_t_mean" | "weight" | "s_mean_t_mean";

export interface PreviewOptions {
  stat?: PreviewStat;
  /** Pixel size of one bin (default 6: a 384-pixel map). */
  cell?: number;
  title?: string;
}

// Viridis, 6 stops.
const RAMP: [number, number, number][] = [
  [68, 1, 84],
  [65, 68, 135],
  [42, 120, 142],
  [34, 168, 132],
  [122, 209, 81],
  [253, 231, 37],
];

function colour(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const escapeXml = (s: string) =>
  s.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c] as string);

export function previewTile(tile: Uint8Array | TileMessage, options: PreviewOptions = {}): string {
  const message = tile instanceof Uint8Array ? decodeTile(tile) : tile;
  const stat = options.stat ?? "s_sum_t_mean";
  const cell = options.cell ?? 6;
  const side = Math.round(Math.sqrt(message.bins.totalBins)) || BINS_PER_SIDE;
  const values = new Map<number, number>();
  for (const [bin, s] of Object.entries(message.bins.stats)) {
    const v = stat === "s_mean_t_mean" ? s.s_sum_t_mean / s.weight : s[stat];
    if (Number.isFinite(v)) values.set(Number(bin), v);
  }
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values.values()) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi > lo ? hi - lo : 1;
  const map = side * cell;
  const top = 28;
  const rects: string[] = [];
  for (const [bin, v] of values) {
    const x = (bin % side) * cell;
    const y = Math.floor(bin / side) * cell;
    rects.push(
      `<rect x="${x}" y="${y + top}" width="${cell}" height="${cell}" fill="${colour((v - lo) / span)}"/>`,
    );
  }
  const { z, x, y } = message.coord;
  const title = escapeXml(options.title ?? `tile ${z}/${x}/${y}`);
  const legend =
    values.size > 0
      ? `${stat}: ${fmt(lo)} … ${fmt(hi)} · ${values.size} of ${message.bins.totalBins} bins`
      : "no bins";
  const stops = RAMP.map(
    (_, k) =>
      `<stop offset="${(k / (RAMP.length - 1)) * 100}%" stop-color="${colour(k / (RAMP.length - 1))}"/>`,
  ).join("");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${map}" height="${map + top + 34}" viewBox="0 0 ${map} ${map + top + 34}" font-family="sans-serif">`,
    `<defs><linearGradient id="ramp">${stops}</linearGradient></defs>`,
    `<text x="0" y="18" font-size="14">${title}</text>`,
    `<rect x="0" y="${top}" width="${map}" height="${map}" fill="#f4f4f4" stroke="#999"/>`,
    ...rects,
    `<rect x="0" y="${map + top + 6}" width="${map}" height="10" fill="url(#ramp)"/>`,
    `<text x="0" y="${map + top + 30}" font-size="11">${escapeXml(legend)}</text>`,
    "</svg>",
  ].join("\n");
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)
    ? v.toExponential(2)
    : String(Math.round(v * 100) / 100);
}

/** Counts of output files by kind, for a one-screen summary of a run's tree. */
export function outputTreeSummary(names: readonly string[]): Record<string, number> {
  const kinds: [string, RegExp][] = [
    ["raw/raw.csv", /\/raw\/[^/]+\/raw\/raw\.csv$/],
    ["raw/info", /\/raw\/[^/]+\/info\//],
    ["timeseries/global", /\/timeseries\/global\//],
    ["timeseries/qualifiers", /\/[^/]+\/timeseries\/qualifiers\//],
    ["regional/stats", /\/regional\/[^/]+\/stats\//],
    ["regional/timeseries", /\/regional\/[^/]+\/timeseries\//],
    ["regional/aggs", /\/regional\/[^/]+\/aggs\//],
    ["stats/grid", /\/stats\/grid\//],
    ["tiles", /\/tiles\/[^/]+\.tile$/],
    ["results", /\/results\//],
  ];
  const out: Record<string, number> = {};
  for (const [kind] of kinds) out[kind] = 0;
  for (const name of names) {
    const hit = kinds.find(([, re]) => re.test(name));
    if (hit) out[hit[0]]++;
  }
  return out;
}
