import type { Logger } from "../../core/log.ts";
import type { Adapters, JobRunner, Secrets, Warehouse, WideRowStore } from "../ports.ts";

/**
 * Every port on Google Cloud. A deployed function pays at cold start only for the client libraries it
 * uses: Cloud Storage and Pub/Sub load here, BigQuery, Bigtable, Cloud Run and Secret Manager on first use.
 */
export interface GcpAdaptersOptions {
  projectId: string;
  region: string;
  bigtableInstance?: string;
  log?: Logger;
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
  const [{ createGcpObjects }, { createGcpBus }] = await Promise.all([
    import("./objects.ts"),
    import("./messages.ts"),
  ]);
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
  const messages = createGcpBus({ projectId: options.projectId, logger: options.log });
  return {
    mode: "gcp",
    warehouse: warehouse.port,
    objects: createGcpObjects({ projectId: options.projectId }),
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
