import { describe, expect, it } from "vitest";
import { Canvas, encodePng, svgToPng } from "../../containers/mmm/raster.ts";
import { decodePng } from "./png.ts";

describe("PNG plots without native dependencies", () => {
  it("encodes a canvas as a PNG another decoder reads back pixel for pixel", () => {
    const c = new Canvas(40, 30);
    c.fillRect(5, 5, 10, 10, { r: 255, g: 0, b: 0 });
    c.circle(30, 20, 5, { r: 0, g: 0, b: 255 });
    const png = decodePng(encodePng(c));
    expect([png.width, png.height]).toEqual([40, 30]);
    expect(png.pixel(10, 10)).toEqual([255, 0, 0, 255]);
    expect(png.pixel(30, 20)).toEqual([0, 0, 255, 255]);
    expect(png.pixel(1, 1)).toEqual([255, 255, 255, 255]);
    expect(png.pixel(20, 10)).toEqual([255, 255, 255, 255]);
  });

  it("draws the SVG subset: rect fill and stroke, polyline, circle, bold and anchored text", () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="100%" height="100%" fill="#fff"/><rect x="10" y="10" width="50" height="30" fill="#1f77b4" stroke="#000"/><polyline fill="none" stroke="#d62728" stroke-width="3" points="100,90 190,90"/><circle cx="150" cy="30" r="6" fill="#2ca02c"/><text x="100" y="70" font-size="14" font-weight="bold" text-anchor="middle">NRMSE &#183; 0.19</text></svg>`;
    const png = decodePng(svgToPng(svg));
    expect([png.width, png.height]).toEqual([200, 100]);
    expect(png.pixel(30, 25)).toEqual([31, 119, 180, 255]);
    expect(
      png
        .pixel(10, 25)
        .slice(0, 3)
        .every((v) => v < 100),
    ).toBe(true); // the stroke, half over the fill
    expect(png.pixel(150, 90)).toEqual([214, 39, 40, 255]);
    expect(png.pixel(150, 30)).toEqual([44, 160, 44, 255]);
    // The text, centred on x = 100: dark pixels left and right of the centre, none far away.
    let dark = 0;
    let far = 0;
    for (let y = 55; y < 75; y++)
      for (let x = 0; x < 200; x++) {
        const isDark = png.pixel(x, y)[0] < 100;
        if (isDark && x >= 40 && x <= 160) dark++;
        if (isDark && (x < 35 || x > 165) && y > 60) far++;
      }
    expect(dark).toBeGreaterThan(100);
    expect(far).toBe(0);
    // Twice the scale, twice the size.
    expect(decodePng(svgToPng(svg, 2)).width).toBe(400);
  });

  it("refuses what it cannot draw instead of leaving it out", () => {
    expect(() => svgToPng(`<svg width="10" height="10"><path d="M0 0L5 5"/></svg>`)).toThrow(/<path>/);
    expect(() =>
      svgToPng(`<svg width="10" height="10"><rect width="5" height="5" fill="red"/></svg>`),
    ).toThrow(expect.objectContaining({ field: "fill" }));
    expect(() => svgToPng("<div/>")).toThrow(/not an SVG/);
  });
});
