import { crc32, deflateSync } from "node:zlib";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { GLYPH_ASCENT, GLYPH_HEIGHT, GLYPH_SIZE, GLYPHS } from "./glyphs.ts";

/**
 * PNG plots without native dependencies: an RGBA canvas with anti-aliased shapes and a bitmap font, a PNG
 * encoder (node:zlib), and `svgToPng`, which draws the SVG subset the plots are written in (rect, line,
 * polyline, polygon, circle, text; fill, stroke, stroke-width, font-size, font-weight, text-anchor,
 * `#rgb`/`#rrggbb` colours). Anything else in the SVG is an error, not a silent omission.
 */

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export class Canvas {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;

  constructor(width: number, height: number, background: Rgb = { r: 255, g: 255, b: 255 }) {
    this.width = Math.max(1, Math.round(width));
    this.height = Math.max(1, Math.round(height));
    this.data = new Uint8Array(this.width * this.height * 4);
    for (let i = 0; i < this.data.length; i += 4) {
      this.data[i] = background.r;
      this.data[i + 1] = background.g;
      this.data[i + 2] = background.b;
      this.data[i + 3] = 255;
    }
  }

  /** Blends `c` into pixel (x, y) with coverage `a` in [0, 1]. */
  blend(x: number, y: number, c: Rgb, a: number): void {
    if (a <= 0 || x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const k = Math.min(1, a);
    const i = (y * this.width + x) * 4;
    const d = this.data;
    d[i] = Math.round(d[i] + (c.r - d[i]) * k);
    d[i + 1] = Math.round(d[i + 1] + (c.g - d[i + 1]) * k);
    d[i + 2] = Math.round(d[i + 2] + (c.b - d[i + 2]) * k);
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.ceil(x + w));
    const y1 = Math.min(this.height, Math.ceil(y + h));
    for (let py = y0; py < y1; py++) {
      const cy = Math.min(py + 1, y + h) - Math.max(py, y);
      for (let px = x0; px < x1; px++) {
        const cx = Math.min(px + 1, x + w) - Math.max(px, x);
        this.blend(px, py, c, cx * cy);
      }
    }
  }

  /** A segment of width `w`, coverage by the pixel centre's distance to the segment. */
  line(x0: number, y0: number, x1: number, y1: number, w: number, c: Rgb): void {
    const r = w / 2;
    const minX = Math.max(0, Math.floor(Math.min(x0, x1) - r - 1));
    const maxX = Math.min(this.width - 1, Math.ceil(Math.max(x0, x1) + r + 1));
    const minY = Math.max(0, Math.floor(Math.min(y0, y1) - r - 1));
    const maxY = Math.min(this.height - 1, Math.ceil(Math.max(y0, y1) + r + 1));
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy || 1e-12;
    for (let py = minY; py <= maxY; py++) {
      for (let px = minX; px <= maxX; px++) {
        const qx = px + 0.5;
        const qy = py + 0.5;
        const t = Math.max(0, Math.min(1, ((qx - x0) * dx + (qy - y0) * dy) / len2));
        const ex = qx - (x0 + t * dx);
        const ey = qy - (y0 + t * dy);
        const d = Math.sqrt(ex * ex + ey * ey);
        this.blend(px, py, c, Math.max(0, Math.min(1, r + 0.5 - d)));
      }
    }
  }

  circle(cx: number, cy: number, radius: number, c: Rgb): void {
    for (let py = Math.floor(cy - radius - 1); py <= Math.ceil(cy + radius + 1); py++) {
      for (let px = Math.floor(cx - radius - 1); px <= Math.ceil(cx + radius + 1); px++) {
        const d = Math.hypot(px + 0.5 - cx, py + 0.5 - cy);
        this.blend(px, py, c, Math.max(0, Math.min(1, radius + 0.5 - d)));
      }
    }
  }

  /** Fills a simple polygon (even-odd) with 4 × 4 supersampling per pixel. */
  polygon(pts: [number, number][], c: Rgb): void {
    if (pts.length < 3) return;
    const ys = pts.map((p) => p[1]);
    const xs = pts.map((p) => p[0]);
    const y0 = Math.max(0, Math.floor(Math.min(...ys)));
    const y1 = Math.min(this.height - 1, Math.ceil(Math.max(...ys)));
    const x0 = Math.max(0, Math.floor(Math.min(...xs)));
    const x1 = Math.min(this.width - 1, Math.ceil(Math.max(...xs)));
    const cover = new Float32Array(x1 - x0 + 1);
    for (let py = y0; py <= y1; py++) {
      cover.fill(0);
      for (let sy = 0; sy < 4; sy++) {
        const y = py + (sy + 0.5) / 4;
        const hits: number[] = [];
        for (let i = 0; i < pts.length; i++) {
          const [ax, ay] = pts[i];
          const [bx, by] = pts[(i + 1) % pts.length];
          if (ay <= y !== by <= y) hits.push(ax + ((y - ay) / (by - ay)) * (bx - ax));
        }
        hits.sort((a, b) => a - b);
        for (let h = 0; h + 1 < hits.length; h += 2) {
          for (let sx = 0; sx < (x1 - x0 + 1) * 4; sx++) {
            const x = x0 + (sx + 0.5) / 4;
            if (x >= hits[h] && x < hits[h + 1]) cover[sx >> 2] += 1 / 16;
          }
        }
      }
      for (let i = 0; i < cover.length; i++) this.blend(x0 + i, py, c, cover[i]);
    }
  }

  /** Text width at a font size, in pixels. */
  static measure(text: string, size: number): number {
    let w = 0;
    for (const ch of text) w += (GLYPHS[ch] ?? GLYPHS["?"])[0];
    return (w * size) / GLYPH_SIZE;
  }

  /** Draws text with its baseline at y, scaling the bitmap font bilinearly. */
  text(text: string, x: number, y: number, size: number, c: Rgb, bold = false): void {
    const s = size / GLYPH_SIZE;
    let pen = x;
    const top = y - GLYPH_ASCENT * s;
    for (const ch of text) {
      const [adv, w, hex] = GLYPHS[ch] ?? GLYPHS["?"];
      const alpha = (gx: number, gy: number) =>
        gx < 0 || gy < 0 || gx >= w || gy >= GLYPH_HEIGHT ? 0 : Number.parseInt(hex[gy * w + gx], 16) / 15;
      const pw = Math.ceil(w * s) + 1;
      const ph = Math.ceil(GLYPH_HEIGHT * s) + 1;
      const ox = Math.floor(pen);
      const oy = Math.floor(top);
      for (let py = 0; py < ph; py++) {
        for (let px = 0; px < pw; px++) {
          // Sample the glyph at the destination pixel's centre (bilinear).
          const gx = (ox + px + 0.5 - pen) / s - 0.5;
          const gy = (oy + py + 0.5 - top) / s - 0.5;
          const ix = Math.floor(gx);
          const iy = Math.floor(gy);
          const fx = gx - ix;
          const fy = gy - iy;
          let a =
            alpha(ix, iy) * (1 - fx) * (1 - fy) +
            alpha(ix + 1, iy) * fx * (1 - fy) +
            alpha(ix, iy + 1) * (1 - fx) * fy +
            alpha(ix + 1, iy + 1) * fx * fy;
          if (bold) a = Math.min(1, a * 1.6);
          this.blend(ox + px, oy + py, c, a);
          if (bold) this.blend(ox + px + 1, oy + py, c, a * 0.6);
        }
      }
      pen += adv * s;
    }
  }
}

/** PNG (colour type 6, 8 bits, filter Up per row, zlib from node). */
export function encodePng(c: Canvas): Buffer {
  const { width, height, data } = c;
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    raw[o] = 2;
    for (let i = 0; i < stride; i++) {
      const up = y > 0 ? data[(y - 1) * stride + i] : 0;
      raw[o + 1 + i] = (data[y * stride + i] - up) & 0xff;
    }
  }
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, "latin1"), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 6 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** `#rgb` / `#rrggbb`; undefined for `none`. */
export function parseColor(v: string | undefined, fallback?: Rgb): Rgb | undefined {
  if (v === undefined) return fallback;
  if (v === "none") return undefined;
  let m = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(v);
  if (m)
    return {
      r: Number.parseInt(m[1] + m[1], 16),
      g: Number.parseInt(m[2] + m[2], 16),
      b: Number.parseInt(m[3] + m[3], 16),
    };
  m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(v);
  if (m) return { r: Number.parseInt(m[1], 16), g: Number.parseInt(m[2], 16), b: Number.parseInt(m[3], 16) };
  if (v === "white") return { r: 255, g: 255, b: 255 };
  if (v === "black") return { r: 0, g: 0, b: 0 };
  throw new NonRetriableError(`SVG colour "${v}" is not #rgb, #rrggbb, white, black or none`, {
    field: "fill",
  });
}

const decodeEntities = (s: string) =>
  s
    .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");

function attrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

const BLACK = { r: 0, g: 0, b: 0 };

/** Rasterises the SVG subset written by the plot functions into a PNG. */
export function svgToPng(svg: string, scale = 1): Buffer {
  const root = /<svg\b([^>]*)>/.exec(svg);
  if (!root) throw new NonRetriableError("not an SVG document", { field: "svg" });
  const ra = attrs(root[1]);
  const W = Number(ra.width);
  const H = Number(ra.height);
  if (!(W > 0 && H > 0))
    throw new NonRetriableError("the SVG needs numeric width and height", { field: "svg" });
  const cv = new Canvas(W * scale, H * scale);
  const n = (v: string | undefined, def = 0) => (v === undefined ? def : Number(v)) * scale;
  const re = /<(\/?)([a-z]+)\b([^>]*?)(\/?)>|([^<]+)/g;
  let textAt: { a: Record<string, string>; buf: string } | undefined;
  for (const m of svg.matchAll(re)) {
    const [, close, tag, rest] = m;
    if (m[5] !== undefined) {
      if (textAt) textAt.buf += m[5];
      continue;
    }
    if (close) {
      if (tag === "text" && textAt) {
        const a = textAt.a;
        const size = n(a["font-size"], 12);
        const t = decodeEntities(textAt.buf);
        let x = n(a.x);
        const w = Canvas.measure(t, size);
        if (a["text-anchor"] === "middle") x -= w / 2;
        else if (a["text-anchor"] === "end") x -= w;
        cv.text(t, x, n(a.y), size, parseColor(a.fill, BLACK) ?? BLACK, a["font-weight"] === "bold");
        textAt = undefined;
      }
      continue;
    }
    const a = attrs(rest);
    switch (tag) {
      case "svg":
      case "g":
      case "title":
        break;
      case "rect": {
        const w = a.width === "100%" ? cv.width : n(a.width);
        const h = a.height === "100%" ? cv.height : n(a.height);
        const fill = parseColor(a.fill, BLACK);
        if (fill) cv.fillRect(n(a.x), n(a.y), w, h, fill);
        const stroke = parseColor(a.stroke);
        if (stroke) {
          const [x, y, sw] = [n(a.x), n(a.y), n(a["stroke-width"], 1)];
          cv.line(x, y, x + w, y, sw, stroke);
          cv.line(x + w, y, x + w, y + h, sw, stroke);
          cv.line(x + w, y + h, x, y + h, sw, stroke);
          cv.line(x, y + h, x, y, sw, stroke);
        }
        break;
      }
      case "line": {
        const stroke = parseColor(a.stroke, BLACK);
        if (stroke) cv.line(n(a.x1), n(a.y1), n(a.x2), n(a.y2), n(a["stroke-width"], 1), stroke);
        break;
      }
      case "polyline":
      case "polygon": {
        const pts = (a.points ?? "")
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map((p) => p.split(",").map((v) => Number(v) * scale) as [number, number]);
        const fill = parseColor(a.fill, tag === "polygon" ? BLACK : undefined);
        if (fill && tag === "polygon") cv.polygon(pts, fill);
        const stroke = parseColor(a.stroke);
        if (stroke) {
          const all = tag === "polygon" ? [...pts, pts[0]] : pts;
          for (let i = 1; i < all.length; i++)
            cv.line(all[i - 1][0], all[i - 1][1], all[i][0], all[i][1], n(a["stroke-width"], 1), stroke);
        }
        break;
      }
      case "circle": {
        const fill = parseColor(a.fill, BLACK);
        if (fill) cv.circle(n(a.cx), n(a.cy), n(a.r), fill);
        break;
      }
      case "text":
        textAt = { a, buf: "" };
        break;
      default:
        throw new NonRetriableError(`SVG element <${tag}> is not drawn by svgToPng`, {
          field: "svg",
          fix: "write the plot with rect, line, polyline, polygon, circle and text",
        });
    }
  }
  return encodePng(cv);
}
