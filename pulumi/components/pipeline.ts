import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { TOPICS } from "../../shared/pipelines/platform.ts";
import type { PipelineDefinition } from "../../shared/pipelines/types.ts";
import type { StackConfig } from "../config.ts";
import { type DeployedFunction, deployFunction } from "./function.ts";
import { createGrant, prefixCondition, saPrincipal } from "./iam.ts";
import { accountId, envName, imageUri } from "./names.ts";
import type { Platform } from "./platform.ts";

export interface PipelineArgs {
  config: StackConfig;
  definition: PipelineDefinition;
  platform: Platform;
  /** Repository root: `workflows-yaml/<file>` is read from here. */
  root: string;
  /** Where `dist/functions/<source>/` bundles live. */
  bundlesDir: string;
}

/** The env variable a job secret is exposed as: `snowflake-private-key` -> `SNOWFLAKE_PRIVATE_KEY`. */
export const secretEnvName = envName;

/** The workflow's `userEnvVars` key holding a job's deployed name: `TESSERA_JOB_<JOB>`. */
export const jobEnvKey = (job: string) => `TESSERA_JOB_${envName(job)}`;
/** The workflow's `userEnvVars` key holding a function's URL: `TESSERA_FUNCTION_<FUNCTION>_URL`. */
export const functionEnvKey = (fn: string) => `TESSERA_FUNCTION_${envName(fn)}_URL`;

/** The deployed workflow id: the workflow file's name without `.workflows.yaml` (as shared/ops resolves it). */
export const workflowIdOf = (file: string) => file.replace(/\.workflows\.yaml$/, "");

/** The data a schedule's Cloud Scheduler job publishes to the schedule-ticks topic (a v1 `ScheduleTick`). */
export function scheduleTick(
  pipeline: string,
  schedule: { name: string; params?: Record<string, unknown> },
): Record<string, unknown> {
  return { pipeline, schedule: schedule.name, ...(schedule.params ? { params: schedule.params } : {}) };
}

/**
 * One registered pipeline: a service account per role (functions, workflow, jobs; a role with nothing to
 * run gets none), its Cloud Run Jobs, functions, workflow and schedules, and the exact grants between them:
 * the workflow runs only its own jobs and invokes only its own functions; the jobs read and write only their
 * own tables and prefixes; secrets are granted on the secret.
 */
export class Pipeline extends pulumi.ComponentResource {
  readonly workflow: gcp.workflows.Workflow;
  readonly jobs = new Map<string, gcp.cloudrunv2.Job>();
  readonly functions = new Map<string, DeployedFunction>();
  readonly schedulerJobs: gcp.cloudscheduler.Job[] = [];

  constructor(name: string, args: PipelineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tessera:pipeline:Pipeline", name, {}, opts);
    const { config, definition: def, platform } = args;
    const { project, region } = config;
    const id = def.id;
    const child = { parent: this };
    const grant = createGrant(name, this);
    const labels = { "tessera-pipeline": id };
    const projectTarget = { kind: "project", project } as const;

    const account = (role: string, what: string) =>
      new gcp.serviceaccount.Account(
        `${name}-${role}-sa`,
        {
          project,
          accountId: accountId(id, role),
          displayName: `${id} ${what}`,
          description: `Tessera pipeline ${id}: ${what}`,
        },
        child,
      );
    const wfSa = account("wf", "workflow");
    const wf = saPrincipal("wf-sa", wfSa);
    const jobSa = def.jobs.length > 0 ? account("job", "Cloud Run jobs") : undefined;
    const fnSa = def.functions.length > 0 ? account("fn", "functions") : undefined;

    const secretOf = (s: string, field: string) => {
      const secret = platform.secrets.get(s);
      if (!secret || !def.secrets.includes(s)) {
        throw new NonRetriableError(`pipeline "${id}" uses secret "${s}" that it does not declare`, {
          field,
          fix: `add "${s}" to the pipeline's secrets`,
        });
      }
      return secret;
    };
    const runtimeEnv = { ...platform.runtimeEnv(config), TESSERA_PIPELINE: id };
    const prefixTarget = (p: PipelineDefinition["prefixes"][number]) => {
      const title = `${p.bucket}-${p.prefix.replace(/\/$/, "").replace(/[^A-Za-z0-9]+/g, "-")}`;
      const condition = prefixCondition(platform.bucketNames[p.bucket], p.prefix, title);
      return { kind: "bucket", key: p.bucket, bucket: platform.buckets[p.bucket], condition } as const;
    };

    // Jobs ------------------------------------------------------------------------------------------------
    if (jobSa) {
      const who = saPrincipal("job-sa", jobSa);
      for (const j of def.jobs) {
        const jobName = `${id}-${j.name}`;
        const secrets = (j.secrets ?? []).map((s) => ({
          name: s,
          secret: secretOf(s, `jobs.${j.name}.secrets`),
        }));
        const job = new gcp.cloudrunv2.Job(
          `${name}-job-${j.name}`,
          {
            project,
            location: region,
            name: jobName,
            labels: { ...labels, "tessera-job": j.name },
            deletionProtection: config.deletionProtection,
            template: {
              taskCount: j.taskCount,
              parallelism: j.parallelism,
              labels,
              template: {
                serviceAccount: jobSa.email,
                timeout: `${j.timeoutSeconds}s`,
                maxRetries: j.maxRetries,
                containers: [
                  {
                    image: imageUri(region, project, config.namePrefix, j.image, config.imageTag),
                    commands: ["node", ...(j.nodeFlags ?? []), `/app/${jobName}/index.js`],
                    resources: { limits: { cpu: j.cpu, memory: j.memory } },
                    envs: [
                      ...Object.entries({ ...runtimeEnv, ...(j.env ?? {}) }).map(([k, value]) => ({
                        name: k,
                        value,
                      })),
                      ...secrets.map((s) => ({
                        name: secretEnvName(s.name),
                        valueSource: { secretKeyRef: { secret: s.secret.secretId, version: "latest" } },
                      })),
                    ],
                  },
                ],
              },
            },
          },
          child,
        );
        this.jobs.set(j.name, job);
        // Runs with overrides (args/env/task count per partition) but cannot change or delete the job.
        grant({ kind: "job", key: j.name, job, region }, "roles/run.jobsExecutorWithOverrides", wf);
        for (const s of secrets)
          grant({ kind: "secret", key: s.name, secret: s.secret }, "roles/secretmanager.secretAccessor", who);
      }
      for (const t of def.tables) {
        const table = platform.tables.get(`${t.dataset}.${t.table}`)!;
        grant({ kind: "table", key: `${t.dataset}.${t.table}`, table }, "roles/bigquery.dataEditor", who);
      }
      // Bigtable: the pipeline's own wide tables, with their families and GC rules; the jobs may read and write
      // those tables only.
      for (const w of def.wideTables ?? []) {
        const table = new gcp.bigtable.Table(
          `${name}-bt-${w.table}`,
          {
            project,
            instanceName: platform.bigtable.name,
            name: w.table,
            columnFamilies: w.families.map((f) => ({ family: f.name })),
          },
          child,
        );
        for (const f of w.families) {
          if (!f.gc) continue;
          new gcp.bigtable.GCPolicy(
            `${name}-bt-${w.table}-${f.name}-gc`,
            {
              project,
              instanceName: platform.bigtable.name,
              table: table.name,
              columnFamily: f.name,
              mode:
                f.gc.maxAgeSeconds !== undefined && f.gc.maxVersions !== undefined
                  ? (f.gc.mode ?? "intersection").toUpperCase()
                  : undefined,
              maxAge: f.gc.maxAgeSeconds !== undefined ? { duration: `${f.gc.maxAgeSeconds}s` } : undefined,
              maxVersions: f.gc.maxVersions !== undefined ? [{ number: f.gc.maxVersions }] : undefined,
            },
            child,
          );
        }
        grant({ kind: "widetable", key: w.table, table }, "roles/bigtable.user", who);
      }
      // Running a query or load job is a project permission; which tables it touches is decided above.
      if (def.tables.length > 0) grant(projectTarget, "roles/bigquery.jobUser", who);
      for (const p of def.prefixes) grant(prefixTarget(p), "roles/storage.objectUser", who);
    }

    // Functions -------------------------------------------------------------------------------------------
    if (fnSa) {
      const who = saPrincipal("fn-sa", fnSa);
      // Functions serve a pipeline's requests and status: they may read what its jobs wrote, not change it.
      for (const p of def.prefixes) grant(prefixTarget(p), "roles/storage.objectViewer", who);
      // ...except the prefixes a function declares it writes (a request queue), and the topics it publishes to.
      for (const f of def.functions) {
        for (const w of f.writes ?? []) {
          const p = def.prefixes.find((q) => q.prefix === w);
          if (!p) {
            throw new NonRetriableError(
              `pipeline "${id}": function "${f.name}" writes "${w}", not one of its prefixes`,
              {
                field: `functions.${f.name}.writes`,
                fix: `add { bucket, prefix: "${w}" } to the pipeline's prefixes, or name one of them`,
              },
            );
          }
          grant(prefixTarget(p), "roles/storage.objectUser", who);
        }
        for (const t of f.publishes ?? []) {
          const topic = platform.topicFor(t, `functions.${f.name}.publishes`);
          grant({ kind: "topic", key: t, topic }, "roles/pubsub.publisher", who);
        }
      }
      for (const f of def.functions) {
        const fnName = `${id}-${f.name}`;
        const secrets = (f.secrets ?? []).map((s) => ({
          name: s,
          envName: secretEnvName(s),
          secret: secretOf(s, `functions.${f.name}.secrets`),
        }));
        const trigger =
          f.trigger.kind === "topic"
            ? platform.topicFor(f.trigger.topic, `functions.${f.name}.trigger.topic`)
            : undefined;
        const deployed = deployFunction(
          `${name}-fn-${f.name}`,
          {
            name: fnName,
            bundleDir: join(args.bundlesDir, f.source),
            target: f.target,
            project,
            region,
            serviceAccount: fnSa,
            sourcesBucket: platform.buckets.sources,
            memory: f.memory ?? config.sizes.functionMemory,
            timeoutSeconds: f.timeoutSeconds ?? config.sizes.functionTimeoutSeconds,
            maxInstances: f.maxInstances ?? config.sizes.functionMaxInstances,
            ingress: "ALLOW_INTERNAL_ONLY",
            env: runtimeEnv,
            secrets,
            labels: { ...labels, "tessera-function": f.name },
            trigger: trigger && {
              topic: trigger,
              topicName: (f.trigger as { topic: string }).topic,
              deadLetterTopic: platform.deadLetterTopic,
              maxDeliveryAttempts: config.sizes.maxDeliveryAttempts,
            },
          },
          this,
        );
        this.functions.set(f.name, deployed);
        const service = { kind: "service", key: fnName, service: deployed.service, region, project } as const;
        grant(service, "roles/run.invoker", wf);
        if (deployed.subscription) {
          grant(service, "roles/run.invoker", who);
          grant(
            { kind: "subscription", key: `${fnName}-push`, subscription: deployed.subscription },
            "roles/pubsub.subscriber",
            platform.pubsubAgent,
          );
        }
        for (const s of secrets)
          grant({ kind: "secret", key: s.name, secret: s.secret }, "roles/secretmanager.secretAccessor", who);
      }
    }

    // Workflow --------------------------------------------------------------------------------------------
    const file = join(args.root, "workflows-yaml", def.workflow);
    if (!existsSync(file)) {
      throw new NonRetriableError(`pipeline "${id}": workflows-yaml/${def.workflow} does not exist`, {
        field: `pipelines.${id}.workflow`,
        fix: "add the workflow file or correct the registry's workflow name",
      });
    }
    const userEnvVars: Record<string, pulumi.Input<string>> = {
      ...platform.workflowEnv(config),
      TESSERA_PIPELINE: id,
    };
    for (const [jobName, job] of this.jobs) userEnvVars[jobEnvKey(jobName)] = job.name;
    for (const [fnName, fn] of this.functions) userEnvVars[functionEnvKey(fnName)] = fn.url;
    this.workflow = new gcp.workflows.Workflow(
      `${name}-workflow`,
      {
        project,
        region,
        name: workflowIdOf(def.workflow),
        description: def.title,
        serviceAccount: wfSa.email,
        sourceContents: readFileSync(file, "utf8"),
        userEnvVars,
        callLogLevel: "LOG_ERRORS_ONLY",
        deletionProtection: config.deletionProtection,
        labels,
      },
      child,
    );
    platform.grantWorkflowBasics(grant, wf, config);

    // Schedules -------------------------------------------------------------------------------------------
    const ticks = platform.topics.get(TOPICS.scheduleTicks)!;
    for (const s of def.schedules) {
      const data = Buffer.from(JSON.stringify(scheduleTick(id, s))).toString("base64");
      this.schedulerJobs.push(
        new gcp.cloudscheduler.Job(
          `${name}-schedule-${s.name}`,
          {
            project,
            region,
            name: `${id}-${s.name}`,
            description: `${def.title}: ${s.name} tick`,
            schedule: s.cron,
            timeZone: s.timeZone || config.scheduleTimeZone,
            pubsubTarget: { topicName: ticks.id, data, attributes: { pipeline: id, schedule: s.name } },
            retryConfig: { retryCount: 3, minBackoffDuration: "30s", maxBackoffDuration: "600s" },
          },
          child,
        ),
      );
    }

    this.registerOutputs({
      workflow: this.workflow.name,
      jobs: [...this.jobs.keys()],
      functions: [...this.functions.keys()],
    });
  }
}
