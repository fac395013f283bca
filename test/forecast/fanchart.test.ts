import { describe, expect, it } from "vitest";
import { fanBands, fanChartSvg } from "../../containers/forecast/fanchart.ts";
import { fitProphet, predictProphet } from "../../containers/forecast/prophet.ts";
import { parseDs } from "../../containers/forecast/time.ts";
import { days } from "./helpers.ts";

describe("fan chart", () => {
  const ds = days(120);
  const y = ds.map((_, i) => 20 + 0.1 * i + Math.sin(i) * 2);
  const model = fitProphet({ ds, y });

  it("draws history dots, the median and nested 50%/80% bands from sample paths", () => {
    const f = predictProphet(model, { periods: 30, samples: 400, seed: 2, keepSamples: true });
    const bands = fanBands(f);
    const b80 = bands.bands.find((b) => b.level === 0.8);
    const b50 = bands.bands.find((b) => b.level === 0.5);
    for (let i = 0; i < f.yhat.length; i++) {
      expect(b80?.lower[i]).toBeLessThanOrEqual(b50?.lower[i] as number);
      expect(b50?.lower[i]).toBeLessThanOrEqual(bands.median[i]);
      expect(bands.median[i]).toBeLessThanOrEqual(b50?.upper[i] as number);
      expect(b50?.upper[i]).toBeLessThanOrEqual(b80?.upper[i] as number);
    }
    const svg = fanChartSvg({ days: ds.map((d) => parseDs(d)), y }, f, { title: "a <test>" });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<circle /g)).toHaveLength(120);
    expect(svg).toMatch(/<polygon class="band-80"/);
    expect(svg).toMatch(/<polygon class="band-50"/);
    expect(svg).toMatch(/<polyline class="median"/);
    expect(svg).toContain("a &lt;test&gt;");
    expect(svg).not.toMatch(/NaN/);
  });

  it("falls back to the forecast's own interval without samples", () => {
    const f = predictProphet(model, { periods: 10, samples: 100, seed: 2 });
    expect(fanBands(f).bands).toHaveLength(1);
    expect(fanChartSvg({ days: ds.map((d) => parseDs(d)), y }, f)).toMatch(/band-80/);
  });
});
