import { describe, expect, it } from "vitest";
import { seededRandom } from "../../containers/causemos/generator.ts";
import {
  decodeTile,
  encodeTile,
  encodeTileReference,
  type TileMessage,
} from "../../containers/causemos/tile-proto.ts";

function tileOf(
  bins: number[],
  stats: [number, number, number][],
  coord = { x: 3, y: 0, z: 2 },
): TileMessage {
  const m: TileMessage = { coord, bins: { totalBins: 4096, stats: {} } };
  bins.forEach((b, k) => {
    m.bins.stats[b] = { s_sum_t_sum: stats[k][0], s_sum_t_mean: stats[k][1], weight: stats[k][2] };
  });
  return m;
}

const fast = (m: TileMessage) => {
  const bins = Object.keys(m.bins.stats).map(Number);
  const s = bins.map((b) => m.bins.stats[b]);
  return Buffer.from(
    encodeTile(
      m.coord,
      m.bins.totalBins,
      bins,
      s.map((x) => x.s_sum_t_sum),
      s.map((x) => x.s_sum_t_mean),
      s.map((x) => x.weight),
    ),
  );
};

describe("tile protobuf", () => {
  it("round-trips through tiles.Tile", () => {
    const m = tileOf(
      [0, 1957, 1959, 4095],
      [
        [1.5, 0.25, 3],
        [-2, 7, 1],
        [0, 0, 0],
        [1e300, -1e-300, 12],
      ],
    );
    expect(decodeTile(fast(m))).toEqual(m);
  });

  it("writes the same bytes as protobufjs's generic encoder", () => {
    const random = seededRandom(11);
    for (let t = 0; t < 60; t++) {
      const bins = [
        ...new Set(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 4096))),
      ].sort((a, b) => a - b);
      const stats = bins.map((): [number, number, number] => [
        random() < 0.1 ? 0 : (random() - 0.5) * 1e4,
        random() < 0.1 ? 0 : random(),
        Math.floor(random() * 50),
      ]);
      const coord = {
        x: Math.floor(random() * 256),
        y: Math.floor(random() * 256),
        z: Math.floor(random() * 9),
      };
      const m = tileOf(bins, stats, coord);
      expect(fast(m).equals(Buffer.from(encodeTileReference(m)))).toBe(true);
    }
  });

  it("keeps map key 0, -0 and NaN as protobufjs does", () => {
    const m = tileOf(
      [0, 5],
      [
        [0, -0, 0],
        [Number.NaN, 1, 2],
      ],
    );
    expect(fast(m).equals(Buffer.from(encodeTileReference(m)))).toBe(true);
    const back = decodeTile(fast(m));
    expect(Object.keys(back.bins.stats)).toEqual(["0", "5"]);
    expect(Number.isNaN(back.bins.stats[5].s_sum_t_sum)).toBe(true);
  });
});
