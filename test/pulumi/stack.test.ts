import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan, PlannedResource } from "../../pulumi/plan.ts";
import { MALLOC_TUNABLES } from "../../shared/runtime/malloc.ts";
import { FIXTURE_ROOT, FIXTURES, fixtureConfig, fixtureOptions, fxDaily } from "./fixtures.ts";
import { grantRows } from "./grants.ts";

// The program is imported only after pulumi.runtime.setMocks has run (planResources does both, in order).
let plan: Plan;
let resources: PlannedResource[];
const ofType = (type: string) => resources.filter((r) => r.type === type);
const byName = (type: string, name: string) => {
  const r = ofType(type).find((x) => x.inputs.name === name);
  if (!r) throw new Error(`no ${type} named ${name}`);
  return r;
};
const SA = (id: string) => `${id}@tessera-test-01.iam.gserviceaccount.com`;
const AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com";

beforeAll(async () => {
  const { planResources } = await import("../../pulumi/plan.ts");
  plan = await planResources(fixtureConfig, FIXTURES, fixtureOptions);
  resources = plan.resources;
}, 120_000);

describe("IAM grants, pinned per pipeline (a new grant must show up here)", () => {
  it("fx-daily: the workflow runs its one job; the job SA owns its table, prefix and secret", () => {
    expect(grantRows(resources, "fx-daily")).toEqual([
      {
        role: "roles/storage.objectUser",
        member: "serviceAccount:fx-daily-job@",
        resource: "bucket:tessera-test-01-tessera-data [data-fx-daily]",
      },
      {
        role: "roles/run.jobsExecutorWithOverrides",
        member: "serviceAccount:fx-daily-wf@",
        resource: "job:fx-daily-aggregate",
      },
      {
        role: "roles/bigquery.jobUser",
        member: "serviceAccount:fx-daily-job@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/logging.logWriter",
        member: "serviceAccount:fx-daily-wf@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/secretmanager.secretAccessor",
        member: "serviceAccount:fx-daily-job@",
        resource: "secret:postgres-dsn",
      },
      { role: "roles/run.invoker", member: "serviceAccount:fx-daily-wf@", resource: "service:tessera-runs" },
      {
        role: "roles/bigquery.dataEditor",
        member: "serviceAccount:fx-daily-job@",
        resource: "table:fx_mart.daily_totals",
      },
      {
        role: "roles/pubsub.publisher",
        member: "serviceAccount:fx-daily-wf@",
        resource: "topic:tessera-run-events",
      },
    ]);
  });

  it("fx-models: two jobs, an HTTP and a topic-triggered function, two datasets, two prefixes", () => {
    expect(grantRows(resources, "fx-models")).toEqual([
      {
        role: "roles/storage.objectUser",
        member: "serviceAccount:fx-models-job@",
        resource: "bucket:tessera-test-01-tessera-artifacts [artifacts-fx-models]",
      },
      {
        role: "roles/storage.objectViewer",
        member: "serviceAccount:fx-models-fn@",
        resource: "bucket:tessera-test-01-tessera-artifacts [artifacts-fx-models]",
      },
      // The API function writes its request queue (functions.api.writes); it only reads the other prefix.
      {
        role: "roles/storage.objectUser",
        member: "serviceAccount:fx-models-fn@",
        resource: "bucket:tessera-test-01-tessera-data [data-fx-models-inputs]",
      },
      {
        role: "roles/storage.objectUser",
        member: "serviceAccount:fx-models-job@",
        resource: "bucket:tessera-test-01-tessera-data [data-fx-models-inputs]",
      },
      {
        role: "roles/storage.objectViewer",
        member: "serviceAccount:fx-models-fn@",
        resource: "bucket:tessera-test-01-tessera-data [data-fx-models-inputs]",
      },
      {
        role: "roles/run.jobsExecutorWithOverrides",
        member: "serviceAccount:fx-models-wf@",
        resource: "job:fx-models-search",
      },
      {
        role: "roles/run.jobsExecutorWithOverrides",
        member: "serviceAccount:fx-models-wf@",
        resource: "job:fx-models-summarize",
      },
      {
        role: "roles/bigquery.jobUser",
        member: "serviceAccount:fx-models-job@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/logging.logWriter",
        member: "serviceAccount:fx-models-wf@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/secretmanager.secretAccessor",
        member: "serviceAccount:fx-models-fn@",
        resource: "secret:snowflake-private-key",
      },
      {
        role: "roles/secretmanager.secretAccessor",
        member: "serviceAccount:fx-models-job@",
        resource: "secret:snowflake-private-key",
      },
      {
        role: "roles/run.invoker",
        member: "serviceAccount:fx-models-wf@",
        resource: "service:fx-models-api",
      },
      {
        role: "roles/run.invoker",
        member: "serviceAccount:fx-models-fn@",
        resource: "service:fx-models-intake",
      },
      {
        role: "roles/run.invoker",
        member: "serviceAccount:fx-models-wf@",
        resource: "service:fx-models-intake",
      },
      { role: "roles/run.invoker", member: "serviceAccount:fx-models-wf@", resource: "service:tessera-runs" },
      { role: "roles/pubsub.subscriber", member: AGENT, resource: "subscription:fx-models-intake-push" },
      {
        role: "roles/bigquery.dataEditor",
        member: "serviceAccount:fx-models-job@",
        resource: "table:fx_mart.model_summary",
      },
      {
        role: "roles/bigquery.dataEditor",
        member: "serviceAccount:fx-models-job@",
        resource: "table:fx_models.trials",
      },
      // functions.api.publishes
      {
        role: "roles/pubsub.publisher",
        member: "serviceAccount:fx-models-fn@",
        resource: "topic:fx-models-requests",
      },
      {
        role: "roles/pubsub.publisher",
        member: "serviceAccount:fx-models-wf@",
        resource: "topic:tessera-run-events",
      },
    ]);
  });

  it("platform: dispatch/backfill/runs keep the ledger; the Pub/Sub agent may dead-letter", () => {
    expect(grantRows(resources, "tessera")).toEqual([
      {
        role: "roles/storage.objectUser",
        member: "serviceAccount:tessera-backfill@",
        resource: "bucket:tessera-test-01-tessera-state",
      },
      {
        role: "roles/storage.objectUser",
        member: "serviceAccount:tessera-dispatch@",
        resource: "bucket:tessera-test-01-tessera-state",
      },
      {
        role: "roles/storage.objectUser",
        member: "serviceAccount:tessera-runs@",
        resource: "bucket:tessera-test-01-tessera-state",
      },
      {
        role: "roles/logging.logWriter",
        member: "serviceAccount:tessera-backfill-wf@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/workflows.invoker",
        member: "serviceAccount:tessera-backfill-wf@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/workflows.invoker",
        member: "serviceAccount:tessera-backfill@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/workflows.invoker",
        member: "serviceAccount:tessera-dispatch@",
        resource: "project:tessera-test-01",
      },
      {
        role: "roles/run.invoker",
        member: "serviceAccount:tessera-backfill@",
        resource: "service:tessera-backfill",
      },
      {
        role: "roles/run.invoker",
        member: "serviceAccount:tessera-dispatch@",
        resource: "service:tessera-dispatch",
      },
      {
        role: "roles/run.invoker",
        member: "serviceAccount:tessera-backfill-wf@",
        resource: "service:tessera-runs",
      },
      { role: "roles/pubsub.subscriber", member: AGENT, resource: "subscription:tessera-backfill-push" },
      { role: "roles/pubsub.subscriber", member: AGENT, resource: "subscription:tessera-dispatch-push" },
      { role: "roles/pubsub.publisher", member: AGENT, resource: "topic:tessera-dead-letters" },
      {
        role: "roles/pubsub.publisher",
        member: "serviceAccount:tessera-backfill-wf@",
        resource: "topic:tessera-run-events",
      },
      {
        role: "roles/pubsub.publisher",
        member: "serviceAccount:tessera-backfill@",
        resource: "topic:tessera-run-events",
      },
      {
        role: "roles/pubsub.publisher",
        member: "serviceAccount:tessera-dispatch@",
        resource: "topic:tessera-run-events",
      },
      {
        role: "roles/pubsub.publisher",
        member: "serviceAccount:tessera-runs@",
        resource: "topic:tessera-run-events",
      },
    ]);
  });

  it("every IAM resource of the plan is one of the pinned grants", () => {
    const pinned =
      grantRows(resources, "fx-daily").length +
      grantRows(resources, "fx-models").length +
      grantRows(resources, "tessera").length;
    expect(grantRows(resources).length).toBe(pinned);
  });

  it("prefix grants are conditioned on both the object name and the listing prefix", () => {
    const g = resources.find(
      (r) =>
        r.type === "gcp:storage/bucketIAMMember:BucketIAMMember" &&
        r.inputs.condition?.title === "data-fx-daily",
    );
    expect(g?.inputs.condition.expression).toBe(
      'resource.name.startsWith("projects/_/buckets/tessera-test-01-tessera-data/objects/fx-daily/") || ' +
        'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("fx-daily/")',
    );
  });
});

describe("least privilege across the plan", () => {
  it("grants nothing to allUsers or allAuthenticatedUsers, and no basic role", () => {
    const rows = grantRows(resources);
    expect(rows.filter((g) => /^(allUsers|allAuthenticatedUsers)$/.test(g.member))).toEqual([]);
    expect(rows.filter((g) => ["roles/owner", "roles/editor", "roles/viewer"].includes(g.role))).toEqual([]);
  });

  it("makes no service-account keys and no IAM bindings or policies (which would overwrite others' grants)", () => {
    expect(resources.filter((r) => r.type === "gcp:serviceaccount/key:Key")).toEqual([]);
    expect(resources.filter((r) => /iam(binding|policy)/i.test(r.type))).toEqual([]);
  });

  it("gives every job, function and workflow a dedicated identity per pipeline and role", () => {
    const identities = [
      ...ofType("gcp:cloudrunv2/job:Job").map((r) => ({
        what: `job ${r.inputs.name}`,
        sa: r.inputs.template.template.serviceAccount,
      })),
      ...ofType("gcp:cloudfunctionsv2/function:Function").map((r) => ({
        what: `function ${r.inputs.name}`,
        sa: r.inputs.serviceConfig.serviceAccountEmail,
      })),
      ...ofType("gcp:workflows/workflow:Workflow").map((r) => ({
        what: `workflow ${r.inputs.name}`,
        sa: r.inputs.serviceAccount,
      })),
    ];
    expect(identities.map((i) => [i.what, i.sa]).sort()).toEqual(
      [
        ["job fx-daily-aggregate", SA("fx-daily-job")],
        ["job fx-models-search", SA("fx-models-job")],
        ["job fx-models-summarize", SA("fx-models-job")],
        ["function fx-models-api", SA("fx-models-fn")],
        ["function fx-models-intake", SA("fx-models-fn")],
        ["function tessera-dispatch", SA("tessera-dispatch")],
        ["function tessera-backfill", SA("tessera-backfill")],
        ["function tessera-runs", SA("tessera-runs")],
        ["workflow fx-daily", SA("fx-daily-wf")],
        ["workflow fx-models", SA("fx-models-wf")],
        ["workflow backfill", SA("tessera-backfill-wf")],
      ].sort(),
    );
    for (const i of identities) expect(i.sa).not.toMatch(/-compute@developer\.gserviceaccount\.com$/);
    // A role's account is never reused by another role or pipeline.
    const kinds = new Map<string, Set<string>>();
    for (const i of identities) kinds.set(i.sa, new Set([...(kinds.get(i.sa) ?? []), i.what.split(" ")[0]]));
    for (const [sa, k] of kinds) expect([sa, k.size]).toEqual([sa, 1]);
    expect(ofType("gcp:serviceaccount/account:Account")).toHaveLength(
      new Set(identities.map((i) => i.sa)).size,
    );
  });

  it("keeps functions internal, on nodejs22, with a max instance count and bundle from the sources bucket", () => {
    for (const f of ofType("gcp:cloudfunctionsv2/function:Function")) {
      expect(f.inputs.buildConfig.runtime).toBe("nodejs22");
      expect(f.inputs.serviceConfig.ingressSettings).toBe("ALLOW_INTERNAL_ONLY");
      expect(f.inputs.serviceConfig.maxInstanceCount).toBeGreaterThan(0);
      // Instances start from the V8 code cache the bundle's gcp-build step filled (scripts/build.ts).
      expect(f.inputs.serviceConfig.environmentVariables.NODE_COMPILE_CACHE).toBe(
        "/workspace/.compile-cache",
      );
      // ... and with glibc's malloc settings (fewer page faults at a cold start: shared/runtime/malloc.ts).
      expect(f.inputs.serviceConfig.environmentVariables.GLIBC_TUNABLES).toBe(MALLOC_TUNABLES);
      expect(f.inputs.buildConfig.source.storageSource.bucket).toBe("tessera-test-01-tessera-sources");
      expect(f.inputs.buildConfig.source.storageSource.object).toMatch(
        new RegExp(`^functions/${f.inputs.name}-[a-z0-9]+\\.zip$`),
      );
    }
    const api = byName("gcp:cloudfunctionsv2/function:Function", "fx-models-api");
    expect([api.inputs.serviceConfig.maxInstanceCount, api.inputs.serviceConfig.availableMemory]).toEqual([
      3,
      "512Mi",
    ]);
    const intake = byName("gcp:cloudfunctionsv2/function:Function", "fx-models-intake");
    expect(intake.inputs.serviceConfig.secretEnvironmentVariables).toEqual([
      {
        key: "SNOWFLAKE_PRIVATE_KEY",
        projectId: "tessera-test-01",
        secret: "snowflake-private-key",
        version: "latest",
      },
    ]);
  });
});

describe("Pub/Sub delivery", () => {
  it("feeds each topic-triggered function through a push subscription with retry and dead-letter policies", () => {
    const subs = ofType("gcp:pubsub/subscription:Subscription");
    const pushed = subs.filter((s) => s.inputs.pushConfig);
    expect(
      pushed
        .map((s) => [s.inputs.name, s.inputs.topic, s.inputs.deadLetterPolicy.maxDeliveryAttempts])
        .sort(),
    ).toEqual([
      ["fx-models-intake-push", "projects/tessera-test-01/topics/fx-models-requests", 5],
      ["tessera-backfill-push", "projects/tessera-test-01/topics/tessera-backfill-requests", 7],
      ["tessera-dispatch-push", "projects/tessera-test-01/topics/tessera-schedule-ticks", 5],
    ]);
    for (const s of pushed) {
      expect(s.inputs.deadLetterPolicy.deadLetterTopic).toBe(
        "projects/tessera-test-01/topics/tessera-dead-letters",
      );
      expect(s.inputs.retryPolicy).toEqual({ minimumBackoff: "10s", maximumBackoff: "600s" });
      const fn = s.inputs.name.replace(/-push$/, "");
      const topic = s.inputs.topic.split("/").pop();
      expect(s.inputs.pushConfig.pushEndpoint).toBe(
        `https://${fn}-mock.a.run.app/projects/tessera-test-01/topics/${topic}`,
      );
      expect(s.inputs.pushConfig.oidcToken.serviceAccountEmail).toBe(
        byName("gcp:cloudfunctionsv2/function:Function", fn).inputs.serviceConfig.serviceAccountEmail,
      );
    }
  });

  it("gives every subscription a dead-letter policy except the dead-letter topic's own hold", () => {
    const without = ofType("gcp:pubsub/subscription:Subscription").filter((s) => !s.inputs.deadLetterPolicy);
    expect(
      without.map((s) => [s.inputs.name, s.inputs.topic, s.inputs.labels["tessera-dead-letter-sink"]]),
    ).toEqual([
      ["tessera-dead-letters-hold", "projects/tessera-test-01/topics/tessera-dead-letters", "true"],
    ]);
  });

  it("creates the platform topics and the pipelines' own", () => {
    expect(
      ofType("gcp:pubsub/topic:Topic")
        .map((t) => t.inputs.name)
        .sort(),
    ).toEqual(
      [
        "fx-models-requests",
        "tessera-backfill-requests",
        "tessera-dead-letters",
        "tessera-run-events",
        "tessera-schedule-ticks",
      ].sort(),
    );
  });
});

describe("schedules, workflows and jobs follow the registry", () => {
  it("publishes a tick per schedule to the schedule-ticks topic with the registry's cron and time zone", () => {
    const jobs = ofType("gcp:cloudscheduler/job:Job");
    expect(jobs.map((j) => j.inputs.name).sort()).toEqual(["fx-daily-daily", "fx-daily-weekly"]);
    for (const s of fxDaily.schedules) {
      const j = byName("gcp:cloudscheduler/job:Job", `fx-daily-${s.name}`);
      expect([j.inputs.schedule, j.inputs.timeZone, j.inputs.region]).toEqual([
        s.cron,
        s.timeZone,
        "europe-west1",
      ]);
      expect(j.inputs.pubsubTarget.topicName).toBe("projects/tessera-test-01/topics/tessera-schedule-ticks");
      const tick = JSON.parse(Buffer.from(j.inputs.pubsubTarget.data, "base64").toString("utf8"));
      expect(tick).toEqual({
        pipeline: "fx-daily",
        schedule: s.name,
        ...(s.params ? { params: s.params } : {}),
      });
    }
  });

  it("deploys each workflow's YAML exactly as it is on disk, with deployment values in userEnvVars", () => {
    for (const def of FIXTURES) {
      const wf = byName("gcp:workflows/workflow:Workflow", def.id);
      expect(wf.inputs.sourceContents).toBe(
        readFileSync(join(FIXTURE_ROOT, "workflows-yaml", def.workflow), "utf8"),
      );
    }
    const models = byName("gcp:workflows/workflow:Workflow", "fx-models").inputs.userEnvVars;
    expect(models).toEqual({
      TESSERA_MODE: "gcp",
      TESSERA_REGION: "europe-west1",
      TESSERA_DATA_BUCKET: "tessera-test-01-tessera-data",
      TESSERA_ARTIFACTS_BUCKET: "tessera-test-01-tessera-artifacts",
      TESSERA_STATE_BUCKET: "tessera-test-01-tessera-state",
      TESSERA_RUN_EVENTS_TOPIC: "tessera-run-events",
      TESSERA_RUNS_URL: "https://tessera-runs-mock.a.run.app",
      TESSERA_PIPELINE: "fx-models",
      TESSERA_JOB_SEARCH: "fx-models-search",
      TESSERA_JOB_SUMMARIZE: "fx-models-summarize",
      TESSERA_FUNCTION_API_URL: "https://fx-models-api-mock.a.run.app",
      TESSERA_FUNCTION_INTAKE_URL: "https://fx-models-intake-mock.a.run.app",
    });
    expect(Object.keys(models).some((k) => k.startsWith("GOOGLE") || k.startsWith("WORKFLOWS"))).toBe(false);
  });

  it("sets every Cloud Run Job exactly as the registry declares it", () => {
    // Node flags go on the command line before the bundle (the fixture's aggregate job has one).
    expect(FIXTURES.some((def) => def.jobs.some((j) => (j.nodeFlags ?? []).length > 0))).toBe(true);
    for (const def of FIXTURES) {
      for (const j of def.jobs) {
        const job = byName("gcp:cloudrunv2/job:Job", `${def.id}-${j.name}`).inputs;
        const container = job.template.template.containers[0];
        expect({
          taskCount: job.template.taskCount,
          parallelism: job.template.parallelism,
          timeout: job.template.template.timeout,
          maxRetries: job.template.template.maxRetries,
          cpu: container.resources.limits.cpu,
          memory: container.resources.limits.memory,
          image: container.image,
          commands: container.commands,
        }).toEqual({
          taskCount: j.taskCount,
          parallelism: j.parallelism,
          timeout: `${j.timeoutSeconds}s`,
          maxRetries: j.maxRetries,
          cpu: j.cpu,
          memory: j.memory,
          image: `europe-west1-docker.pkg.dev/tessera-test-01/tessera/${j.image}:v1`,
          commands: ["node", ...(j.nodeFlags ?? []), `/app/${def.id}-${j.name}/index.js`],
        });
        const env = Object.fromEntries(
          container.envs.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]),
        );
        for (const [k, v] of Object.entries(j.env ?? {})) expect(env[k]).toBe(v);
        expect(env.TESSERA_PIPELINE).toBe(def.id);
        expect(
          container.envs
            .filter((e: any) => e.valueSource)
            .map((e: any) => [e.name, e.valueSource.secretKeyRef.secret]),
        ).toEqual((j.secrets ?? []).map((s) => [s.toUpperCase().replace(/-/g, "_"), s]));
      }
    }
  });
});

describe("platform resources", () => {
  it("makes four private buckets, versioning only the state bucket, expiring temporary prefixes", () => {
    const buckets = ofType("gcp:storage/bucket:Bucket");
    expect(buckets.map((b) => b.inputs.name).sort()).toEqual(
      ["artifacts", "data", "sources", "state"].map((r) => `tessera-test-01-tessera-${r}`),
    );
    for (const b of buckets) {
      expect([b.inputs.name, b.inputs.uniformBucketLevelAccess, b.inputs.publicAccessPrevention]).toEqual([
        b.inputs.name,
        true,
        "enforced",
      ]);
      expect(b.inputs.versioning.enabled).toBe(b.inputs.name.endsWith("-state"));
    }
    const data = byName("gcp:storage/bucket:Bucket", "tessera-test-01-tessera-data");
    expect(data.inputs.lifecycleRules).toEqual([
      { action: { type: "Delete" }, condition: { age: 7, matchesPrefixes: ["tmp/"] } },
    ]);
  });

  it("creates the registry's tables with schema, day partitioning and clustering in their datasets", () => {
    expect(
      ofType("gcp:bigquery/dataset:Dataset")
        .map((d) => [d.inputs.datasetId, d.inputs.location])
        .sort(),
    ).toEqual([
      ["fx_mart", "EU"],
      ["fx_models", "EU"],
    ]);
    const t = ofType("gcp:bigquery/table:Table").find((x) => x.inputs.tableId === "daily_totals")!;
    expect(t.inputs.datasetId).toBe("fx_mart");
    expect(JSON.parse(t.inputs.schema)).toEqual([
      { name: "ds", type: "DATE", mode: "REQUIRED" },
      { name: "country", type: "STRING", mode: "NULLABLE" },
      { name: "total", type: "FLOAT64", mode: "NULLABLE" },
      {
        name: "detail",
        type: "RECORD",
        mode: "REPEATED",
        fields: [{ name: "k", type: "STRING", mode: "NULLABLE" }],
      },
    ]);
    expect([t.inputs.timePartitioning, t.inputs.clusterings, t.inputs.deletionProtection]).toEqual([
      { type: "DAY", field: "ds" },
      ["country"],
      true,
    ]);
  });

  it("creates the secrets without any value, the image repository and the Bigtable instance", () => {
    expect(
      ofType("gcp:secretmanager/secret:Secret")
        .map((s) => s.inputs.secretId)
        .sort(),
    ).toEqual(["postgres-dsn", "snowflake-private-key"]);
    expect(resources.filter((r) => r.type.startsWith("gcp:secretmanager/secretVersion"))).toEqual([]);
    expect(
      ofType("gcp:artifactregistry/repository:Repository").map((r) => [
        r.inputs.repositoryId,
        r.inputs.format,
      ]),
    ).toEqual([["tessera", "DOCKER"]]);
    expect(ofType("gcp:bigtable/instance:Instance").map((r) => r.inputs.clusters[0].numNodes)).toEqual([1]);
  });
});
