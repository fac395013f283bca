import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Adapters, Family, TableSchema } from "../adapters/ports.ts";
import { parseCron } from "../core/cron.ts";
import type { PartitionKind } from "../core/dates.ts";
import { NonRetriableError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";

/**
 * The typed definition of a pipeline: the single source of truth that Pulumi, the local twin, the CLI and
 * the tests all read. `definePipeline` validates it at load and throws with every problem listed.
 */

export interface ScheduleDefinition {
  /** Unique within the pipeline: `daily`, `weekly`. */
  name: string;
  /** Five-field cron, as Cloud Scheduler takes it. */
  cron: string;
  /** IANA time zone, as Cloud Scheduler takes it. */
  timeZone: string;
  /** Extra params carried by this schedule's ticks. */
  params?: Record<string, unknown>;
}

export interface JobDefinition {
  /** Cloud Run Job name suffix: the job is `<pipeline>-<name>`. */
  name: string;
  /** The entrypoint module, relative to the repository root (`containers/forecast/main.ts`). */
  entrypoint: string;
  /** The image folder under `containers/` (its Dockerfile). */
  image: string;
  cpu: string;
  memory: string;
  taskCount: number;
  parallelism: number;
  timeoutSeconds: number;
  maxRetries: number;
  /** Secret names exposed as env variables of the same name, upper-cased. */
  secrets?: string[];
  env?: Record<string, string>;
  /**
   * Node and V8 flags on the job's command line, before its entrypoint (`node <flags> index.js`): for settings
   * that only hold when given at start and that NODE_OPTIONS refuses (`--single-threaded-gc`).
   */
  nodeFlags?: string[];
  /** Debian packages the job's image installs with apt (`postgresql-client` for pg_dump). */
  systemPackages?: string[];
}

export interface FunctionDefinition {
  /** Cloud Function name suffix: the function is `<pipeline>-<name>`. */
  name: string;
  /** The folder under `functions/` holding it. */
  source: string;
  /** The exported target registered with the functions framework. */
  target: string;
  trigger: { kind: "http" } | { kind: "topic"; topic: string };
  memory?: string;
  timeoutSeconds?: number;
  maxInstances?: number;
  secrets?: string[];
  /** Prefixes (of the pipeline's `prefixes`) the function writes; it may only read the others. */
  writes?: string[];
  /** Topics the function publishes to (platform topics or the pipeline's own). */
  publishes?: string[];
}

/**
 * What the Console does for a pipeline on its own pages (the mmm workbench), so that the deployment grants
 * the console's account exactly that: prefixes it writes, topics it publishes to, secrets it reads and adds
 * versions to, and whether it previews the warehouse's tables (read access to the registry's datasets).
 */
export interface ConsoleAccess {
  writes?: string[];
  publishes?: string[];
  secrets?: string[];
  addsSecretVersions?: string[];
  previewsTables?: boolean;
}

export interface TableDefinition extends TableSchema {
  dataset: string;
  table: string;
}

export interface PipelineDefinition<P extends z.ZodType = z.ZodType> {
  id: string;
  title: string;
  description: string;
  partition: {
    kind: PartitionKind;
    /** The partition a schedule tick without one runs, given the tick's time. Required when scheduled. */
    fromTick?: (now: Date) => string;
    /** The newest partition that may run now (future partitions are rejected), for daily/monthly kinds. */
    latest?: (now: Date) => string;
    /** The largest backfill accepted in one request. */
    maxBackfill?: number;
  };
  schedules: ScheduleDefinition[];
  /** File name under `workflows-yaml/`. */
  workflow: string;
  jobs: JobDefinition[];
  functions: FunctionDefinition[];
  /** Topics the pipeline publishes to or listens on, beyond the platform's own. */
  topics: string[];
  tables: TableDefinition[];
  /** Object prefixes the pipeline writes, per bucket role. */
  prefixes: { bucket: "data" | "artifacts"; prefix: string }[];
  secrets: string[];
  /** Bigtable tables the pipeline writes (wide rows), with their column families and GC rules. */
  wideTables?: { table: string; families: Family[] }[];
  /** What the Console does on this pipeline's behalf; none by default. */
  console?: ConsoleAccess;
  /** The schema of `params` in a run request. */
  params: P;
  /** The local twin's hooks: `seed` fills the local stand-ins with sample data before `npm start` runs it. */
  local?: {
    seed?(context: LocalSeedContext): Promise<void>;
    /** Params of the tick `npm start` publishes (a quick but real run of the pipeline); none by default. */
    startParams?: Record<string, unknown>;
    /** A line or two for `npm start`'s summary: what the run wrote and where (plots, tables, files). */
    describe?(context: LocalSeedContext, partition: string): Promise<string>;
  };
}

/** `true` in deployed function bundles only: esbuild's `define` (scripts/build.ts). */
declare const TESSERA_REGISTRY_VALIDATED: boolean | undefined;

/**
 * The definition schema, built on first use: a deployed function bundle never validates its (build-time
 * validated) registry, so it never pays for building ~80 Zod schemas at cold start.
 */
let definitionShape: ReturnType<typeof buildDefinitionShape> | undefined;

function buildDefinitionShape() {
  const name = z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/);
  const memory = z.string().regex(/^\d+(Mi|Gi)$/, "must be like 512Mi or 4Gi");
  const cpu = z.string().regex(/^(\d+|\d+m)$/, "must be like 1, 2 or 500m");
  return z.object({
    id: z.string().regex(/^[a-z][a-z0-9-]{1,30}[a-z0-9]$/, "must be lower-case letters, digits and '-'"),
    title: z.string().min(1),
    description: z.string().min(1),
    partition: z.object({
      kind: z.enum(["daily", "monthly", "key"]),
      fromTick: z.function().optional(),
      latest: z.function().optional(),
      maxBackfill: z.number().int().positive().optional(),
    }),
    schedules: z.array(
      z.object({
        name,
        cron: z.string(),
        timeZone: z.string(),
        params: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
    workflow: z.string().regex(/^[a-z0-9-]+\.workflows\.yaml$/, "must be <pipeline>.workflows.yaml"),
    jobs: z.array(
      z.object({
        name,
        entrypoint: z.string().regex(/^containers\/.+\.ts$/, "must be a .ts module under containers/"),
        image: z.string().regex(/^[a-z0-9-]+$/),
        cpu,
        memory,
        taskCount: z.number().int().min(1).max(10_000),
        parallelism: z.number().int().min(0).max(10_000),
        timeoutSeconds: z
          .number()
          .int()
          .min(1)
          .max(168 * 3600),
        maxRetries: z.number().int().min(0).max(10),
        secrets: z.array(z.string()).optional(),
        env: z.record(z.string(), z.string()).optional(),
        nodeFlags: z
          .array(
            z
              .string()
              .regex(/^--[a-z0-9-]+(=[A-Za-z0-9._,:/-]+)?$/, "must be one flag like --name or --name=value"),
          )
          .optional(),
        systemPackages: z
          .array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "must be a Debian package name"))
          .optional(),
      }),
    ),
    functions: z.array(
      z.object({
        name,
        source: z.string(),
        target: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
        trigger: z.union([
          z.object({ kind: z.literal("http") }),
          z.object({ kind: z.literal("topic"), topic: z.string() }),
        ]),
        memory: memory.optional(),
        timeoutSeconds: z.number().int().positive().max(3600).optional(),
        maxInstances: z.number().int().positive().optional(),
        secrets: z.array(z.string()).optional(),
        writes: z.array(z.string()).optional(),
        publishes: z.array(z.string()).optional(),
      }),
    ),
    topics: z.array(z.string().regex(/^[a-z][a-z0-9-]{2,254}$/)),
    tables: z.array(
      z
        .object({
          dataset: z.string().regex(/^[a-z_][a-z0-9_]*$/),
          table: z.string().regex(/^[a-z_][a-z0-9_]*$/),
        })
        .passthrough(),
    ),
    prefixes: z.array(
      z.object({
        bucket: z.enum(["data", "artifacts"]),
        prefix: z.string().regex(/^[a-z0-9][a-z0-9_\-/]*\/$/),
      }),
    ),
    secrets: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/)),
    console: z
      .object({
        writes: z.array(z.string()).optional(),
        publishes: z.array(z.string()).optional(),
        secrets: z.array(z.string()).optional(),
        addsSecretVersions: z.array(z.string()).optional(),
        previewsTables: z.boolean().optional(),
      })
      .optional(),
    params: z.custom<z.ZodType>((v) => v instanceof z.ZodType, "must be a zod schema"),
  });
}

export interface LocalSeedContext {
  adapters: Adapters;
  stateDir: string;
  buckets: { data: string; artifacts: string; state: string };
  log: Logger;
  now: Date;
}

export class RegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistryError";
  }
}

/** Validate a pipeline definition at load; every problem is listed, with the pipeline's id. */
export function definePipeline<P extends z.ZodType>(
  def: PipelineDefinition<P>,
  root = repoRoot(),
): PipelineDefinition<P> {
  // Deployed function bundles carry a registry that `npm run build` validated (scripts/build.ts defines this).
  if (typeof TESSERA_REGISTRY_VALIDATED !== "undefined" && TESSERA_REGISTRY_VALIDATED) return def;
  const problems: string[] = [];
  definitionShape ??= buildDefinitionShape();
  const parsed = definitionShape.safeParse(def);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push(`${issue.path.join(".") || "(definition)"}: ${issue.message}`);
  }
  const dup = (what: string, names: string[]) => {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) problems.push(`${what} "${n}" is declared twice`);
      seen.add(n);
    }
  };
  dup("schedule", def.schedules?.map((s) => s.name) ?? []);
  dup("job", def.jobs?.map((j) => j.name) ?? []);
  dup("function", def.functions?.map((f) => f.name) ?? []);
  dup("table", def.tables?.map((t) => `${t.dataset}.${t.table}`) ?? []);
  for (const s of def.schedules ?? []) {
    try {
      parseCron(s.cron);
    } catch (err) {
      problems.push(`schedules.${s.name}.cron: ${(err as Error).message}`);
    }
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: s.timeZone });
    } catch {
      problems.push(`schedules.${s.name}.timeZone: unknown time zone "${s.timeZone}"`);
    }
  }
  if ((def.schedules?.length ?? 0) > 0 && def.partition?.kind !== "key" && !def.partition?.fromTick) {
    problems.push("partition.fromTick: a scheduled pipeline must say which partition a tick runs");
  }
  // In a checkout every referenced file must exist; a bundled function or job has no workflows-yaml/ beside it.
  const checkFiles = existsSync(join(root, "workflows-yaml"));
  for (const j of def.jobs ?? []) {
    if (j.parallelism > j.taskCount)
      problems.push(`jobs.${j.name}: parallelism ${j.parallelism} exceeds taskCount ${j.taskCount}`);
    if (checkFiles && !existsSync(join(root, j.entrypoint)))
      problems.push(`jobs.${j.name}.entrypoint: ${j.entrypoint} does not exist`);
    for (const s of j.secrets ?? [])
      if (!def.secrets.includes(s))
        problems.push(`jobs.${j.name}.secrets: "${s}" is not in the pipeline's secrets`);
  }
  if (checkFiles && def.workflow && !existsSync(join(root, "workflows-yaml", def.workflow))) {
    problems.push(`workflow: workflows-yaml/${def.workflow} does not exist`);
  }
  if (problems.length > 0) {
    throw new RegistryError(`pipeline "${def.id ?? "?"}" is invalid:\n  - ${problems.join("\n  - ")}`);
  }
  return def;
}

export function repoRoot(): string {
  return join(import.meta.dirname, "..", "..");
}

export interface Registry {
  list(): PipelineDefinition[];
  /** Throws a NonRetriableError-compatible message naming the registered pipelines. */
  get(id: string): PipelineDefinition;
  has(id: string): boolean;
}

export function createRegistry(defs: PipelineDefinition[]): Registry {
  const byId = new Map<string, PipelineDefinition>();
  for (const d of defs) {
    if (byId.has(d.id)) throw new RegistryError(`pipeline "${d.id}" is registered twice`);
    byId.set(d.id, d);
  }
  return {
    list: () => [...byId.values()],
    has: (id) => byId.has(id),
    get: (id) => {
      const d = byId.get(id);
      if (!d) {
        const known = [...byId.keys()].join(", ") || "none";
        throw new UnknownPipelineError(id, known);
      }
      return d;
    },
  };
}

export class UnknownPipelineError extends NonRetriableError {
  constructor(id: string, known: string) {
    super(`unknown pipeline "${id}" (registered: ${known})`, {
      field: "pipeline",
      fix: "use one of the registered pipeline ids (`tessera status` lists them)",
    });
    this.name = "UnknownPipelineError";
  }
}
