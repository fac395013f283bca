import { describe, expect, it } from "vitest";
import { run } from "../../containers/causemos/pipeline.ts";
import { decodeTile } from "../../containers/causemos/tile-proto.ts";
import { memoryWriter } from "../../containers/causemos/writer.ts";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { frameFromRows, py, type Row, tileCentre } from "./helpers.ts";

const JAN1 = Date.UTC(2021, 0, 1);
const DAY = 86_400_000;
const FEB = Date.UTC(2021, 1, 1);
const MAR22 = Date.UTC(2022, 2, 1);
const P1 = {
  country: "A",
  admin1: "A1",
  admin2: "A1a",
  admin3: "A1a-x",
  ...tileCentre(14, 9632, 7755),
  scenario: "s1",
};
const P2 = {
  country: "A",
  admin1: "A2",
  admin2: "A2a",
  admin3: "A2a-x",
  ...tileCentre(14, 10041, 7726),
  scenario: "s2",
};
const P3 = { country: "B", admin1: "B1", admin2: "B1a", admin3: "B1a-x", lat: 10, lng: 20, scenario: "s1" };

const ROWS: Row[] = [
  { ...P1, timestamp: JAN1, feature: "f1", value: 1 },
  { ...P1, timestamp: JAN1 + 14 * DAY, feature: "f1", value: 3 },
  { ...P2, timestamp: JAN1, feature: "f1", value: 2 },
  { ...P3, timestamp: JAN1 + 14 * DAY, feature: "f1", value: 8 },
  { ...P3, timestamp: JAN1 + 19 * DAY, feature: "f1", value: null },
  { ...P1, timestamp: FEB + DAY, feature: "f1", value: 5 },
  { ...P3, timestamp: MAR22 + 3 * DAY, feature: "f1", value: 4 },
  { ...P1, scenario: null, timestamp: null, feature: "f2", value: 10 },
  { ...P2, scenario: null, timestamp: 0, feature: "f2", value: 6 },
  { ...P2, scenario: null, timestamp: 9.3e12, feature: "f2", value: 99 },
];

const quiet = () => createLogger({ sink: memorySink() });

const PARAMS = {
  model_id: "model",
  run_id: "run",
  data_paths: ["in-memory"],
  qualifier_map: { f1: ["scenario"] },
};

/** The reference: the original's group-bys written out naively over row objects. */
function reference(
  rows: Row[],
  res: "month" | "year" | "all",
  keyOf: (r: Row & { period: number }) => string,
) {
  const valid = rows
    .map((r) => ({ ...r, timestamp: r.timestamp ?? 0 }))
    .filter((r) => r.timestamp < 9223372036854.775)
    .map((r) => {
      const d = new Date(r.timestamp);
      const period =
        res === "all"
          ? 0
          : res === "month"
            ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
            : Date.UTC(d.getUTCFullYear(), 0, 1);
      return { ...r, period };
    });
  const temporal = new Map<string, { row: (typeof valid)[number]; values: number[] }>();
  for (const r of valid) {
    const key = JSON.stringify([
      r.feature,
      r.period,
      r.country,
      r.admin1,
      r.admin2,
      r.admin3,
      r.lat,
      r.lng,
      (r as Row).scenario ?? "None",
    ]);
    const entry = temporal.get(key) ?? { row: r, values: [] };
    if (r.value !== null) entry.values.push(r.value);
    temporal.set(key, entry);
  }
  const spatial = new Map<string, { tSum: number[]; tMean: number[] }>();
  for (const { row, values } of temporal.values()) {
    const key = keyOf(row);
    const entry = spatial.get(key) ?? { tSum: [], tMean: [] };
    entry.tSum.push(values.reduce((a, b) => a + b, 0));
    if (values.length > 0) entry.tMean.push(values.reduce((a, b) => a + b, 0) / values.length);
    spatial.set(key, entry);
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return new Map(
    [...spatial].map(([k, e]) => [
      k,
      {
        s_sum_t_sum: sum(e.tSum),
        s_mean_t_sum: sum(e.tSum) / e.tSum.length,
        s_sum_t_mean: sum(e.tMean),
        s_mean_t_mean: sum(e.tMean) / e.tMean.length,
        s_count: e.tMean.length,
        s_min_t_sum: Math.min(...e.tSum),
        s_max_t_sum: Math.max(...e.tSum),
        s_min_t_mean: Math.min(...e.tMean),
        s_max_t_mean: Math.max(...e.tMean),
      },
    ]),
  );
}

async function runGolden(params: Record<string, unknown> = {}, rows = ROWS, weight?: string) {
  const writer = memoryWriter();
  const summary = await run({ ...PARAMS, ...params }, writer, {
    frame: frameFromRows(rows, weight),
    logger: quiet(),
  });
  const text = (name: string) => {
    const b = writer.output.get(`model/run/${name}`);
    if (!b)
      throw new Error(`missing output ${name}; have ${[...writer.output.keys()].slice(0, 50).join("\n")}`);
    return b.toString();
  };
  return { writer, summary, text };
}

describe("causemos golden outputs", () => {
  it("writes the global timeseries of the reference group-bys", async () => {
    const { text } = await runGolden();
    for (const res of ["month", "year"] as const) {
      for (const feature of ["f1", "f2"]) {
        const ref = reference(ROWS, res, (r) => `${r.feature}|${r.period}`);
        const expected = [...ref]
          .filter(([k]) => k.startsWith(`${feature}|`))
          .map(([k, v]) => ({ ts: Number(k.split("|")[1]), v }))
          .sort((a, b) => a.ts - b.ts)
          .map(({ ts, v }) =>
            [
              ts,
              py(v.s_sum_t_sum),
              py(v.s_mean_t_sum),
              py(v.s_sum_t_mean),
              py(v.s_mean_t_mean),
              v.s_count,
            ].join(","),
          );
        expect(text(`${res}/${feature}/timeseries/global/global.csv`)).toBe(
          `timestamp,s_sum_t_sum,s_mean_t_sum,s_sum_t_mean,s_mean_t_mean,s_count\n${expected.join("\n")}\n`,
        );
      }
    }
    // One row worked by hand: January 2021 of f1 has point groups (t_sum, t_mean) = (4, 2), (2, 2), (8, 8).
    expect(text("month/f1/timeseries/global/global.csv").split("\n")[1]).toBe(
      `${JAN1},14.0,4.666666666666667,12.0,4.0,3`,
    );
  });

  it("counts a point-month whose values are all missing in s_sum_t_sum but not in t_mean's sums or s_count", async () => {
    // P2's only February row has no value: its cell has t_sum 0 and t_mean NaN, so February's global and
    // regional rows sum two t_sums (P1's, P2's) and one t_mean.
    const rows: Row[] = [...ROWS, { ...P2, timestamp: FEB + 2 * DAY, feature: "f1", value: null }];
    const { text } = await runGolden({}, rows);
    const line = (key: string, keyOf: Parameters<typeof reference>[2]) => {
      const v = reference(rows, "month", keyOf).get(key);
      if (!v) throw new Error(`no reference row ${key}`);
      return [
        FEB,
        py(v.s_sum_t_sum),
        py(v.s_mean_t_sum),
        py(v.s_sum_t_mean),
        py(v.s_mean_t_mean),
        v.s_count,
      ].join(",");
    };
    const global = text("month/f1/timeseries/global/global.csv").split("\n")[2];
    expect(global).toBe(line(`f1|${FEB}`, (r) => `${r.feature}|${r.period}`));
    expect(global).toBe(`${FEB},5.0,2.5,5.0,5.0,1`);
    expect(text("month/f1/regional/country/timeseries/default/A.csv").split("\n")[2]).toBe(
      line(`f1|${FEB}|A`, (r) => `${r.feature}|${r.period}|${r.country}`),
    );
  });

  it("writes regional aggregations, timeseries and extrema per level", async () => {
    const { text } = await runGolden();
    const levels = ["country", "admin1", "admin2", "admin3"] as const;
    levels.forEach((level, depth) => {
      const idOf = (r: Row) =>
        levels
          .slice(0, depth + 1)
          .map((l) => r[l])
          .join("__");
      const ref = reference(ROWS, "month", (r) => `${r.feature}|${r.period}|${idOf(r)}`);
      const f1 = [...ref]
        .filter(([k]) => k.startsWith("f1|"))
        .map(([k, v]) => ({ ts: Number(k.split("|")[1]), id: k.split("|")[2], v }));
      const jan = f1.filter((e) => e.ts === JAN1).sort((a, b) => (a.id < b.id ? -1 : 1));
      expect(text(`month/f1/regional/${level}/aggs/${JAN1}/default/default.csv`)).toBe(
        `id,s_sum_t_sum,s_mean_t_sum,s_sum_t_mean,s_mean_t_mean,s_count\n${jan
          .map((e) =>
            [
              e.id,
              py(e.v.s_sum_t_sum),
              py(e.v.s_mean_t_sum),
              py(e.v.s_sum_t_mean),
              py(e.v.s_mean_t_mean),
              e.v.s_count,
            ].join(","),
          )
          .join("\n")}\n`,
      );
      for (const id of new Set(f1.map((e) => e.id))) {
        const series = f1.filter((e) => e.id === id).sort((a, b) => a.ts - b.ts);
        expect(text(`month/f1/regional/${level}/timeseries/default/${id}.csv`)).toBe(
          `timestamp,s_sum_t_sum,s_mean_t_sum,s_sum_t_mean,s_mean_t_mean,s_count\n${series
            .map((e) =>
              [
                e.ts,
                py(e.v.s_sum_t_sum),
                py(e.v.s_mean_t_sum),
                py(e.v.s_sum_t_mean),
                py(e.v.s_mean_t_mean),
                e.v.s_count,
              ].join(","),
            )
            .join("\n")}\n`,
        );
      }
      const extrema = JSON.parse(text(`month/f1/regional/${level}/stats/default/extrema.json`));
      for (const col of ["s_sum_t_sum", "s_mean_t_sum", "s_sum_t_mean", "s_mean_t_mean"] as const) {
        const values = f1.map((e) => e.v[col]);
        const lo = Math.min(...values);
        const hi = Math.max(...values);
        const rows = (target: number) =>
          f1
            .filter((e) => e.v[col] === target)
            .sort((a, b) => b.ts - a.ts || (a.id < b.id ? -1 : 1))
            .map((e) => ({ region_id: e.id, timestamp: e.ts, value: target }));
        expect(extrema.min[col]).toEqual(rows(lo));
        expect(extrema.max[col]).toEqual(rows(hi));
      }
    });
  });

  it("writes wide qualifier timeseries, qualifier aggregations and regional qualifier timeseries", async () => {
    const { text, writer } = await runGolden();
    expect(text("month/f1/timeseries/qualifiers/scenario/s_sum_t_sum.csv")).toBe(
      `timestamp,s1,s2\n${JAN1},12.0,2.0\n${FEB},5.0,\n${MAR22},4.0,\n`,
    );
    // s2 has gaps, so pandas writes its counts as floats.
    expect(text("month/f1/timeseries/qualifiers/scenario/s_count.csv")).toBe(
      `timestamp,s1,s2\n${JAN1},2,1.0\n${FEB},1,\n${MAR22},1,\n`,
    );
    expect(text(`month/f1/regional/country/aggs/${JAN1}/qualifiers/scenario.csv`)).toBe(
      "id,qualifier,s_sum_t_sum,s_mean_t_sum,s_sum_t_mean,s_mean_t_mean,s_count\nA,s1,4.0,4.0,2.0,2.0,1\nA,s2,2.0,2.0,2.0,2.0,1\nB,s1,8.0,8.0,8.0,8.0,1\n",
    );
    expect(text("month/f1/regional/admin1/timeseries/qualifiers/scenario/s1/A__A1.csv")).toBe(
      `timestamp,s_sum_t_sum,s_mean_t_sum,s_sum_t_mean,s_mean_t_mean,s_count\n${JAN1},4.0,4.0,2.0,2.0,1\n${FEB},5.0,5.0,5.0,5.0,1\n`,
    );
    // Regional qualifier timeseries only for levels <= regional_timeseries_max_level (country, admin1).
    const names = [...writer.output.keys()];
    expect(names.some((n) => n.includes("/regional/admin2/timeseries/qualifiers/"))).toBe(false);
    // f2 is not in the qualifier map: no qualifier outputs.
    expect(names.some((n) => n.startsWith("model/run/month/f2/") && n.includes("qualifiers"))).toBe(false);
  });

  it("writes raw outputs, info lists and results.json with the validation counters", async () => {
    const { text, summary } = await runGolden();
    const rawF1 = text("raw/f1/raw/raw.csv").split("\n");
    expect(rawF1[0]).toBe("timestamp,country,admin1,admin2,admin3,lat,lng,value,scenario");
    expect(rawF1.length).toBe(7 + 2);
    expect(rawF1[5]).toBe(`${JAN1 + 19 * DAY},B,B1,B1a,B1a-x,10.0,20.0,,s1`);
    expect(JSON.parse(text("raw/f1/info/region_lists.json"))).toEqual({
      country: ["A", "B"],
      admin1: ["A__A1", "A__A2", "B__B1"],
      admin2: ["A__A1__A1a", "A__A2__A2a", "B__B1__B1a"],
      admin3: ["A__A1__A1a__A1a-x", "A__A2__A2a__A2a-x", "B__B1__B1a__B1a-x"],
    });
    expect(JSON.parse(text("raw/f1/info/qualifiers/scenario.json"))).toEqual(["s1", "s2"]);
    expect(JSON.parse(text("raw/f2/info/qualifiers/scenario.json"))).toEqual(["None"]);
    expect(JSON.parse(text("raw/f1/info/qualifier_counts.json"))).toEqual({
      thresholds: { max_count: 10000, regional_timeseries_count: 100, regional_timeseries_max_level: 1 },
      counts: { scenario: 2 },
    });
    const results = JSON.parse(text("results/results.json"));
    expect(summary.recordedResults).toBe(true);
    const all = reference(ROWS, "all", (r) => r.feature);
    const f1 = all.get("f1");
    expect(results).toEqual({
      data_info: {
        num_rows: 10,
        num_rows_per_feature: { f1: 7, f2: 3 },
        num_missing_ts: 1,
        num_invalid_ts: 1,
        num_missing_val: 1,
        region_levels: ["country", "admin1", "admin2", "admin3", "grid data"],
        features: ["f1", "f2"],
        raw_count_threshold: 10000,
        has_tiles: true,
        has_monthly: true,
        has_annual: true,
        has_weights: false,
        month_timeseries_size: { f1: 3, f2: 1 },
        year_timeseries_size: { f1: 2, f2: 1 },
      },
      output_agg_values: [
        {
          name: "f1",
          s_min_t_sum: f1?.s_min_t_sum,
          s_max_t_sum: f1?.s_max_t_sum,
          s_sum_t_sum: f1?.s_sum_t_sum,
          s_mean_t_sum: f1?.s_mean_t_sum,
          s_min_t_mean: f1?.s_min_t_mean,
          s_max_t_mean: f1?.s_max_t_mean,
          s_sum_t_mean: f1?.s_sum_t_mean,
          s_mean_t_mean: f1?.s_mean_t_mean,
        },
        expect.objectContaining({ name: "f2", s_sum_t_sum: 16, s_mean_t_mean: 8 }),
      ],
    });
    expect(f1?.s_sum_t_sum).toBe(23);
  });

  it("writes tile 0-0-0-0 with the two subtiles in bins 1957 and 1959, and grid stats", async () => {
    const { writer, text } = await runGolden();
    const bytes = writer.output.get("model/run/month/f2/tiles/0-0-0-0.tile");
    expect(bytes).toBeDefined();
    const tile = decodeTile(bytes as Buffer);
    expect(tile.coord).toEqual({ x: 0, y: 0, z: 0 });
    expect(tile.bins.totalBins).toBe(4096);
    expect(tile.bins.stats).toEqual({
      1957: { s_sum_t_sum: 10, s_sum_t_mean: 10, weight: 1 },
      1959: { s_sum_t_sum: 6, s_sum_t_mean: 6, weight: 1 },
    });
    const zoom8 = [...writer.output.keys()].filter((n) => n.startsWith("model/run/month/f2/tiles/0-8-"));
    expect(zoom8.sort()).toEqual([
      "model/run/month/f2/tiles/0-8-150-121.tile",
      "model/run/month/f2/tiles/0-8-156-120.tile",
    ]);
    const grid = text("month/f2/stats/grid/0.csv").split("\n");
    expect(grid[0]).toBe(
      "zoom,min_s_sum_t_sum,max_s_sum_t_sum,min_s_sum_t_mean,max_s_sum_t_mean,min_s_mean_t_sum,max_s_mean_t_sum,min_s_mean_t_mean,max_s_mean_t_mean",
    );
    expect(grid.slice(1, 10).map((l) => Number(l.split(",")[0]))).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(grid[1]).toBe("6,6.0,10.0,6.0,10.0,6.0,10.0,6.0,10.0");
    // Every tile's zoom is 0..8 and the sum of its bins' weights is the count of temporal rows it covers.
    for (const [name, b] of writer.output) {
      const m = /\/tiles\/(-?\d+)-(\d+)-(\d+)-(\d+)\.tile$/.exec(name);
      if (!m) continue;
      const t = decodeTile(b);
      expect(t.coord).toEqual({ z: Number(m[2]), x: Number(m[3]), y: Number(m[4]) });
      expect(t.coord.z).toBeLessThanOrEqual(8);
    }
  });

  it("gives years holding one month each the month's aggregates, tiles and grid stats under the year's names", async () => {
    const DEC5 = Date.UTC(2020, 11, 5);
    const JAN3 = Date.UTC(2021, 0, 3);
    const rows: Row[] = [
      { ...P1, timestamp: DEC5, feature: "f1", value: 1.5, w: 2 },
      { ...P1, timestamp: DEC5 + DAY, feature: "f1", value: 0.1, w: 1 },
      { ...P2, timestamp: DEC5, feature: "f1", value: 2, w: 1 },
      { ...P3, timestamp: JAN3, feature: "f1", value: 0.2, w: 3 },
      { ...P3, timestamp: JAN3 + DAY, feature: "f1", value: null, w: 1 },
      { ...P1, timestamp: JAN3, feature: "f1", value: 0.7, w: 1 },
    ];
    // With one more row in February 2021, the year 2021 holds two months: the year is rolled up from them.
    const twoMonths = [...rows, { ...P1, timestamp: Date.UTC(2021, 1, 2), feature: "f1", value: 4, w: 1 }];
    const yearOf = (ms: number) => Date.UTC(new Date(ms).getUTCFullYear(), 0, 1);
    for (const data of [rows, twoMonths]) {
      const { writer, text, summary } = await runGolden(
        { weight_column: "w", qualifier_map: { f1: ["scenario"] } },
        data,
        "w",
      );
      // The year step re-wrote the month's files rather than computing them again.
      expect("replay:year" in summary.timings).toBe(data === rows);
      for (const res of ["month", "year"] as const) {
        const ref = reference(data, res, (r) => `${r.feature}|${r.period}|${r.country}`);
        for (const [key, v] of ref) {
          const [, ts, id] = key.split("|");
          const line = text(`${res}/f1/regional/country/timeseries/default/${id}.csv`)
            .split("\n")
            .find((l) => l.startsWith(`${ts},`));
          expect(line?.split(",").slice(0, 6)).toEqual([
            ts,
            py(v.s_sum_t_sum),
            py(v.s_mean_t_sum),
            py(v.s_sum_t_mean),
            py(v.s_mean_t_mean),
            String(v.s_count),
          ]);
          expect(text(`${res}/f1/regional/country/aggs/${ts}/default/default.csv`)).toContain(
            `\n${id},${py(v.s_sum_t_sum)},${py(v.s_mean_t_sum)},`,
          );
        }
      }
      // Tiles, grid stats and regional aggregations hold no timestamp: where a year is one month, its files are
      // the month's bytes under the year's names.
      const monthFiles = [...writer.output.keys()].filter((n) =>
        /^model\/run\/month\/f1\/(tiles|stats\/grid|regional\/\w+\/aggs)\//.test(n),
      );
      expect(monthFiles.length).toBeGreaterThan(30);
      for (const name of monthFiles) {
        const m = /^(.*?)\/month\/(.*?\/(?:tiles|grid|aggs)\/)(-?\d+)(.*)$/.exec(name) as RegExpExecArray;
        const start = Number(m[3]);
        const yearName = `${m[1]}/year/${m[2]}${yearOf(start)}${m[4]}`;
        const in2021 = yearOf(start) === JAN1;
        if (data === rows || !in2021) expect(writer.output.get(yearName)).toEqual(writer.output.get(name));
      }
    }
  });

  it("computes weighted averages (t_wavg, s_wavg_*) with non-numeric weights as 0", async () => {
    const rows: Row[] = [
      { ...P1, timestamp: JAN1, feature: "f", value: 2, w: 1 },
      { ...P1, timestamp: JAN1 + DAY, feature: "f", value: 4, w: 3 },
      { ...P2, timestamp: JAN1, feature: "f", value: 10, w: 2 },
      { ...P2, timestamp: JAN1 + 2 * DAY, feature: "f", value: 6, w: null },
    ];
    const { text } = await runGolden({ weight_column: "w", qualifier_map: {} }, rows, "w");
    const [header, line] = text("month/f/timeseries/global/global.csv").split("\n");
    expect(header).toBe(
      "timestamp,s_sum_t_sum,s_mean_t_sum,s_sum_t_mean,s_mean_t_mean,s_count,s_sum_t_wavg,s_mean_t_wavg,s_wavg_t_sum,s_wavg_t_mean,s_wavg_t_wavg",
    );
    // P1: t_sum 6, t_mean 3, t_wavg (2·1 + 4·3)/4 = 3.5, w 2.  P2: t_sum 16, t_mean 8, t_wavg 20/2 = 10, w (2 + 0)/2 = 1.
    const v = line.split(",").map(Number);
    expect(v.slice(1, 8)).toEqual([22, 11, 11, 5.5, 2, 13.5, 6.75]);
    expect(v[8]).toBeCloseTo(28 / 3, 12);
    expect(v[9]).toBeCloseTo(14 / 3, 12);
    expect(v[10]).toBeCloseTo(17 / 3, 12);
    const results = JSON.parse(text("results/results.json"));
    expect(results.data_info.has_weights).toBe(true);
    expect(Object.keys(results.output_agg_values[0])).toContain("s_wavg_t_wavg");
  });

  it("drops qualifiers above the thresholds", async () => {
    const rows: Row[] = ROWS.filter((r) => r.feature === "f1").map((r, i) => ({ ...r, id: `id${i % 4}` }));
    const { writer, text } = await runGolden(
      {
        qualifier_map: { f1: ["scenario", "id"] },
        qualifier_thresholds: {
          max_count: 3,
          regional_timeseries_count: 1,
          regional_timeseries_max_level: 1,
        },
      },
      rows,
    );
    const names = [...writer.output.keys()];
    expect(JSON.parse(text("raw/f1/info/qualifier_counts.json")).counts).toEqual({ scenario: 2, id: 4 });
    // id has 4 values > max_count 3: listed in info, but no qualifier outputs.
    expect(JSON.parse(text("raw/f1/info/qualifiers/id.json"))).toHaveLength(4);
    expect(names.some((n) => !n.includes("/info/") && n.includes("/qualifiers/id"))).toBe(false);
    // scenario (2 values) stays for global and aggregations, but exceeds regional_timeseries_count 1.
    expect(names.some((n) => n.endsWith("/timeseries/qualifiers/scenario/s_sum_t_sum.csv"))).toBe(true);
    expect(names.some((n) => n.endsWith("/qualifiers/scenario.csv"))).toBe(true);
    expect(names.some((n) => n.includes("/regional/country/timeseries/qualifiers/"))).toBe(false);
  });

  it("honours selected_output_tasks and then records no results.json", async () => {
    const { writer, summary } = await runGolden({ selected_output_tasks: ["compute_global_timeseries"] });
    const names = [...writer.output.keys()];
    expect(names.some((n) => n.includes("/timeseries/global/global.csv"))).toBe(true);
    expect(
      names.some((n) => n.includes("/regional/") || n.includes("/tiles/") || n.includes("/stats/grid/")),
    ).toBe(false);
    expect(names).not.toContain("model/run/results/results.json");
    expect(summary.recordedResults).toBe(false);
    expect(summary.results.data_info.has_tiles).toBe(false);
  });

  it("skips raw.csv above raw_count_threshold and the summary for indicators", async () => {
    const { writer, text } = await runGolden({ raw_count_threshold: 3, is_indicator: true });
    expect(writer.output.has("model/run/raw/f1/raw/raw.csv")).toBe(false);
    expect(writer.output.has("model/run/raw/f2/raw/raw.csv")).toBe(true);
    expect(JSON.parse(text("results/results.json")).output_agg_values).toBeUndefined();
  });
});
