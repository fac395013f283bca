import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { Column } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import {
  BUCKET_ROLES,
  type BucketRole,
  type PlatformFunction,
  SECRETS,
  TOPICS,
} from "../../shared/pipelines/platform.ts";
import type { PipelineDefinition, TableDefinition } from "../../shared/pipelines/types.ts";
import type { StackConfig } from "../config.ts";
import { type ConsoleFront, createConsoleFront } from "./console.ts";
import { type DeployedFunction, deployFunction } from "./function.ts";
import { createGrant, type Grant, type Principal, prefixCondition, saPrincipal } from "./iam.ts";
import { accountId, bucketName, envName, pubsubServiceAgent } from "./names.ts";

/** Prefixes of the data and artifacts buckets whose objects are deleted after `sizes.tempRetentionDays`. */
export const TEMP_PREFIXES = ["tmp/"];

/** The platform function that serves people (behind IAP) rather than machines. */
export const CONSOLE_FUNCTION = "console";

/** The backfill driver's deployed workflow id (shared/ops/context.ts BACKFILL_WORKFLOW_ID). */
export const BACKFILL_WORKFLOW_ID = "backfill";

/** The workflows' `userEnvVars` key of a platform HTTP function's URL: `runs` -> `TESSERA_RUNS_URL`. */
export const platformUrlKey = (fn: string) => `TESSERA_${envName(fn)}_URL`;

export interface PlatformArgs {
  config: StackConfig;
  /** The enabled pipelines: their tables, topics and secrets are created here. */
  pipelines: PipelineDefinition[];
  /** Platform functions whose bundles are deployed (`dispatch`, `backfill`, `console`). */
  functions: PlatformFunction[];
  /** Where `dist/functions/<source>/` bundles live. */
  bundlesDir: string;
  /** The backfill driver workflow's source file, when it exists. */
  backfillWorkflowFile?: string;
}

/**
 * What every pipeline shares: the image repository, buckets, warehouse datasets and tables, the Bigtable
 * instance, the platform topics with their dead-letter wiring, the secrets (without values), and the
 * platform functions (`dispatch`, `backfill`, `console`) with the backfill driver workflow.
 */
export class Platform extends pulumi.ComponentResource {
  readonly repository: gcp.artifactregistry.Repository;
  readonly buckets: Record<BucketRole, gcp.storage.Bucket>;
  readonly bucketNames: Record<BucketRole, string>;
  readonly topics = new Map<string, gcp.pubsub.Topic>();
  readonly secrets = new Map<string, gcp.secretmanager.Secret>();
  readonly tables = new Map<string, gcp.bigquery.Table>();
  /** The registry's BigQuery datasets, by id. */
  readonly datasets = new Map<string, gcp.bigquery.Dataset>();
  readonly deadLetterTopic: gcp.pubsub.Topic;
  readonly bigtable: gcp.bigtable.Instance;
  readonly pubsubAgent: Principal;
  readonly functions = new Map<string, DeployedFunction>();
  /** Platform functions served over HTTP (`runs`). */
  readonly httpFunctions = new Set<string>();
  readonly backfillWorkflow?: gcp.workflows.Workflow;
  /** The IAP-protected load balancer in front of the console, when `consoleHostname` is set. */
  consoleFront?: ConsoleFront;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tessera:platform:Platform", name, {}, opts);
    const { config } = args;
    const { project, region, namePrefix: prefix } = config;
    const child = { parent: this };
    const grant = createGrant(name, this);
    const labels = { "tessera-component": "platform" };

    const projectNumber = gcp.organizations
      .getProjectOutput({ projectId: project }, child)
      .number.apply((n) => String(n));
    this.pubsubAgent = { key: "pubsub-agent", member: projectNumber.apply(pubsubServiceAgent) };

    this.repository = new gcp.artifactregistry.Repository(
      `${name}-images`,
      {
        project,
        location: region,
        repositoryId: prefix,
        format: "DOCKER",
        description: "Tessera job images",
        labels,
      },
      child,
    );

    const buckets = {} as Record<BucketRole, gcp.storage.Bucket>;
    const names = {} as Record<BucketRole, string>;
    for (const role of BUCKET_ROLES) {
      names[role] = bucketName(project, prefix, role);
      const lifecycleRules: gcp.types.input.storage.BucketLifecycleRule[] = [];
      if (role === "data" || role === "artifacts") {
        lifecycleRules.push({
          action: { type: "Delete" },
          condition: { age: config.sizes.tempRetentionDays, matchesPrefixes: TEMP_PREFIXES },
        });
      }
      if (role === "state") {
        lifecycleRules.push({
          action: { type: "Delete" },
          condition: {
            withState: "ARCHIVED",
            daysSinceNoncurrentTime: config.sizes.stateVersionRetentionDays,
          },
        });
      }
      if (role === "sources") {
        lifecycleRules.push({ action: { type: "Delete" }, condition: { age: 90, withState: "ANY" } });
      }
      buckets[role] = new gcp.storage.Bucket(
        `${name}-${role}`,
        {
          project,
          name: names[role],
          location: region.toUpperCase(),
          uniformBucketLevelAccess: true,
          publicAccessPrevention: "enforced",
          versioning: { enabled: role === "state" },
          lifecycleRules,
          forceDestroy: !config.deletionProtection,
          labels: { ...labels, "tessera-bucket": role },
        },
        child,
      );
    }
    this.buckets = buckets;
    this.bucketNames = names;

    // Tables: each belongs to exactly one pipeline (its job SA is the only writer).
    const owners = new Map<string, string>();
    const datasets = this.datasets;
    for (const p of args.pipelines) {
      for (const t of p.tables) {
        const key = `${t.dataset}.${t.table}`;
        const other = owners.get(key);
        if (other) {
          throw new NonRetriableError(`table ${key} is declared by both "${other}" and "${p.id}"`, {
            field: `pipelines.${p.id}.tables`,
            fix: "a table has one owning pipeline; read another pipeline's table without declaring it",
          });
        }
        owners.set(key, p.id);
        let dataset = datasets.get(t.dataset);
        if (!dataset) {
          dataset = new gcp.bigquery.Dataset(
            `${name}-ds-${t.dataset}`,
            {
              project,
              datasetId: t.dataset,
              location: config.datasetLocation,
              deleteContentsOnDestroy: !config.deletionProtection,
              labels,
            },
            child,
          );
          datasets.set(t.dataset, dataset);
        }
        this.tables.set(
          key,
          createTable(`${name}-tbl-${t.dataset}-${t.table}`, t, dataset, project, config, p.id, this),
        );
      }
    }

    this.bigtable = new gcp.bigtable.Instance(
      `${name}-rows`,
      {
        project,
        name: `${prefix}-rows`,
        displayName: `${prefix} wide rows`,
        deletionProtection: config.deletionProtection,
        labels,
        clusters: [
          {
            clusterId: `${prefix}-c1`,
            zone: `${region}-b`,
            numNodes: config.sizes.bigtableNodes,
            storageType: config.sizes.bigtableStorageType,
          },
        ],
      },
      child,
    );

    const topicNames = [...Object.values(TOPICS), ...args.pipelines.flatMap((p) => p.topics)];
    for (const topic of new Set(topicNames)) {
      this.topics.set(
        topic,
        new gcp.pubsub.Topic(
          `${name}-topic-${topic}`,
          { project, name: topic, messageRetentionDuration: "604800s", labels },
          child,
        ),
      );
    }
    this.deadLetterTopic = this.topics.get(TOPICS.deadLetters)!;
    // Without a subscription a topic drops what it receives: this one keeps dead letters for inspection.
    new gcp.pubsub.Subscription(
      `${name}-dead-letters-hold`,
      {
        project,
        name: `${TOPICS.deadLetters}-hold`,
        topic: this.deadLetterTopic.id,
        messageRetentionDuration: "604800s",
        expirationPolicy: { ttl: "" },
        ackDeadlineSeconds: 60,
        labels: { ...labels, "tessera-dead-letter-sink": "true" },
      },
      child,
    );
    grant(
      { kind: "topic", key: TOPICS.deadLetters, topic: this.deadLetterTopic },
      "roles/pubsub.publisher",
      this.pubsubAgent,
    );

    const secretNames = [...SECRETS, ...args.pipelines.flatMap((p) => p.secrets)];
    for (const s of new Set(secretNames)) {
      this.secrets.set(
        s,
        new gcp.secretmanager.Secret(
          `${name}-secret-${s}`,
          { project, secretId: s, replication: { auto: {} }, labels },
          child,
        ),
      );
    }

    const runtimeEnv = this.runtimeEnv(config);
    for (const f of args.functions) {
      if (f.trigger.kind === "http") this.httpFunctions.add(f.name);
      const sa = new gcp.serviceaccount.Account(
        `${name}-${f.name}-sa`,
        { project, accountId: accountId(prefix, f.name), displayName: `${prefix} ${f.name} function` },
        child,
      );
      const who = saPrincipal(`${f.name}-sa`, sa);
      const fnName = `${prefix}-${f.name}`;
      const trigger =
        f.trigger.kind === "topic"
          ? this.topicFor(f.trigger.topic, `functions.${f.name}.trigger.topic`)
          : undefined;
      const isConsole = f.name === CONSOLE_FUNCTION;
      let env: Record<string, pulumi.Input<string>> = runtimeEnv;
      if (isConsole) {
        if (config.consoleHostname) {
          this.consoleFront = createConsoleFront(
            `${name}-console`,
            {
              prefix,
              project,
              region,
              hostname: config.consoleHostname,
              allowedDomains: config.consoleAllowedDomains,
              serviceName: fnName,
              projectNumber,
              grant,
              labels,
            },
            this,
          );
        } else {
          pulumi.log.warn(
            "the console is deployed without a front door (tessera:consoleHostname is not set): nobody can open it",
            this,
          );
        }
        env = {
          ...runtimeEnv,
          TESSERA_CONSOLE_ALLOWED_DOMAINS: config.consoleAllowedDomains.join(","),
          TESSERA_CONSOLE_AUDIENCE: this.consoleFront?.audience ?? "",
        };
      }
      const deployed = deployFunction(
        `${name}-fn-${f.name}`,
        {
          name: fnName,
          bundleDir: join(args.bundlesDir, f.source),
          target: f.target,
          project,
          region,
          serviceAccount: sa,
          sourcesBucket: buckets.sources,
          memory: config.sizes.functionMemory,
          timeoutSeconds: config.sizes.functionTimeoutSeconds,
          maxInstances: config.sizes.functionMaxInstances,
          // Workflows, Pub/Sub and Scheduler count as internal callers; people reach the console through
          // the IAP-protected load balancer only.
          ingress: isConsole && this.consoleFront ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_INTERNAL_ONLY",
          env,
          secrets: [],
          labels: { ...labels, "tessera-function": f.name },
          trigger: trigger && {
            topic: trigger,
            topicName: (f.trigger as { topic: string }).topic,
            deadLetterTopic: this.deadLetterTopic,
            maxDeliveryAttempts: f.maxDeliveryAttempts ?? config.sizes.maxDeliveryAttempts,
          },
        },
        this,
      );
      this.functions.set(f.name, deployed);
      const service = this.serviceTarget(f.name, config);
      if (isConsole) {
        this.grantConsole(grant, who, project, args.pipelines);
        if (this.consoleFront) grant(service, "roles/run.invoker", this.consoleFront.iapAgent);
        continue;
      }
      // Every other platform function keeps the run ledger (the state bucket holds nothing else) and
      // reports runs.
      grant({ kind: "bucket", key: "state", bucket: buckets.state }, "roles/storage.objectUser", who);
      grant(
        { kind: "topic", key: TOPICS.runEvents, topic: this.topics.get(TOPICS.runEvents)! },
        "roles/pubsub.publisher",
        who,
      );
      if (deployed.subscription) {
        // Topic-triggered functions (dispatch, backfill) start workflow executions. Workflows has no
        // per-workflow IAM: invoker on the project is the narrowest grant that exists.
        grant({ kind: "project", project }, "roles/workflows.invoker", who);
        grant(service, "roles/run.invoker", who);
        grant(
          { kind: "subscription", key: `${fnName}-push`, subscription: deployed.subscription },
          "roles/pubsub.subscriber",
          this.pubsubAgent,
        );
      }
    }

    if (args.backfillWorkflowFile) {
      if (!existsSync(args.backfillWorkflowFile)) {
        throw new NonRetriableError(`the backfill workflow ${args.backfillWorkflowFile} does not exist`, {
          field: "backfillWorkflowFile",
          fix: "create workflows-yaml/backfill.workflows.yaml or leave it out of the stack",
        });
      }
      const sa = new gcp.serviceaccount.Account(
        `${name}-backfill-wf-sa`,
        {
          project,
          accountId: accountId(prefix, "backfill-wf"),
          displayName: `${prefix} backfill driver workflow`,
        },
        child,
      );
      const who = saPrincipal("backfill-wf-sa", sa);
      this.backfillWorkflow = new gcp.workflows.Workflow(
        `${name}-backfill-wf`,
        {
          project,
          region,
          name: BACKFILL_WORKFLOW_ID,
          description: "Tessera backfill driver: fans out pipeline executions under a concurrency limit",
          serviceAccount: sa.email,
          sourceContents: readFileSync(args.backfillWorkflowFile, "utf8"),
          userEnvVars: { ...this.workflowEnv(config), TESSERA_PIPELINE: BACKFILL_WORKFLOW_ID },
          callLogLevel: "LOG_ERRORS_ONLY",
          deletionProtection: config.deletionProtection,
          labels: { ...labels, "tessera-pipeline": "backfill" },
        },
        child,
      );
      grant({ kind: "project", project }, "roles/workflows.invoker", who);
      this.grantWorkflowBasics(grant, who, config);
    }

    this.registerOutputs({
      buckets: names,
      repository: this.repository.name,
      deadLetterTopic: this.deadLetterTopic.name,
    });
  }

  /**
   * The console reads every bucket (data, artifacts, the ledger), writes the ledger and cancel markers in the
   * state bucket, publishes backfill requests and schedule ticks (ad-hoc runs), and reads workflow
   * executions (Workflows has no per-workflow IAM, so the viewer role is on the project). Beyond that, only
   * what a pipeline's `console` entry declares its pages do (see grantConsoleAccess).
   */
  grantConsole(grant: Grant, who: Principal, project: string, pipelines: PipelineDefinition[] = []): void {
    grant({ kind: "bucket", key: "data", bucket: this.buckets.data }, "roles/storage.objectViewer", who);
    grant(
      { kind: "bucket", key: "artifacts", bucket: this.buckets.artifacts },
      "roles/storage.objectViewer",
      who,
    );
    grant({ kind: "bucket", key: "state", bucket: this.buckets.state }, "roles/storage.objectUser", who);
    for (const topic of [TOPICS.backfillRequests, TOPICS.scheduleTicks])
      grant({ kind: "topic", key: topic, topic: this.topics.get(topic)! }, "roles/pubsub.publisher", who);
    grant({ kind: "project", project }, "roles/workflows.viewer", who);
    for (const p of pipelines) if (p.console) this.grantConsoleAccess(grant, who, project, p);
  }

  /**
   * A pipeline's console pages: objectUser on the prefixes they write (conditioned on the prefix, as a job's),
   * publisher on their topics, accessor and version adder on the secret itself (never the project), and for
   * table previews `bigquery.dataViewer` on each registry dataset plus `bigquery.jobUser` (running a query is
   * a project permission; what it may read is decided by the dataset grants).
   */
  private grantConsoleAccess(grant: Grant, who: Principal, project: string, def: PipelineDefinition): void {
    const access = def.console ?? {};
    const field = (k: string) => `pipelines.${def.id}.console.${k}`;
    for (const w of access.writes ?? []) {
      const p = def.prefixes.find((q) => q.prefix === w);
      if (!p) {
        throw new NonRetriableError(
          `pipeline "${def.id}": the console writes "${w}", not one of its prefixes`,
          {
            field: field("writes"),
            fix: `add { bucket, prefix: "${w}" } to the pipeline's prefixes, or name one of them`,
          },
        );
      }
      const title = `${p.bucket}-${p.prefix.replace(/\/$/, "").replace(/[^A-Za-z0-9]+/g, "-")}`;
      grant(
        {
          kind: "bucket",
          key: p.bucket,
          bucket: this.buckets[p.bucket],
          condition: prefixCondition(this.bucketNames[p.bucket], p.prefix, title),
        },
        "roles/storage.objectUser",
        who,
      );
    }
    for (const t of access.publishes ?? [])
      grant(
        { kind: "topic", key: t, topic: this.topicFor(t, field("publishes")) },
        "roles/pubsub.publisher",
        who,
      );
    const secretOf = (s: string, k: string) => {
      const secret = this.secrets.get(s);
      if (!secret || !def.secrets.includes(s)) {
        throw new NonRetriableError(
          `pipeline "${def.id}": the console uses secret "${s}" that it does not declare`,
          {
            field: field(k),
            fix: `add "${s}" to the pipeline's secrets`,
          },
        );
      }
      return { kind: "secret", key: s, secret } as const;
    };
    for (const s of access.secrets ?? [])
      grant(secretOf(s, "secrets"), "roles/secretmanager.secretAccessor", who);
    for (const s of access.addsSecretVersions ?? [])
      grant(secretOf(s, "addsSecretVersions"), "roles/secretmanager.secretVersionAdder", who);
    if (access.previewsTables) {
      for (const [key, dataset] of this.datasets)
        grant({ kind: "dataset", key, dataset }, "roles/bigquery.dataViewer", who);
      grant({ kind: "project", project }, "roles/bigquery.jobUser", who);
    }
  }

  /** The env every Tessera process in the cloud reads (shared/runtime/config.ts). */
  runtimeEnv(config: StackConfig): Record<string, string> {
    return {
      TESSERA_MODE: "gcp",
      GOOGLE_CLOUD_PROJECT: config.project,
      TESSERA_REGION: config.region,
      TESSERA_DATA_BUCKET: this.bucketNames.data,
      TESSERA_ARTIFACTS_BUCKET: this.bucketNames.artifacts,
      TESSERA_STATE_BUCKET: this.bucketNames.state,
    };
  }

  topicFor(topic: string, field: string): gcp.pubsub.Topic {
    const t = this.topics.get(topic);
    if (!t) {
      throw new NonRetriableError(`topic "${topic}" is neither a platform topic nor declared by a pipeline`, {
        field,
        fix: `add "${topic}" to the pipeline's topics`,
      });
    }
    return t;
  }

  /** Where `roles/run.invoker` on a platform function is granted. */
  serviceTarget(fn: string, config: StackConfig) {
    const deployed = this.functions.get(fn)!;
    const key = `${config.namePrefix}-${fn}`;
    return {
      kind: "service",
      key,
      service: deployed.service,
      region: config.region,
      project: config.project,
    } as const;
  }

  /** The `userEnvVars` every workflow gets: the runtime env and the URL of each platform HTTP function. */
  workflowEnv(config: StackConfig): Record<string, pulumi.Input<string>> {
    const env: Record<string, pulumi.Input<string>> = {
      ...workflowEnv(this.runtimeEnv(config)),
      TESSERA_RUN_EVENTS_TOPIC: TOPICS.runEvents,
    };
    for (const [name, f] of this.functions)
      if (this.httpFunctions.has(name)) env[platformUrlKey(name)] = f.url;
    return env;
  }

  /**
   * What every workflow identity needs: call the platform's HTTP functions (the run ledger's claim/finish),
   * publish run events, and write its execution logs.
   */
  grantWorkflowBasics(grant: Grant, who: Principal, config: StackConfig): void {
    for (const name of this.httpFunctions)
      if (name !== CONSOLE_FUNCTION) grant(this.serviceTarget(name, config), "roles/run.invoker", who);
    grant(
      { kind: "topic", key: TOPICS.runEvents, topic: this.topics.get(TOPICS.runEvents)! },
      "roles/pubsub.publisher",
      who,
    );
    grant({ kind: "project", project: config.project }, "roles/logging.logWriter", who);
  }
}

function createTable(
  logical: string,
  t: TableDefinition,
  dataset: gcp.bigquery.Dataset,
  project: string,
  config: StackConfig,
  pipeline: string,
  parent: pulumi.Resource,
): gcp.bigquery.Table {
  const names = new Set(t.columns.map((c) => c.name));
  if (t.partitionBy && !names.has(t.partitionBy)) {
    throw new NonRetriableError(
      `table ${t.dataset}.${t.table} partitions by "${t.partitionBy}", which is not a column`,
      {
        field: `pipelines.${pipeline}.tables.partitionBy`,
        fix: "name a DATE or TIMESTAMP column",
      },
    );
  }
  for (const c of t.clusterBy ?? []) {
    if (!names.has(c)) {
      throw new NonRetriableError(`table ${t.dataset}.${t.table} clusters by "${c}", which is not a column`, {
        field: `pipelines.${pipeline}.tables.clusterBy`,
        fix: "name existing columns (at most four)",
      });
    }
  }
  return new gcp.bigquery.Table(
    logical,
    {
      project,
      datasetId: dataset.datasetId,
      tableId: t.table,
      description: t.description,
      schema: JSON.stringify(t.columns.map(bigQueryField)),
      timePartitioning: t.partitionBy ? { type: "DAY", field: t.partitionBy } : undefined,
      clusterings: t.clusterBy && t.clusterBy.length > 0 ? t.clusterBy : undefined,
      deletionProtection: config.deletionProtection,
      labels: { "tessera-pipeline": pipeline },
    },
    { parent },
  );
}

/** A registry column as a BigQuery schema field. */
export function bigQueryField(c: Column): Record<string, unknown> {
  return {
    name: c.name,
    type: c.type,
    mode: c.mode ?? "NULLABLE",
    ...(c.description ? { description: c.description } : {}),
    ...(c.fields ? { fields: c.fields.map(bigQueryField) } : {}),
  };
}

/** Workflows reject user env names starting with GOOGLE or WORKFLOWS; the project is `sys.get_env("GOOGLE_CLOUD_PROJECT_ID")`. */
export function workflowEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(([k]) => !k.startsWith("GOOGLE") && !k.startsWith("WORKFLOWS")),
  );
}
