import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findSeries, temporalAggregation } from "../../containers/causemos/aggregate.ts";
import { generate, writeParquet } from "../../containers/causemos/generator.ts";
import { rowsByGroup } from "../../containers/causemos/group.ts";
import { type RunOptions, run } from "../../containers/causemos/pipeline.ts";
import { startDecodeThread, takeSpareThread } from "../../containers/causemos/stream-decode.ts";
import {
  claimFeature,
  featureTiles,
  jobCells,
  runTileJob,
  type TileFeature,
  type TileJob,
} from "../../containers/causemos/tile-thread.ts";
import { memoryWriter } from "../../containers/causemos/writer.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { tempDir } from "./helpers.ts";

const dir = tempDir("causemos-tile-thread-");
afterAll(() => dir.remove());

const quiet = () => createLogger({ sink: memorySink() });
const PARAMS = {
  model_id: "m",
  run_id: "r",
  qualifier_map: { rainfall: ["scenario"] },
  raw_count_threshold: 0,
};

/**
 * Runs twice, tiles in this thread and on the tiling thread (`more` options for the second run: a read that
 * decodes on a thread hands that thread the tiles; `early` starts a decoding thread before it, as the job's
 * entry does); returns both outputs and summaries.
 */
async function both(
  params: { data_paths: string[] },
  options: () => RunOptions = () => ({}),
  { early, ...more }: RunOptions & { early?: boolean } = {},
) {
  const inline = memoryWriter();
  const threaded = memoryWriter();
  const a = await run({ ...PARAMS, ...params }, inline, { ...options(), logger: quiet(), threads: 1 });
  if (early) startDecodeThread();
  const b = await run({ ...PARAMS, ...params }, threaded, {
    ...options(),
    ...more,
    logger: quiet(),
    tileThreadRows: 0,
  });
  return { inline: inline.output, threaded: threaded.output, a, b };
}

function expectSame(a: Map<string, Buffer>, b: Map<string, Buffer>) {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [name, body] of a)
    expect({ name, same: Buffer.compare(body, b.get(name) as Buffer) }).toEqual({ name, same: 0 });
}

describe("tiles on the tiling thread", () => {
  it("write the same files as tiles in the calling thread, from a file (one-pass read, shared tables)", async () => {
    // November 2020 to January 2021: 2020 holds two months, so the year is rolled up and tiled on its own.
    const path = join(dir.path, "two-years.parquet");
    const frame = generate({
      points: 80,
      days: 60,
      startMs: Date.UTC(2020, 10, 20),
      qualifiers: [{ name: "scenario", values: 2 }],
    });
    await writeParquet(frame, path);
    // A new tiling thread, then the read's decoding thread taking the tiles once it has read every group, then
    // a decoding thread started before a read that decodes inline (it takes the tiles instead).
    for (const more of [{}, { decodeThreadRows: 0 }, { early: true }]) {
      const { inline, threaded, a, b } = await both({ data_paths: [path] }, undefined, more);
      expect(takeSpareThread()).toBeUndefined();
      expect([...inline.keys()].filter((n) => n.includes("/tiles/")).length).toBeGreaterThan(50);
      expect("tiles-wait" in b.timings).toBe(true);
      expect("replay:year" in b.timings).toBe(false);
      expect("tiles-wait" in a.timings).toBe(false);
      expectSame(inline, threaded);
      expect({ tiles: b.tiles, bins: b.bins }).toEqual({ tiles: a.tiles, bins: a.bins });
    }
  });

  it("write the same files where the year reuses the month, and count rows without a tile, from a frame", async () => {
    const frame = () => {
      const out = generate({ points: 60, days: 5, qualifiers: [{ name: "scenario", values: 2 }] });
      const lat = out.lat as Float64Array;
      for (let i = 0; i < out.rows; i += 7) lat[i] = Number.NaN;
      return { frame: out };
    };
    const { inline, threaded, a, b } = await both({ data_paths: ["unused.parquet"] }, frame);
    expect("replay:year" in b.timings).toBe(true);
    expect(a.rowsWithoutTile).toBeGreaterThan(0);
    expect(b.rowsWithoutTile).toBe(a.rowsWithoutTile);
    expectSame(inline, threaded);
    expect({ tiles: b.tiles, bins: b.bins }).toEqual({ tiles: a.tiles, bins: a.bins });
  });
});

describe("sharing a tile job's features between threads (claimFeature)", () => {
  it("makes every feature once, the same tiles whichever side claims it", () => {
    const frame = generate({ points: 40, days: 35, features: ["a", "b", "c"] });
    const series = findSeries(frame);
    const table = temporalAggregation(frame, series, "month");
    const byFeature = rowsByGroup(
      Int32Array.from({ length: table.rows }, (_, k) => series.feature[table.series[k]]),
      3,
    );
    const job = (): TileJob => ({
      table,
      byFeature,
      features: [2, 0, 1],
      lat: frame.lat as Float64Array,
      lng: frame.lng as Float64Array,
      seriesRow: series.row,
      ofRow: series.ofRow,
      sameCells: false,
      claims: new SharedArrayBuffer(4),
    });
    const { cells, rowsWithoutTile } = jobCells(job());
    const files = (made: TileFeature[]) =>
      new Map(made.flatMap((m) => m.files.map((f) => [`${m.f}/${f.head}${f.period}${f.tail}`, f.body])));
    // One side alone: every feature, in the job's order.
    const alone: TileFeature[] = [];
    runTileJob(job(), cells, rowsWithoutTile, (m) => alone.push(m));
    expect(alone.map((m) => m.f)).toEqual([2, 0, 1]);
    // The main thread claims one first, the thread runs the rest: nothing twice, nothing left.
    const shared = job();
    const stolen = claimFeature(shared) as number;
    const rest: TileFeature[] = [];
    runTileJob(shared, cells, rowsWithoutTile, (m) => rest.push(m));
    expect(claimFeature(shared)).toBeUndefined();
    expect([stolen, ...rest.map((m) => m.f)]).toEqual([2, 0, 1]);
    const split = [featureTiles(shared, cells, rowsWithoutTile, stolen), ...rest];
    expect(files(split)).toEqual(files(alone));
    expect(split.reduce((n, m) => n + m.tiles, 0)).toBe(alone.reduce((n, m) => n + m.tiles, 0));
  });
});
