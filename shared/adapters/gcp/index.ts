import type { Logger } from "../../core/log.ts";
import type { Adapters, JobRunner, Secrets, Warehouse, WideRowStore } from "../ports.ts";

import { restFromEnv } from "./rest.ts";
// Static: they are small, have no client library behind them, and a deployed function needs them on its
// first request (one module to load instead of three).
import { createRestBus } from "./rest-messages.ts";
import { createRestObjects } from "./rest-objects.ts";

/**
 * Every port on Google Cloud. A deployed function's cold start loads no client library: object reads and
 * writes and publishing go over REST (`rest.ts`, `rest-objects.ts`, `rest-messages.ts`); Cloud Storage
 * streams, subscriptions, BigQuery, Bigtable, Cloud Run and Secret Manager load their libraries on first use.
 * With `PUBSUB_EMULATOR_HOST` set (and no `TESSERA_PUBSUB_ENDPOINT`) the bus is the library's, which speaks
 * the emulator's gRPC.
 */
export interface GcpAdaptersOptions {
  projectId: string;
  region: string;
  bigtableInstance?: string;
  log?: Logger;
  /** Where endpoints and credentials come from. Default: process.env. */
  env?: Record<string, string | undefined>;
}

/** A port whose every method is async, made on first call. `scan`-like methods returning async iterables are listed. */
export function lazyPort<T extends object>(
  make: () => Promise<T>,
  iterables: string[] = [],
): { port: T; loaded(): T | undefined } {
  let made: Promise<T> | undefined;
  let value: T | undefined;
  const get = () => {
    made ??= make().then((v) => (value = v));
    return made;
  };
  const port = new Proxy({} as T, {
    get(_, prop) {
      if (typeof prop !== "string") return undefined;
      if (prop === "then") return undefined;
      if (iterables.includes(prop)) {
        return (...args: unknown[]) => ({
          async *[Symbol.asyncIterator]() {
            const p = (await get()) as Record<string, (...a: unknown[]) => AsyncIterable<unknown>>;
            yield* p[prop](...args);
          },
        });
      }
      return async (...args: unknown[]) => {
        const p = (await get()) as Record<string, (...a: unknown[]) => unknown>;
        return p[prop](...args);
      };
    },
  });
  return { port, loaded: () => value };
}

export async function createGcpAdapters(options: GcpAdaptersOptions): Promise<Adapters> {
  const env = options.env ?? process.env;
  const { rest, endpoints } = restFromEnv(env);
  const libraryBus = async () =>
    (await import("./messages.ts")).createGcpBus({ projectId: options.projectId, logger: options.log });
  const warehouse = lazyPort<Warehouse>(async () =>
    (await import("./warehouse.ts")).createGcpWarehouse({
      projectId: options.projectId,
      location: options.region,
    }),
  );
  const wideRows = lazyPort<WideRowStore>(
    async () =>
      (await import("./widerows.ts")).createGcpWideRows({
        projectId: options.projectId,
        instanceId: options.bigtableInstance ?? "tessera",
      }),
    ["scan"],
  );
  const jobs = lazyPort<JobRunner>(async () =>
    (await import("./jobs.ts")).createGcpJobs({ projectId: options.projectId, region: options.region }),
  );
  const secrets = lazyPort<Secrets>(async () =>
    (await import("./secrets.ts")).createGcpSecrets({ projectId: options.projectId }),
  );
  const messages =
    env.PUBSUB_EMULATOR_HOST && !env.TESSERA_PUBSUB_ENDPOINT
      ? await libraryBus()
      : createRestBus({
          projectId: options.projectId,
          rest,
          endpoint: endpoints.pubsub,
          library: libraryBus,
        });
  return {
    mode: "gcp",
    warehouse: warehouse.port,
    objects: createRestObjects({
      rest,
      endpoint: endpoints.storage,
      library: async () => (await import("./objects.ts")).createGcpObjects({ projectId: options.projectId }),
    }),
    messages,
    wideRows: wideRows.port,
    jobs: jobs.port,
    secrets: secrets.port,
    async close() {
      await messages.close();
      await warehouse.loaded()?.close();
      await wideRows.loaded()?.close();
    },
  };
}
