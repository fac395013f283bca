import { describe, expect, it } from "vitest";
import { outputTreeSummary, previewTile } from "../../containers/causemos/preview.ts";
import { encodeTile } from "../../containers/causemos/tile-proto.ts";

describe("tile preview", () => {
  it("draws one rectangle per non-empty bin at its grid position, with the range in the legend", () => {
    const bytes = encodeTile({ x: 0, y: 0, z: 0 }, 4096, [0, 1957, 4095], [1, 2, 3], [10, 20, 30], [1, 1, 2]);
    const svg = previewTile(bytes, { stat: "s_sum_t_mean", cell: 5 });
    expect(svg.startsWith("<svg")).toBe(true);
    const rects = [
      ...svg.matchAll(/<rect x="(\d+)" y="(\d+)" width="5" height="5" fill="(rgb\([^)]+\))"\/>/g),
    ];
    expect(rects.map((m) => [Number(m[1]), Number(m[2]) - 28])).toEqual([
      [0, 0],
      [(1957 % 64) * 5, Math.floor(1957 / 64) * 5],
      [63 * 5, 63 * 5],
    ]);
    expect(rects[0][3]).toBe("rgb(68,1,84)");
    expect(rects[2][3]).toBe("rgb(253,231,37)");
    expect(svg).toContain("s_sum_t_mean: 10 … 30 · 3 of 4096 bins");
  });

  it("summarises an output tree by kind", () => {
    const s = outputTreeSummary([
      "m/r/raw/f/raw/raw.csv",
      "m/r/raw/f/info/region_lists.json",
      "m/r/month/f/tiles/0-0-0-0.tile",
      "m/r/month/f/regional/admin1/aggs/0/default/default.csv",
      "m/r/results/results.json",
    ]);
    expect(s).toMatchObject({
      "raw/raw.csv": 1,
      "raw/info": 1,
      tiles: 1,
      "regional/aggs": 1,
      results: 1,
      "stats/grid": 0,
    });
  });
});

describe("demo", () => {
  it("runs a generated model into the objects port and draws a tile", async () => {
    const { join } = await import("node:path");
    const { readFileSync } = await import("node:fs");
    const { runDemo } = await import("../../containers/causemos/demo.ts");
    const { createLocalObjects } = await import("../../shared/adapters/local/objects.ts");
    const { createLogger, memorySink } = await import("../../shared/core/log.ts");
    const { tempDir } = await import("./helpers.ts");
    const dir = tempDir();
    try {
      const result = await runDemo({
        objects: createLocalObjects({ root: join(dir.path, "objects") }),
        outDir: dir.path,
        points: 200,
        days: 40,
        logger: createLogger({ sink: memorySink() }),
      });
      expect(result.tree.tiles).toBe(result.summary.tiles);
      expect(result.tree.results).toBe(1);
      expect(readFileSync(result.previewPath as string, "utf8")).toMatch(/^<svg[\s\S]*<rect [\s\S]*<\/svg>$/);
    } finally {
      dir.remove();
    }
  });
});
