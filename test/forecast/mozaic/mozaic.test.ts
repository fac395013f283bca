import { describe, expect, it } from "vitest";
import { forecastMozaic } from "../../../containers/forecast/mozaic/mozaic.ts";
import { createMozaicPool } from "../../../containers/forecast/mozaic/pool.ts";
import { fitTile } from "../../../containers/forecast/mozaic/tilefit.ts";
import {
  type LongRow,
  populateTiles,
  populationOf,
  tileModel,
} from "../../../containers/forecast/mozaic/tiles.ts";
import { createForecastPool } from "../../../containers/forecast/pool.ts";
import { memoryLogger } from "../helpers.ts";

function rows(n: number): LongRow[] {
  const out: LongRow[] = [];
  const t0 = Date.UTC(2023, 0, 1);
  for (let i = 0; i < n; i++) {
    const date = new Date(t0 + i * 86_400_000).toISOString().slice(0, 10);
    for (const [country, base] of [
      ["US", 1000],
      ["DE", 400],
    ] as const) {
      for (const [seg, share] of [
        ["win10", 0.6],
        ["win11", 0.4],
      ] as const) {
        out.push({
          date,
          metric: "DAU",
          country,
          segments: { [seg]: true, winX: false },
          y: base * share * (1 + 0.1 * Math.sin((2 * Math.PI * i) / 7)) * (1 + i / 2000),
        });
      }
    }
  }
  // A tiny population that stays under Mozaic's 30-day rule.
  for (let i = 0; i < 20; i++)
    out.push({
      date: new Date(t0 + i * 86_400_000).toISOString().slice(0, 10),
      metric: "DAU",
      country: "US",
      y: 5,
    });
  return out;
}

describe("Mozaic tiles and models", () => {
  it("builds tiles per (metric, country, population) with more than 30 days", () => {
    const tiles = populateTiles(rows(200));
    expect(tiles.map((t) => `${t.country}/${t.population}`)).toEqual([
      "DE/win10",
      "DE/win11",
      "US/win10",
      "US/win11",
    ]);
    expect(populationOf({ a: true, b: true, c: false })).toBe("a_b");
    expect(populationOf({})).toBe("other");
    const zero = populateTiles([...rows(40), { date: "2023-01-05", metric: "DAU", country: "FR", y: 0 }]);
    expect(zero.some((t) => t.country === "FR")).toBe(false);
  });

  it("switches desktop and mobile settings as Mozaic does", () => {
    const trendy = Array.from({ length: 100 }, (_, i) => 100 + i * i);
    const desk = tileModel("desktop", trendy);
    expect(desk.transform).toBe("log1p");
    expect(desk.options.seasonalityMode).toBe("multiplicative");
    expect(desk.options.growth).toBe("linear");
    const calm = Array.from({ length: 800 }, (_, i) => 1000 + (i % 2 ? 50 : -50) * (i % 3 ? 1 : 0.2));
    const desk2 = tileModel("desktop", calm);
    if (desk2.transform === "none") {
      expect(desk2.options.growth).toBe("logistic");
      expect(desk2.cap).toBeCloseTo(1.2 * Math.max(...calm), 9);
      expect(desk2.floor).toBeCloseTo(0.8 * Math.min(...calm), 9);
      expect(desk2.options.yearlySeasonality).toBe(true);
    }
    expect(desk2.options.seasonalityPriorScale).toBe(0.00825);
    const big = tileModel("mobile", [5e6, 6e6, 2e7]);
    expect(big.options.changepointPriorScale).toBe(0.1);
    expect(big.options.seasonalityMode).toBeUndefined();
    expect(big.floor).toBeCloseTo(4e6, 3);
    expect(big.cap).toBe(4e7);
    const small = tileModel("mobile", [10, 20]);
    expect(small.options.seasonalityMode).toBe("multiplicative");
    expect(small.floor).toBe(0);
  });
});

describe("Mozaic end to end", () => {
  it("reconciles tiles to the top node and emits the four granular row kinds", async () => {
    const tiles = populateTiles(rows(200));
    const res = await forecastMozaic(tiles, {
      platform: "desktop",
      forecastStart: "2023-07-01",
      forecastEnd: "2023-07-20",
      samples: 100,
      logger: memoryLogger(),
    });
    expect(res.tiles).toHaveLength(4);
    expect(res.quantileStep.DAU).toBeGreaterThanOrEqual(0.4);
    const f = (country: string, population: string, date = "2023-07-10") =>
      res.rows.find(
        (r) =>
          r.source === "forecast" &&
          r.country === country &&
          r.population === population &&
          r.targetDate === date,
      )?.value as number;
    expect(f("US", "ALL")).toBeCloseTo(f("US", "win10") + f("US", "win11"), 6);
    expect(f("ALL", "win10")).toBeCloseTo(f("US", "win10") + f("DE", "win10"), 6);
    expect(f("ALL", "ALL")).toBeCloseTo(f("US", "ALL") + f("DE", "ALL"), 4);
    // Forecasts are in the right range (last actual US/win10 is about 600 * 1.1).
    expect(f("US", "win10")).toBeGreaterThan(500);
    expect(f("US", "win10")).toBeLessThan(800);
    const actual = res.rows.filter(
      (r) => r.source === "actual" && r.country === "ALL" && r.population === "ALL",
    );
    expect(actual).toHaveLength(181);
    expect(actual[0].value).toBeCloseTo(1400, 6);
    expect(
      res.rows.filter((r) => r.source === "forecast" && r.country === "ALL" && r.population === "ALL"),
    ).toHaveLength(20);
  });

  it("gives the same rows when the tiles are fitted on a worker pool (plain or Mozaic)", async () => {
    const tiles = populateTiles(rows(120)).slice(0, 2);
    const opts = {
      platform: "mobile" as const,
      forecastStart: "2023-04-20",
      forecastEnd: "2023-04-30",
      samples: 50,
      logger: memoryLogger(),
    };
    const local = await forecastMozaic(tiles, opts);
    for (const pool of [createForecastPool({ size: 1 }), createMozaicPool({ size: 1 })]) {
      try {
        const pooled = await forecastMozaic(tiles, { ...opts, pool });
        expect(pooled.rows).toEqual(local.rows);
      } finally {
        await pool.close();
      }
    }
  });
});

describe("Mozaic pool", () => {
  it("summarises on its workers, runs plain fits, and rejects only the task that fails", async () => {
    const ds = Array.from({ length: 90 }, (_, i) =>
      new Date(Date.UTC(2023, 0, 1 + i)).toISOString().slice(0, 10),
    );
    const y = ds.map((_, i) => Math.log(1000 + 5 * i + 50 * Math.sin((2 * Math.PI * i) / 7)));
    const dates = ["2023-04-01", "2023-04-02", "2023-04-03"];
    const task = {
      fit: {
        id: "t",
        series: { ds, y },
        options: { weeklySeasonality: true, yearlySeasonality: false, dailySeasonality: false },
        predict: { dates, samples: 60, seed: 7, keepSamples: true },
      },
      transform: "log1p" as const,
      band: [0.4, 0.6] as [number, number],
    };
    const pool = createMozaicPool({ size: 2 });
    try {
      const [onPool, plain, bad] = await Promise.allSettled([
        pool.fitTile(task),
        pool.fit({ id: "p", series: { ds, y }, predict: { periods: 2 } }),
        pool.fitTile({ ...task, fit: { ...task.fit, id: "bad", series: { ds: ["nope"], y: [1] } } }),
      ]);
      expect(onPool.status).toBe("fulfilled");
      const local = fitTile(task, memoryLogger());
      const got = (onPool as PromiseFulfilledResult<typeof local>).value;
      expect(Array.from(got.summary.band)).toEqual(Array.from(local.summary.band));
      expect(got.summary.mean[0]).toBeGreaterThan(900);
      expect(plain.status === "fulfilled" && plain.value.yhat.length).toBe(92);
      expect(bad.status === "rejected" && String(bad.reason)).toMatch(/ds\[0\]/);
    } finally {
      await pool.close();
    }
  });

  it("keeps several tasks on one worker in order, rejects only the failing one, and counts the work", async () => {
    const ds = Array.from({ length: 60 }, (_, i) =>
      new Date(Date.UTC(2023, 0, 1 + i)).toISOString().slice(0, 10),
    );
    const fitTask = (id: string, slope: number) => ({
      id,
      series: { ds, y: ds.map((_, i) => 100 + slope * i) },
      options: { weeklySeasonality: false, yearlySeasonality: false, dailySeasonality: false },
      predict: { periods: 1, includeHistory: false },
    });
    const pool = createMozaicPool({ size: 1, depth: 3 });
    try {
      const settled = await Promise.allSettled([
        pool.fit(fitTask("a", 1)),
        pool.fit({ ...fitTask("bad", 0), series: { ds: ["nope"], y: [1] } }),
        pool.fit(fitTask("b", 2)),
        pool.fit(fitTask("c", 3)),
        pool.fit(fitTask("d", 4)),
      ]);
      expect(settled.map((r) => r.status)).toEqual([
        "fulfilled",
        "rejected",
        "fulfilled",
        "fulfilled",
        "fulfilled",
      ]);
      const next = settled.map((r) => (r.status === "fulfilled" ? r.value.yhat[0] : Number.NaN));
      for (const [i, slope] of [
        [0, 1],
        [2, 2],
        [3, 3],
        [4, 4],
      ])
        expect(next[i]).toBeCloseTo(100 + slope * 60, 3);
      const st = pool.stats();
      expect(st.tasks).toBe(5);
      expect(st.busyMs).toBeGreaterThan(0);
      expect(st.busyMs).toBeLessThanOrEqual(st.ageMs * pool.size + 1);
    } finally {
      await pool.close();
    }
  });
});
