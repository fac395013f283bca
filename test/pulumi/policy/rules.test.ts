import type {
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../../pulumi/plan.ts";
import {
  deadLetterAgentRights,
  deadLetterPolicy,
  dedicatedIdentities,
  jobRunnerIsOwningWorkflow,
  noBasicRoles,
  noProjectImpersonation,
  noProjectSecretAccess,
  noPublicPrincipals,
  noServiceAccountKeys,
  peopleBehindIap,
  policies,
} from "../../../pulumi/policy/rules.ts";
import { consoleConfig, consoleOptions, FIXTURES } from "../fixtures.ts";

/** Fabricated engine arguments: the rules only read `type`, `props`, `urn` and `name`. */
function resource(
  type: string,
  props: Record<string, any>,
  name = "r",
): PolicyResource & ResourceValidationArgs {
  const fake = {
    type,
    props,
    name,
    urn: `urn:pulumi:test::tessera::${type}::${name}`,
    opts: {} as any,
    dependencies: [],
    propertyDependencies: {},
    stackTags: new Map<string, string>(),
    isType: () => false,
    asType: () => undefined,
    getConfig: () => ({}) as any,
    notApplicable: () => undefined as never,
  };
  return fake as unknown as PolicyResource & ResourceValidationArgs;
}

async function violationsOf(
  policy: ResourceValidationPolicy,
  type: string,
  props: Record<string, any>,
): Promise<string[]> {
  const found: string[] = [];
  const validate = policy.validateResource;
  for (const v of Array.isArray(validate) ? validate : [validate!])
    await v(resource(type, props), (m) => found.push(m));
  return found;
}

async function stackViolations(
  policy: StackValidationPolicy,
  resources: PolicyResource[],
): Promise<string[]> {
  const found: string[] = [];
  const args = { resources, stackTags: new Map(), getConfig: () => ({}) } as unknown as StackValidationArgs;
  await policy.validateStack(args, (m) => found.push(m));
  return found;
}

const PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember";
const SA_EMAIL = "fx-daily-wf@p-123456.iam.gserviceaccount.com";

describe("tessera-no-basic-roles", () => {
  it.each([
    [PROJECT_MEMBER, { role: "roles/editor", member: "user:a@example.com" }, 1],
    [
      "gcp:storage/bucketIAMBinding:BucketIAMBinding",
      { role: "roles/owner", members: ["user:a@example.com", "group:g@example.com"] },
      2,
    ],
    [
      "gcp:projects/iAMPolicy:IAMPolicy",
      {
        policyData: JSON.stringify({ bindings: [{ role: "roles/viewer", members: ["user:a@example.com"] }] }),
      },
      1,
    ],
    [PROJECT_MEMBER, { role: "roles/bigquery.jobUser", member: `serviceAccount:${SA_EMAIL}` }, 0],
    ["gcp:storage/bucket:Bucket", { role: "roles/owner" }, 0],
  ])("%s %j -> %i violation(s)", async (type, props, n) => {
    expect(await violationsOf(noBasicRoles, type, props)).toHaveLength(n);
  });
});

describe("tessera-no-public-principals", () => {
  it.each([
    [
      "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
      { role: "roles/run.invoker", member: "allUsers" },
      1,
    ],
    [
      "gcp:storage/bucketIAMMember:BucketIAMMember",
      { role: "roles/storage.objectViewer", member: "allAuthenticatedUsers" },
      1,
    ],
    [
      "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
      { role: "roles/pubsub.publisher", members: ["domain:example.com", "allUsers"] },
      1,
    ],
    [
      "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
      { role: "roles/run.invoker", member: "domain:example.com" },
      0,
    ],
    [
      "gcp:iap/webBackendServiceIamMember:WebBackendServiceIamMember",
      { role: "roles/iap.httpsResourceAccessor", member: "principalSet://goog/public:all" },
      1,
    ],
    [
      "gcp:iap/webBackendServiceIamMember:WebBackendServiceIamMember",
      { role: "roles/iap.httpsResourceAccessor", member: "domain:example.com" },
      0,
    ],
  ])("%s %j -> %i violation(s)", async (type, props, n) => {
    expect(await violationsOf(noPublicPrincipals, type, props)).toHaveLength(n);
  });
});

describe("tessera-no-project-impersonation", () => {
  it.each([
    [PROJECT_MEMBER, { role: "roles/iam.serviceAccountUser", member: `serviceAccount:${SA_EMAIL}` }, 1],
    [
      "gcp:projects/iAMBinding:IAMBinding",
      { role: "roles/iam.serviceAccountTokenCreator", members: ["user:a@example.com"] },
      1,
    ],
    [
      "gcp:serviceaccount/iAMMember:IAMMember",
      { role: "roles/iam.serviceAccountUser", member: `serviceAccount:${SA_EMAIL}` },
      0,
    ],
    [PROJECT_MEMBER, { role: "roles/workflows.invoker", member: `serviceAccount:${SA_EMAIL}` }, 0],
  ])("%s %j -> %i violation(s)", async (type, props, n) => {
    expect(await violationsOf(noProjectImpersonation, type, props)).toHaveLength(n);
  });
});

describe("tessera-no-project-secret-access", () => {
  it.each([
    [PROJECT_MEMBER, { role: "roles/secretmanager.secretAccessor", member: `serviceAccount:${SA_EMAIL}` }, 1],
    [
      PROJECT_MEMBER,
      { role: "roles/secretmanager.secretVersionAdder", member: `serviceAccount:${SA_EMAIL}` },
      1,
    ],
    [
      "gcp:secretmanager/secretIamMember:SecretIamMember",
      { role: "roles/secretmanager.secretAccessor", member: `serviceAccount:${SA_EMAIL}` },
      0,
    ],
    [
      "gcp:secretmanager/secretIamMember:SecretIamMember",
      { role: "roles/secretmanager.secretVersionAdder", member: `serviceAccount:${SA_EMAIL}` },
      0,
    ],
  ])("%s %j -> %i violation(s)", async (type, props, n) => {
    expect(await violationsOf(noProjectSecretAccess, type, props)).toHaveLength(n);
  });
});

describe("tessera-dedicated-identities", () => {
  const job = (sa?: string) => ({ template: { template: { serviceAccount: sa } } });
  it.each([
    ["gcp:cloudrunv2/job:Job", job(), 1],
    ["gcp:cloudrunv2/job:Job", job("123456789012-compute@developer.gserviceaccount.com"), 1],
    ["gcp:cloudrunv2/job:Job", job(SA_EMAIL), 0],
    ["gcp:cloudfunctionsv2/function:Function", { serviceConfig: {} }, 1],
    [
      "gcp:cloudfunctionsv2/function:Function",
      { serviceConfig: { serviceAccountEmail: "p-123456@appspot.gserviceaccount.com" } },
      1,
    ],
    ["gcp:cloudfunctionsv2/function:Function", { serviceConfig: { serviceAccountEmail: SA_EMAIL } }, 0],
    ["gcp:workflows/workflow:Workflow", {}, 1],
    [
      "gcp:workflows/workflow:Workflow",
      { serviceAccount: "projects/p-123456/serviceAccounts/1-compute@developer.gserviceaccount.com" },
      1,
    ],
    ["gcp:workflows/workflow:Workflow", { serviceAccount: SA_EMAIL }, 0],
    ["gcp:storage/bucket:Bucket", {}, 0],
  ])("%s %j -> %i violation(s)", async (type, props, n) => {
    expect(await violationsOf(dedicatedIdentities, type, props)).toHaveLength(n);
  });
});

describe("tessera-no-service-account-keys", () => {
  it("rejects a key and nothing else", async () => {
    expect(
      await violationsOf(noServiceAccountKeys, "gcp:serviceaccount/key:Key", { serviceAccountId: "x" }),
    ).toHaveLength(1);
    expect(
      await violationsOf(noServiceAccountKeys, "gcp:serviceaccount/account:Account", { accountId: "x" }),
    ).toHaveLength(0);
  });
});

describe("tessera-dead-letter-policy", () => {
  const SUB = "gcp:pubsub/subscription:Subscription";
  it.each([
    [{ topic: "t" }, 1],
    [{ topic: "t", deadLetterPolicy: { deadLetterTopic: "projects/p/topics/dl" } }, 1],
    [
      { topic: "t", deadLetterPolicy: { deadLetterTopic: "projects/p/topics/dl", maxDeliveryAttempts: 5 } },
      0,
    ],
    [{ topic: "dl", labels: { "tessera-dead-letter-sink": "true" } }, 0],
  ])("%j -> %i violation(s)", async (props, n) => {
    expect(await violationsOf(deadLetterPolicy, SUB, props)).toHaveLength(n);
  });
});

describe("tessera-dead-letter-agent (stack)", () => {
  const AGENT = "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com";
  const sub = resource("gcp:pubsub/subscription:Subscription", {
    name: "fn-push",
    deadLetterPolicy: { deadLetterTopic: "projects/p/topics/dl", maxDeliveryAttempts: 5 },
  });
  const publisher = resource("gcp:pubsub/topicIAMMember:TopicIAMMember", {
    topic: "dl",
    role: "roles/pubsub.publisher",
    member: AGENT,
  });
  const subscriber = resource("gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", {
    subscription: "fn-push",
    role: "roles/pubsub.subscriber",
    member: AGENT,
  });
  it("passes when the agent may publish to the dead-letter topic and subscribe to the source", async () => {
    expect(await stackViolations(deadLetterAgentRights, [sub, publisher, subscriber])).toEqual([]);
  });
  it("reports each missing right", async () => {
    expect(await stackViolations(deadLetterAgentRights, [sub, subscriber])).toHaveLength(1);
    expect(await stackViolations(deadLetterAgentRights, [sub, publisher])).toHaveLength(1);
    const wrongMember = resource("gcp:pubsub/topicIAMMember:TopicIAMMember", {
      topic: "dl",
      role: "roles/pubsub.publisher",
      member: `serviceAccount:${SA_EMAIL}`,
    });
    expect(await stackViolations(deadLetterAgentRights, [sub, wrongMember, subscriber])).toHaveLength(1);
  });
});

describe("tessera-job-runner-is-owning-workflow (stack)", () => {
  const job = resource("gcp:cloudrunv2/job:Job", {
    name: "fx-daily-aggregate",
    labels: { "tessera-pipeline": "fx-daily" },
  });
  const workflow = resource("gcp:workflows/workflow:Workflow", {
    name: "fx-daily",
    serviceAccount: SA_EMAIL,
    labels: { "tessera-pipeline": "fx-daily" },
  });
  const other = resource("gcp:workflows/workflow:Workflow", {
    name: "fx-models",
    serviceAccount: "fx-models-wf@p-123456.iam.gserviceaccount.com",
    labels: { "tessera-pipeline": "fx-models" },
  });
  const grant = (member: string, role = "roles/run.jobsExecutorWithOverrides", name = "fx-daily-aggregate") =>
    resource("gcp:cloudrunv2/jobIamMember:JobIamMember", { name, role, member });
  it("passes for the owning workflow's account", async () => {
    expect(
      await stackViolations(jobRunnerIsOwningWorkflow, [
        job,
        workflow,
        other,
        grant(`serviceAccount:${SA_EMAIL}`),
      ]),
    ).toEqual([]);
  });
  it("rejects another pipeline's workflow, a person, and an unknown job", async () => {
    expect(
      await stackViolations(jobRunnerIsOwningWorkflow, [
        job,
        workflow,
        other,
        grant("serviceAccount:fx-models-wf@p-123456.iam.gserviceaccount.com"),
      ]),
    ).toHaveLength(1);
    expect(
      await stackViolations(jobRunnerIsOwningWorkflow, [
        job,
        workflow,
        grant("user:a@example.com", "roles/run.developer"),
      ]),
    ).toHaveLength(1);
    expect(
      await stackViolations(jobRunnerIsOwningWorkflow, [
        job,
        workflow,
        grant(`serviceAccount:${SA_EMAIL}`, "roles/run.invoker", "elsewhere"),
      ]),
    ).toHaveLength(1);
  });
  it("ignores non-run roles on a job", async () => {
    expect(
      await stackViolations(jobRunnerIsOwningWorkflow, [
        job,
        workflow,
        grant("user:a@example.com", "roles/logging.viewer"),
      ]),
    ).toEqual([]);
  });
});

describe("tessera-people-behind-iap", () => {
  const fn = (ingressSettings?: string) => ({
    name: "f",
    serviceConfig: { serviceAccountEmail: "f@p.iam.gserviceaccount.com", ingressSettings },
  });
  it("passes internal functions, a GCLB-only function, an IAP backend and an IAP or internal service", async () => {
    const type = "gcp:cloudfunctionsv2/function:Function";
    expect(await violationsOf(peopleBehindIap, type, fn("ALLOW_INTERNAL_ONLY"))).toEqual([]);
    expect(await violationsOf(peopleBehindIap, type, fn("ALLOW_INTERNAL_AND_GCLB"))).toEqual([]);
    expect(
      await violationsOf(peopleBehindIap, "gcp:compute/backendService:BackendService", {
        name: "b",
        loadBalancingScheme: "EXTERNAL_MANAGED",
        iap: { enabled: true },
      }),
    ).toEqual([]);
    expect(
      await violationsOf(peopleBehindIap, "gcp:compute/backendService:BackendService", {
        name: "internal",
        loadBalancingScheme: "INTERNAL_MANAGED",
      }),
    ).toEqual([]);
    const svc = "gcp:cloudrunv2/service:Service";
    expect(await violationsOf(peopleBehindIap, svc, { iapEnabled: true })).toEqual([]);
    expect(await violationsOf(peopleBehindIap, svc, { ingress: "INGRESS_TRAFFIC_INTERNAL_ONLY" })).toEqual(
      [],
    );
  });
  it("rejects a function open to all (explicitly or by default), an external backend without IAP, an open service", async () => {
    const type = "gcp:cloudfunctionsv2/function:Function";
    expect(await violationsOf(peopleBehindIap, type, fn("ALLOW_ALL"))).toEqual([
      expect.stringMatching(/^ingress ALLOW_ALL lets the internet call the function/),
    ]);
    expect(await violationsOf(peopleBehindIap, type, fn(undefined))).toEqual([
      expect.stringMatching(/^ingress \(default: ALLOW_ALL\)/),
    ]);
    expect(
      await violationsOf(peopleBehindIap, "gcp:compute/backendService:BackendService", {
        name: "b",
        loadBalancingScheme: "EXTERNAL_MANAGED",
        iap: { enabled: false },
      }),
    ).toEqual(["external backend service b without IAP: set iap.enabled"]);
    expect(await violationsOf(peopleBehindIap, "gcp:cloudrunv2/service:Service", {})).toEqual([
      expect.stringMatching(/without IAP/),
    ]);
  });
});

describe("the whole planned stack passes every policy", () => {
  let planned: PlannedResource[];
  beforeAll(async () => {
    const { planResources } = await import("../../../pulumi/plan.ts");
    // The plan with the console behind IAP: every rule must hold for it too.
    planned = (await planResources(consoleConfig, FIXTURES, consoleOptions)).resources;
    expect(planned.some((r) => r.type === "gcp:compute/backendService:BackendService")).toBe(true);
  }, 120_000);

  async function allViolations(resources: PlannedResource[]): Promise<string[]> {
    const found: string[] = [];
    const as = resources.map((r) => resource(r.type, r.inputs, r.name));
    for (const p of policies) {
      if ("validateStack" in p)
        await p.validateStack({ resources: as, stackTags: new Map(), getConfig: () => ({}) } as any, (m) =>
          found.push(`${p.name}: ${m}`),
        );
      else
        for (const r of as)
          await violationsOf(p, r.type, r.props).then((v) => found.push(...v.map((m) => `${p.name}: ${m}`)));
    }
    return found;
  }

  it("has no violation", async () => {
    expect(await allViolations(planned)).toEqual([]);
  });

  it("reports a public IAP accessor added to the plan", async () => {
    const bad = [
      ...planned,
      {
        type: "gcp:iap/webBackendServiceIamMember:WebBackendServiceIamMember",
        name: "oops-iap",
        inputs: {
          webBackendService: "tessera-console",
          role: "roles/iap.httpsResourceAccessor",
          member: "allAuthenticatedUsers",
        },
      },
    ];
    expect(await allViolations(bad)).toEqual([
      expect.stringMatching(
        /^tessera-no-public-principals: roles\/iap.httpsResourceAccessor granted to allAuthenticatedUsers/,
      ),
    ]);
  });

  it("reports a public invoker added to the plan", async () => {
    const bad = [
      ...planned,
      {
        type: "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        name: "oops",
        inputs: { name: "tessera-runs", role: "roles/run.invoker", member: "allUsers" },
      },
    ];
    expect(await allViolations(bad)).toEqual([
      expect.stringMatching(/^tessera-no-public-principals: roles\/run.invoker granted to allUsers/),
    ]);
  });
});
