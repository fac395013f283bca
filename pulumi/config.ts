import { z } from "zod";
import { ConfigError } from "../shared/core/errors.ts";

/**
 * The stack configuration, read once from `Pulumi.<stack>.yaml` into a typed, validated object that is passed
 * into the components. Components never read config themselves, so tests build them from literals.
 *
 * Keys (project `tessera`, provider `gcp`):
 * - `gcp:project`, `gcp:region` (required)
 * - `tessera:namePrefix` (default `tessera`): prefix of every platform-level resource name
 * - `tessera:scheduleTimeZone` (default `Etc/UTC`): used for a schedule that names no time zone
 * - `tessera:datasetLocation` (default: the region): BigQuery dataset location
 * - `tessera:imageTag` (default `latest`): tag of the job images in Artifact Registry
 * - `tessera:pipelines` (default `all`): `all` or a list of registered pipeline ids to deploy
 * - `tessera:consoleAllowedDomains` (default none): email domains whose signed-in users may open the console
 * - `tessera:consoleHostname` (default none): the console's public hostname behind IAP; unset keeps the
 *   console internal (no load balancer, nobody can open it)
 * - `tessera:deletionProtection` (default `true`): on buckets, tables, jobs, workflows and Bigtable
 * - `tessera:sizes` (object, every field optional): see {@link Sizes}
 *
 * @example
 * const config = parseStackConfig((key) => values[key]);
 */
export interface Sizes {
  functionMemory: string;
  functionTimeoutSeconds: number;
  functionMaxInstances: number;
  /** Pub/Sub delivery attempts before a message is dead-lettered (5..100). */
  maxDeliveryAttempts: number;
  /** Days before objects under a temporary prefix (`tmp/`) are deleted. */
  tempRetentionDays: number;
  /** Days a non-current version of a state object is kept. */
  stateVersionRetentionDays: number;
  bigtableNodes: number;
  bigtableStorageType: "SSD" | "HDD";
}

export interface StackConfig {
  project: string;
  region: string;
  namePrefix: string;
  scheduleTimeZone: string;
  datasetLocation: string;
  imageTag: string;
  /** `"all"` deploys every registered pipeline. */
  pipelines: "all" | string[];
  consoleAllowedDomains: string[];
  /** Hostname of the IAP-protected load balancer in front of the console; undefined: not exposed. */
  consoleHostname?: string;
  deletionProtection: boolean;
  sizes: Sizes;
}

export const DEFAULT_SIZES: Sizes = {
  functionMemory: "256Mi",
  functionTimeoutSeconds: 300,
  functionMaxInstances: 10,
  maxDeliveryAttempts: 5,
  tempRetentionDays: 7,
  stateVersionRetentionDays: 30,
  bigtableNodes: 1,
  bigtableStorageType: "SSD",
};

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, "must be an IANA time zone such as Europe/Berlin");

const sizes = z.strictObject({
  functionMemory: z
    .string()
    .regex(/^\d+(Mi|Gi)$/, "must be like 256Mi or 1Gi")
    .default(DEFAULT_SIZES.functionMemory),
  functionTimeoutSeconds: z.number().int().min(1).max(540).default(DEFAULT_SIZES.functionTimeoutSeconds),
  functionMaxInstances: z.number().int().min(1).max(1000).default(DEFAULT_SIZES.functionMaxInstances),
  maxDeliveryAttempts: z.number().int().min(5).max(100).default(DEFAULT_SIZES.maxDeliveryAttempts),
  tempRetentionDays: z.number().int().min(1).max(365).default(DEFAULT_SIZES.tempRetentionDays),
  stateVersionRetentionDays: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(DEFAULT_SIZES.stateVersionRetentionDays),
  bigtableNodes: z.number().int().min(1).max(100).default(DEFAULT_SIZES.bigtableNodes),
  bigtableStorageType: z.enum(["SSD", "HDD"]).default(DEFAULT_SIZES.bigtableStorageType),
});

/** Each key with its schema; `json` keys hold structured values (YAML lists/maps in the stack file). */
const KEYS = {
  "gcp:project": {
    field: "project",
    json: false,
    schema: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, "must be a Google Cloud project id"),
  },
  "gcp:region": {
    field: "region",
    json: false,
    schema: z.string().regex(/^[a-z]+-[a-z]+\d$/, "must be a region such as europe-west1"),
  },
  "tessera:namePrefix": {
    field: "namePrefix",
    json: false,
    schema: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,14}[a-z0-9]$/, "must be 3-16 lower-case letters, digits or '-'")
      .default("tessera"),
  },
  "tessera:scheduleTimeZone": { field: "scheduleTimeZone", json: false, schema: timeZone.default("Etc/UTC") },
  "tessera:datasetLocation": { field: "datasetLocation", json: false, schema: z.string().min(2).optional() },
  "tessera:imageTag": {
    field: "imageTag",
    json: false,
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/)
      .default("latest"),
  },
  "tessera:pipelines": {
    field: "pipelines",
    json: true,
    schema: z.union([z.literal("all"), z.array(z.string().regex(/^[a-z][a-z0-9-]+$/))]).default("all"),
  },
  "tessera:consoleAllowedDomains": {
    field: "consoleAllowedDomains",
    json: true,
    schema: z
      .array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, "must be a domain such as example.com"))
      .default([]),
  },
  "tessera:consoleHostname": {
    field: "consoleHostname",
    json: false,
    schema: z
      .string()
      .regex(
        /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/,
        "must be a hostname such as console.example.com",
      )
      .optional(),
  },
  "tessera:deletionProtection": {
    field: "deletionProtection",
    json: true,
    schema: z.boolean().default(true),
  },
  "tessera:sizes": { field: "sizes", json: true, schema: sizes.default(DEFAULT_SIZES) },
} as const;

const FIX: Record<string, string> = {
  "gcp:project": "pulumi config set gcp:project MY-PROJECT",
  "gcp:region": "pulumi config set gcp:region europe-west1",
};

/**
 * Parse the stack config from a key lookup (`gcp:project`, `tessera:sizes`, ...). Structured values arrive
 * as JSON text, as `pulumi.Config.get` returns them; `tessera:pipelines` also takes the bare word `all`.
 */
export function parseStackConfig(get: (key: string) => string | undefined): StackConfig {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(KEYS)) {
    const raw = get(key);
    let value: unknown = raw === "" ? undefined : raw;
    if (spec.json && typeof value === "string") {
      if (key === "tessera:pipelines" && value === "all") value = "all";
      else {
        try {
          value = JSON.parse(value);
        } catch {
          throw new ConfigError(key, `is not valid JSON/YAML structured config: ${JSON.stringify(raw)}`);
        }
      }
    }
    const parsed = (spec.schema as z.ZodType).safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue.path.length ? `.${issue.path.join(".")}` : "";
      const message = value === undefined ? "is required but not set" : issue.message;
      const err = new ConfigError(`${key}${where}`, `${message}${FIX[key] ? ` (fix: ${FIX[key]})` : ""}`);
      throw err;
    }
    out[spec.field] = parsed.data;
  }
  const config = out as unknown as Omit<StackConfig, "datasetLocation"> & { datasetLocation?: string };
  return { ...config, datasetLocation: config.datasetLocation ?? config.region };
}

/** Read the current stack's config through the Pulumi runtime (only `pulumi/index.ts` calls this). */
export async function readStackConfig(): Promise<StackConfig> {
  const pulumi = await import("@pulumi/pulumi");
  const byNamespace = new Map<string, InstanceType<typeof pulumi.Config>>();
  return parseStackConfig((key) => {
    const [ns, name] = key.split(":");
    let c = byNamespace.get(ns);
    if (!c) {
      c = new pulumi.Config(ns);
      byNamespace.set(ns, c);
    }
    return c.get(name);
  });
}

/** Parse the `config:` map of a `Pulumi.<stack>.yaml` file (structured values as YAML), for offline plans. */
export function stackConfigFromFile(config: Record<string, unknown>): StackConfig {
  return parseStackConfig((key) => {
    const v = config[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === "object" && "secure" in (v as object)) {
      throw new ConfigError(key, "is a secret; the offline plan cannot decrypt it");
    }
    return typeof v === "string" ? v : JSON.stringify(v);
  });
}
