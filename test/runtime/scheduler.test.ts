import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createLogger, memorySink } from "../../shared/core/log.ts";
import { createRegistry, type PipelineDefinition } from "../../shared/pipelines/types.ts";
import { firesBetween, startScheduler } from "../../shared/runtime/scheduler.ts";

const def = (id: string, schedules: PipelineDefinition["schedules"]): PipelineDefinition => ({
  id,
  title: id,
  description: id,
  partition: { kind: "daily", fromTick: (now) => now.toISOString().slice(0, 10) },
  schedules,
  workflow: `${id}.workflows.yaml`,
  jobs: [],
  functions: [],
  topics: [],
  tables: [],
  prefixes: [],
  secrets: [],
  params: z.object({}),
});

describe("local scheduler", () => {
  const registry = createRegistry([
    def("daily-one", [{ name: "daily", cron: "0 7 * * *", timeZone: "UTC" }]),
    def("weekly-one", [
      { name: "weekly", cron: "30 3 * * mon", timeZone: "Europe/Berlin", params: { full: true } },
    ]),
  ]);

  it("lists every fire of every schedule in a window, in time order", () => {
    const fires = firesBetween(registry, new Date("2024-06-09T00:00:00Z"), new Date("2024-06-11T23:59:00Z"));
    expect(fires.map((f) => [f.at.toISOString(), f.tick.pipeline])).toEqual([
      ["2024-06-09T07:00:00.000Z", "daily-one"],
      ["2024-06-10T01:30:00.000Z", "weekly-one"],
      ["2024-06-10T07:00:00.000Z", "daily-one"],
      ["2024-06-11T07:00:00.000Z", "daily-one"],
    ]);
    expect(fires[1].tick).toEqual({ pipeline: "weekly-one", schedule: "weekly", params: { full: true } });
  });

  it("publishes a tick when a schedule fires", async () => {
    const base = Date.now();
    // A clock that is 50 ms before 07:00 UTC: the daily schedule fires almost at once.
    const offset = Date.UTC(2024, 5, 10, 7, 0, 0) - 50 - base;
    const published: unknown[] = [];
    const s = startScheduler({
      registry: createRegistry([def("daily-one", [{ name: "daily", cron: "0 7 * * *", timeZone: "UTC" }])]),
      publish: async (t) => published.push(t),
      log: createLogger({ sink: memorySink() }),
      now: () => new Date(Date.now() + offset),
    });
    expect(s.next()[0].at.toISOString()).toBe("2024-06-10T07:00:00.000Z");
    await new Promise((r) => setTimeout(r, 400));
    s.stop();
    expect(published).toEqual([{ pipeline: "daily-one", schedule: "daily", params: {} }]);
    expect(s.next()[0].at.toISOString()).toBe("2024-06-11T07:00:00.000Z");
  });
});
