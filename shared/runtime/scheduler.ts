import type { ScheduleTick } from "../contracts/v1/index.ts";
import { type Cron, nextFire, parseCron } from "../core/cron.ts";
import type { Logger } from "../core/log.ts";
import type { Registry } from "../pipelines/types.ts";

/**
 * The local twin's Cloud Scheduler: every schedule of every registered pipeline fires at its cron in its
 * time zone and publishes a schedule tick, exactly the message Cloud Scheduler publishes when deployed.
 */
export interface Fire {
  at: Date;
  tick: ScheduleTick;
}

interface Entry {
  pipeline: string;
  schedule: string;
  cron: Cron;
  timeZone: string;
  params: Record<string, unknown>;
}

function entries(registry: Registry): Entry[] {
  return registry.list().flatMap((def) =>
    def.schedules.map((s) => ({
      pipeline: def.id,
      schedule: s.name,
      cron: parseCron(s.cron),
      timeZone: s.timeZone,
      params: s.params ?? {},
    })),
  );
}

/** Every fire strictly after `from` and at or before `to`, in time order. */
export function firesBetween(registry: Registry, from: Date, to: Date): Fire[] {
  const out: Fire[] = [];
  for (const e of entries(registry)) {
    for (let at = nextFire(e.cron, from, e.timeZone); at <= to; at = nextFire(e.cron, at, e.timeZone)) {
      out.push({ at, tick: { pipeline: e.pipeline, schedule: e.schedule, params: e.params } });
    }
  }
  return out.sort(
    (a, b) => a.at.getTime() - b.at.getTime() || a.tick.pipeline.localeCompare(b.tick.pipeline),
  );
}

export interface SchedulerOptions {
  registry: Registry;
  publish(tick: ScheduleTick): Promise<unknown>;
  log: Logger;
  now?: () => Date;
}

/** Run the schedules until `stop()`. Timers are unref'd so they never keep a process alive on their own. */
export function startScheduler(options: SchedulerOptions): { stop(): void; next(): Fire[] } {
  const now = options.now ?? (() => new Date());
  const timers = new Map<string, NodeJS.Timeout>();
  const upcoming = new Map<string, Fire>();
  let stopped = false;
  const arm = (e: Entry) => {
    if (stopped) return;
    const key = `${e.pipeline}/${e.schedule}`;
    const at = nextFire(e.cron, now(), e.timeZone);
    upcoming.set(key, { at, tick: { pipeline: e.pipeline, schedule: e.schedule, params: e.params } });
    // setTimeout takes at most ~24.8 days; re-arm in steps for schedules further away.
    const delay = Math.min(at.getTime() - now().getTime(), 2 ** 31 - 1);
    const timer = setTimeout(
      async () => {
        if (now() >= at) {
          const tick: ScheduleTick = { pipeline: e.pipeline, schedule: e.schedule, params: e.params };
          options.log.info(`schedule ${key} fired (${e.cron.source} ${e.timeZone})`);
          try {
            await options.publish(tick);
          } catch (err) {
            options.log.error(`schedule ${key}: could not publish the tick: ${(err as Error).message}`);
          }
        }
        arm(e);
      },
      Math.max(0, delay),
    );
    timer.unref();
    timers.set(key, timer);
  };
  for (const e of entries(options.registry)) arm(e);
  return {
    stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
    },
    next: () => [...upcoming.values()].sort((a, b) => a.at.getTime() - b.at.getTime()),
  };
}
