import protobuf from "protobufjs";

/**
 * The Causemos tile message (`tiles.proto` of WM/wm-proto, package `tiles`), built in code from its .proto text.
 * The pipeline fills coord.{x,y,z}, bins.totalBins and stats[bin].{s_sum_t_sum, s_sum_t_mean, weight}.
 *
 * {@link encodeTile} (tile-encode.ts, re-exported here; the job imports it from there and so never loads
 * protobufjs) is a direct writer for that subset that emits exactly the bytes protobufjs's
 * `Tile.encode` emits for the same message (bins in ascending order, every set field written); the tests hold
 * the two byte-for-byte equal and decode with `Tile.decode`. It exists because the generic encoder costs about
 * a microsecond per bin and a run writes millions of bins.
 */
export const TILES_PROTO = `
syntax = "proto3";
package tiles;
option go_package = "gitlab.uncharted.software/WM/wm-proto/tiles";
message TileStats { uint64 count = 1; double sum = 2; double avg = 3; double s_sum_t_sum = 4; double s_sum_t_mean = 5; double weight = 6; }
message TileBins { map<uint32, TileStats> stats = 1; uint32 totalBins = 2; }
message TileCoord { uint32 x = 1; uint32 y = 2; uint32 z = 3; int64 t = 4; }
message Tile { TileCoord coord = 1; TileBins bins = 2; }
`;

const root = protobuf.parse(TILES_PROTO, { keepCase: true }).root;
export const TileType = root.lookupType("tiles.Tile");

export interface TileBinStats {
  s_sum_t_sum: number;
  s_sum_t_mean: number;
  weight: number;
}

export interface TileMessage {
  coord: { x: number; y: number; z: number };
  bins: { totalBins: number; stats: Record<number, TileBinStats> };
}

/** protobufjs's generic encoder (the reference). */
export function encodeTileReference(tile: TileMessage): Uint8Array {
  return TileType.encode(TileType.fromObject(tile)).finish();
}

export function decodeTile(bytes: Uint8Array): TileMessage {
  const message = TileType.decode(bytes);
  const obj = TileType.toObject(message, { defaults: true, longs: Number }) as {
    coord: { x: number; y: number; z: number };
    bins: {
      totalBins: number;
      stats: Record<string, { s_sum_t_sum: number; s_sum_t_mean: number; weight: number }>;
    };
  };
  const stats: Record<number, TileBinStats> = {};
  for (const [k, v] of Object.entries(obj.bins?.stats ?? {})) {
    stats[Number(k)] = { s_sum_t_sum: v.s_sum_t_sum, s_sum_t_mean: v.s_sum_t_mean, weight: v.weight };
  }
  return {
    coord: { x: obj.coord.x, y: obj.coord.y, z: obj.coord.z },
    bins: { totalBins: obj.bins.totalBins, stats },
  };
}

export { encodeTile } from "./tile-encode.ts";
