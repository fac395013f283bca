import { describe, expect, it } from "vitest";
import { seededRandom } from "../../containers/causemos/generator.ts";
import {
  binIndex,
  deg2num,
  MAX_LATITUDE,
  parentTile,
  TOTAL_BINS,
  tileOf,
} from "../../containers/causemos/slippy.ts";
import { seriesCells } from "../../containers/causemos/tiling.ts";

const cell = (lat: number, lng: number, z = 14) => {
  const out = [0, 0];
  return deg2num(lat, lng, z, out) ? out : null;
};

describe("deg2num", () => {
  it("places the map's corners and centre", () => {
    expect(cell(0, 0)).toEqual([8192, 8192]);
    expect(cell(85.0511, -180)).toEqual([0, 0]);
    expect(cell(-85.0511, 180)).toEqual([0, 16383]);
    expect(cell(-85.0511, 179.99999)).toEqual([16383, 16383]);
    expect(cell(MAX_LATITUDE, 0, 0)).toEqual([0, 0]);
  });

  it("wraps longitude 180 onto -180 (the antimeridian is one line)", () => {
    for (const z of [0, 1, 6, 14]) {
      expect(cell(10, 180, z)).toEqual(cell(10, -180, z));
      expect(cell(10, 179.9999, z)?.[0]).toBe(2 ** z - 1);
      expect(cell(10, -179.9999, z)?.[0]).toBe(0);
    }
  });

  it("clamps latitudes beyond the Web Mercator limit to the edge rows", () => {
    expect(cell(89.9, 0)?.[1]).toBe(0);
    expect(cell(90, 0)?.[1]).toBe(0);
    expect(cell(-89.9, 0)?.[1]).toBe(16383);
    expect(cell(-90, 0)?.[1]).toBe(16383);
  });

  it("rejects coordinates that are missing or off the globe", () => {
    expect(cell(Number.NaN, 0)).toBeNull();
    expect(cell(0, Number.NaN)).toBeNull();
    expect(cell(90.01, 0)).toBeNull();
    expect(cell(0, -180.5)).toBeNull();
  });

  it("equals the original's truncating formula inside the map", () => {
    const random = seededRandom(7);
    for (let i = 0; i < 5_000; i++) {
      const lat = (random() * 2 - 1) * 85;
      const lng = random() * 359.99 - 180;
      const z = Math.floor(random() * 15);
      const n = 2.0 ** z;
      const latRad = lat * (Math.PI / 180);
      const x = Math.trunc(((lng + 180.0) / 360.0) * n);
      const y = Math.trunc(((1.0 - Math.asinh(Math.tan(latRad)) / Math.PI) / 2.0) * n);
      expect(cell(lat, lng, z)).toEqual([x, y]);
    }
  });
});

describe("tiles and bins", () => {
  it("has 4,096 bins per main tile", () => {
    expect(TOTAL_BINS).toBe(4096);
  });

  it("puts subtiles (14,9632,7755) and (14,10041,7726) in bins 1957 and 1959 of tile 0/0/0", () => {
    const a = parentTile({ z: 14, x: 9632, y: 7755 }, 8);
    const b = parentTile({ z: 14, x: 10041, y: 7726 }, 8);
    expect(a).toEqual({ z: 6, x: 37, y: 30 });
    expect(tileOf(a)).toEqual({ z: 0, x: 0, y: 0 });
    expect(binIndex(a)).toBe(1957);
    expect(binIndex(b)).toBe(1959);
  });

  it("numbers bins row by row from the tile's top-left subtile", () => {
    expect(binIndex({ z: 14, x: 64 * 5, y: 64 * 7 })).toBe(0);
    expect(binIndex({ z: 14, x: 64 * 5 + 63, y: 64 * 7 })).toBe(63);
    expect(binIndex({ z: 14, x: 64 * 5, y: 64 * 7 + 1 })).toBe(64);
    expect(binIndex({ z: 14, x: 64 * 5 + 63, y: 64 * 7 + 63 })).toBe(4095);
    expect(tileOf({ z: 14, x: 64 * 5 + 63, y: 64 * 7 + 63 })).toEqual({ z: 8, x: 5, y: 7 });
  });
});

describe("seriesCells", () => {
  it("gives each series the cell of its point, repeated points (a model's features) and invalid ones too", () => {
    // Rows: a point given twice in a row (two features), +0 then -0, a missing point twice, a point off the
    // globe twice, then the first point again after other ones. Series 0..9 read rows in reverse order.
    const pts: [number, number][] = [
      [9.1, 38.7],
      [9.1, 38.7],
      [0, 0],
      [-0, -0],
      [Number.NaN, 10],
      [Number.NaN, 10],
      [95, 10],
      [95, 10],
      [-33.9, 151.2],
      [9.1, 38.7],
    ];
    const lat = Float64Array.from(pts, (p) => p[0]);
    const lng = Float64Array.from(pts, (p) => p[1]);
    const seriesRow = Int32Array.from(pts.keys()).reverse();
    const cells = seriesCells(lat, lng, seriesRow);
    seriesRow.forEach((r, s) => {
      const c = cell(lat[r], lng[r]);
      expect([cells.x[s], cells.y[s]]).toEqual(c ?? [-1, -1]);
    });
    expect(cells.invalid).toBe(4);
  });
});
