import { afterEach, describe, expect, it } from "vitest";
import { seedTelemetry } from "../../containers/taar/seed-data.ts";
import { type StepContext, telemetryReady } from "../../containers/taar/steps.ts";
import { TELEMETRY } from "../../containers/taar/tables.ts";
import { localPorts } from "./helpers.ts";

/** A virtual clock: sleep advances time at once and runs `onSleep` (which may land the telemetry). */
function virtualClock(onSleep: (call: number) => Promise<void> = async () => {}) {
  let t = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: {
      now: () => t,
      async sleep(ms: number) {
        sleeps.push(ms);
        t += ms;
        await onSleep(sleeps.length);
      },
    },
  };
}

describe("telemetry-ready", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  const context = (params: StepContext["params"], clock: StepContext["clock"]) => {
    const ports = localPorts();
    close = () => ports.close();
    return { ports, day: "2024-06-29", params, clock } satisfies StepContext;
  };

  it("waits, polling, until the day's telemetry lands, then reports the rows", async () => {
    let c: StepContext | undefined;
    const v = virtualClock(async (call) => {
      // The export lands while the step sleeps for the second time.
      if (call === 2) await seedTelemetry(c!.ports.warehouse, { day: "2024-06-29", clients: 50 });
    });
    c = context({ telemetryWaitSeconds: 600, telemetryPollSeconds: 60 }, v.clock);
    await seedTelemetry(c.ports.warehouse, { day: "2024-06-27", days: 1, clients: 20 });
    const summary = await telemetryReady(c);
    expect(v.sleeps).toEqual([60_000, 60_000]);
    expect(summary.polls).toBe(3);
    expect(summary.waitedSeconds).toBe(120);
    const rows = summary.rows as Record<string, number>;
    for (const t of ["clients_daily", "clients_last_seen", "addons"]) expect(rows[t]).toBeGreaterThan(0);
  });

  it("fails after the bound, naming the partition and the tables still empty", async () => {
    let c: StepContext | undefined;
    const v = virtualClock(async (call) => {
      // Only clients_daily lands (seeding the day after writes clients_daily for the day too).
      if (call === 1) {
        await seedTelemetry(c!.ports.warehouse, { day: "2024-06-30", days: 2, clients: 20 });
        await c!.ports.warehouse.query(
          `DELETE FROM ${TELEMETRY}.addons WHERE submission_date = CAST('2024-06-29' AS DATE)`,
        );
      }
    });
    c = context({ telemetryWaitSeconds: 250, telemetryPollSeconds: 100 }, v.clock);
    await seedTelemetry(c.ports.warehouse, { day: "2024-06-27", days: 1, clients: 20 });
    const err = await telemetryReady(c).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/partition 2024-06-29 did not land within 250 s \(4 checks\)/);
    expect(err?.message).toContain("telemetry.clients_last_seen, telemetry.addons");
    expect(err?.message).not.toContain("clients_daily");
    expect(err).toMatchObject({ field: "partition" });
    // The last sleep is cut to the bound: 100 + 100 + 50 virtual seconds.
    expect(v.sleeps).toEqual([100_000, 100_000, 50_000]);
  });

  it("with telemetryWaitSeconds 0 checks once and fails at once", async () => {
    const v = virtualClock();
    const c = context({ telemetryWaitSeconds: 0 }, v.clock);
    await seedTelemetry(c.ports.warehouse, { day: "2024-06-27", days: 1, clients: 20 });
    await expect(telemetryReady(c)).rejects.toThrow(/within 0 s \(1 checks\).*telemetry\.clients_daily/);
    expect(v.sleeps).toEqual([]);
  });
});
