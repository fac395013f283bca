import { afterAll, describe, expect, it } from "vitest";
import { createForecastPool } from "../../containers/forecast/pool.ts";
import { runTask } from "../../containers/forecast/task.ts";
import { days, memoryLogger } from "./helpers.ts";

describe("forecast worker pool", () => {
  const pool = createForecastPool({ size: 2 });
  afterAll(() => pool.close());
  const ds = days(200);
  const task = (i: number) => ({
    id: `tile-${i}`,
    series: {
      ds,
      y: ds.map(
        (_, k) =>
          100 * (i + 1) + k * 0.3 + 10 * Math.sin((2 * Math.PI * k) / 7) + ((k * 7919 * (i + 3)) % 13),
      ),
    },
    predict: { periods: 10, samples: 100, seed: i, keepSamples: true },
  });

  it("fits many series in worker threads with the same results as in-thread", async () => {
    const tasks = Array.from({ length: 6 }, (_, i) => task(i));
    const results = await pool.fitAll(tasks);
    expect(results.map((r) => r.id)).toEqual(tasks.map((t) => t.id));
    for (const [i, r] of results.entries()) {
      const local = runTask(tasks[i], memoryLogger());
      expect(r.kind).toBe("prophet");
      expect(Array.from(r.yhat)).toEqual(Array.from(local.yhat));
      expect(Array.from(r.yhatUpper)).toEqual(Array.from(local.yhatUpper));
      expect(r.samples).toHaveLength(210 * 100);
    }
  });

  it("rejects only the task with bad input; the pool keeps working", async () => {
    const bad = { id: "bad", series: { ds: ["2020-01-01", "not a date"], y: [1, 2] } };
    const [a, b] = await Promise.allSettled([pool.fit(bad), pool.fit(task(1))]);
    expect(a.status).toBe("rejected");
    expect((a as PromiseRejectedResult).reason.message).toMatch(/ds\[1\]/);
    expect(b.status).toBe("fulfilled");
    expect(pool.size).toBe(2);
  });
});
