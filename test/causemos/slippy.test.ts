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
