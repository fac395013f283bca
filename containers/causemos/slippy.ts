/**
 * Slippy-map (OSM / Web Mercator) tile math with the pipeline's constants: grid cells ("subtiles") at
 * precision 14 down to 6, main tiles at zoom (precision - 6) = 8..0, each a 64 x 64 grid of 4,096 bins.
 *
 * deg2num follows the original's formula in the same floating-point order
 * (`x = (lng + 180) / 360 * 2^z`, `y = (1 - asinh(tan(lat * pi/180)) / pi) / 2 * 2^z`), then, unlike the original
 * (which truncates toward zero and so emits column 2^z for lng = 180 and rows outside the map beyond
 * |lat| = 85.0511°), it wraps longitude around the antimeridian (180° is -180°) and clamps latitude to the
 * Web Mercator limit, so every valid coordinate lands in a tile that exists. Invalid coordinates (NaN,
 * |lat| > 90, |lng| > 180) return false.
 */

export const MAX_SUBTILE_PRECISION = 14;
export const LEVEL_DIFF = 6;
export const MIN_SUBTILE_PRECISION = LEVEL_DIFF;
export const MAX_ZOOM = MAX_SUBTILE_PRECISION - LEVEL_DIFF;
export const BINS_PER_SIDE = 1 << LEVEL_DIFF;
export const TOTAL_BINS = BINS_PER_SIDE * BINS_PER_SIDE;
/** atan(sinh(pi)) in degrees: the north and south edge of the Web Mercator square. */
export const MAX_LATITUDE = 85.0511287798066;

const DEG = Math.PI / 180;

/** Write the tile column and row of (lat, lng) at `zoom` into out[0], out[1]; false for invalid coordinates. */
export function deg2num(lat: number, lng: number, zoom: number, out: Int32Array | number[]): boolean {
  if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) return false;
  // 2 ** zoom, exactly; the shift keeps Math.pow out of the per-series loop.
  const n = (zoom | 0) === zoom && zoom >= 0 && zoom <= 30 ? 1 << zoom : 2 ** zoom;
  let x = Math.floor(((lng + 180.0) / 360.0) * n);
  if (x >= n) x -= n;
  const y = Math.floor(((1.0 - Math.asinh(Math.tan(lat * DEG)) / Math.PI) / 2.0) * n);
  out[0] = x;
  out[1] = y < 0 ? 0 : y >= n ? n - 1 : y;
  return true;
}

export interface TileCoord {
  z: number;
  x: number;
  y: number;
}

/** The ancestor of a tile `levels` zoom levels up. */
export function parentTile(tile: TileCoord, levels = 1): TileCoord {
  return { z: tile.z - levels, x: Math.floor(tile.x / 2 ** levels), y: Math.floor(tile.y / 2 ** levels) };
}

/** The main tile holding a subtile: LEVEL_DIFF levels up. */
export function tileOf(subtile: TileCoord): TileCoord {
  return parentTile(subtile, LEVEL_DIFF);
}

/** The bin of a subtile inside its main tile: (sx - 64·x) + (sy - 64·y)·64. */
export function binIndex(subtile: TileCoord, tile: TileCoord = tileOf(subtile)): number {
  const side = 2 ** (subtile.z - tile.z);
  return subtile.x - side * tile.x + (subtile.y - side * tile.y) * side;
}
