import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

/**
 * Tessera's least-privilege rules (specs/ecosystem-and-style.md, C4). Resource rules look at one resource's
 * inputs; stack rules join resources (a job's IAM grant to its pipeline's workflow). Rules match resource
 * type tokens as strings, so the pack and its tests load without the GCP provider SDK.
 *
 * At preview time an input computed from another resource may be unknown (undefined here); a rule only
 * reports what it can see.
 */

const BASIC_ROLES = new Set(["roles/owner", "roles/editor", "roles/viewer"]);
const PUBLIC_MEMBERS = new Set(["allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all"]);
const IMPERSONATION_ROLES = new Set(["roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"]);
const SECRET_ROLES = new Set([
  "roles/secretmanager.secretAccessor",
  "roles/secretmanager.admin",
  "roles/secretmanager.secretVersionAdder",
  "roles/secretmanager.secretVersionManager",
]);
const IAM_TYPE = /:[A-Za-z]*(IamMember|IAMMember|IamBinding|IAMBinding|IamPolicy|IAMPolicy)$/;
const HIERARCHY_IAM = /^gcp:(projects|folder|organizations)\/iAM(Member|Binding|Policy):/;

/** One (role, member) pair of an IAM resource: a member, each member of a binding, each pair of a policy. */
export interface IamPair {
  role: string;
  member: string;
}

export function iamPairs(type: string, props: Record<string, any>): IamPair[] {
  if (!IAM_TYPE.test(type)) return [];
  if (typeof props.policyData === "string") {
    try {
      const policy = JSON.parse(props.policyData) as { bindings?: { role: string; members?: string[] }[] };
      return (policy.bindings ?? []).flatMap((b) =>
        (b.members ?? []).map((member) => ({ role: b.role, member })),
      );
    } catch {
      return [];
    }
  }
  const members: string[] = props.member !== undefined ? [props.member] : (props.members ?? []);
  return members.filter((m) => typeof m === "string").map((member) => ({ role: props.role, member }));
}

export const isHierarchyIam = (type: string) => HIERARCHY_IAM.test(type);

const DEFAULT_IDENTITY = /(-compute@developer\.gserviceaccount\.com|@appspot\.gserviceaccount\.com)$/;

/** The service account a runnable resource runs as, or undefined when it names none. */
export function runtimeIdentity(
  type: string,
  props: Record<string, any>,
): { applies: boolean; account?: string } {
  switch (type) {
    case "gcp:cloudrunv2/job:Job":
      return { applies: true, account: props.template?.template?.serviceAccount };
    case "gcp:cloudrunv2/service:Service":
      return { applies: true, account: props.template?.serviceAccount };
    case "gcp:cloudfunctionsv2/function:Function":
      return { applies: true, account: props.serviceConfig?.serviceAccountEmail };
    case "gcp:workflows/workflow:Workflow":
      return { applies: true, account: props.serviceAccount };
    default:
      return { applies: false };
  }
}

/** `projects/p/serviceAccounts/x@y` or `serviceAccount:x@y` -> `x@y`. */
export function accountEmail(value: string): string {
  return value.replace(/^serviceAccount:/, "").replace(/^projects\/[^/]+\/serviceAccounts\//, "");
}

const lastSegment = (v: string) => v.split("/").pop() ?? v;

export const noBasicRoles: ResourceValidationPolicy = {
  name: "tessera-no-basic-roles",
  description: "No basic roles (owner, editor, viewer) on any resource.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    for (const p of iamPairs(args.type, args.props)) {
      if (BASIC_ROLES.has(p.role))
        report(`${p.role} granted to ${p.member}: use a predefined role on the specific resource`);
    }
  },
};

export const noPublicPrincipals: ResourceValidationPolicy = {
  name: "tessera-no-public-principals",
  description:
    "No grant to allUsers or allAuthenticatedUsers (functions, jobs, buckets, topics stay private).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    for (const p of iamPairs(args.type, args.props)) {
      if (PUBLIC_MEMBERS.has(p.member))
        report(`${p.role} granted to ${p.member}: nothing in Tessera is public`);
    }
  },
};

export const noProjectImpersonation: ResourceValidationPolicy = {
  name: "tessera-no-project-impersonation",
  description: "serviceAccountUser/TokenCreator only on a specific service account, never on the project.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (!isHierarchyIam(args.type)) return;
    for (const p of iamPairs(args.type, args.props)) {
      if (IMPERSONATION_ROLES.has(p.role)) {
        report(
          `${p.role} for ${p.member} at project level lets it act as every service account: grant it on one account (gcp.serviceaccount.IAMMember)`,
        );
      }
    }
  },
};

export const noProjectSecretAccess: ResourceValidationPolicy = {
  name: "tessera-no-project-secret-access",
  description: "Secret access is granted on the secret, not the project.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (!isHierarchyIam(args.type)) return;
    for (const p of iamPairs(args.type, args.props)) {
      if (SECRET_ROLES.has(p.role))
        report(
          `${p.role} for ${p.member} at project level reaches every secret: grant it on the secret (gcp.secretmanager.SecretIamMember)`,
        );
    }
  },
};

export const dedicatedIdentities: ResourceValidationPolicy = {
  name: "tessera-dedicated-identities",
  description: "Every job, service, function and workflow runs as an explicit, non-default service account.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const id = runtimeIdentity(args.type, args.props);
    if (!id.applies) return;
    if (!id.account) report("no service account set: it would run as the default compute account");
    else if (DEFAULT_IDENTITY.test(accountEmail(id.account)))
      report(`runs as the default account ${id.account}: give it a dedicated one`);
  },
};

export const noServiceAccountKeys: ResourceValidationPolicy = {
  name: "tessera-no-service-account-keys",
  description: "No service-account keys: Cloud Run, Functions and Workflows use attached identities.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type === "gcp:serviceaccount/key:Key")
      report("service-account keys are long-lived secrets; use the attached identity or impersonation");
  },
};

export const deadLetterPolicy: ResourceValidationPolicy = {
  name: "tessera-dead-letter-policy",
  description:
    "Every subscription has a dead-letter topic and a delivery-attempt limit (a dead-letter sink is exempt).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== "gcp:pubsub/subscription:Subscription") return;
    if (args.props.labels?.["tessera-dead-letter-sink"] === "true") return;
    // The dead-letter topic's id may be unknown at preview; the attempt limit is always a literal.
    const dlq = args.props.deadLetterPolicy;
    if (!dlq?.maxDeliveryAttempts || dlq.deadLetterTopic === "")
      report(
        "no deadLetterPolicy (deadLetterTopic + maxDeliveryAttempts): a poison message would be retried forever",
      );
  },
};

export const deadLetterAgentRights: StackValidationPolicy = {
  name: "tessera-dead-letter-agent",
  description:
    "The Pub/Sub service agent may publish to each dead-letter topic and subscribe to each source subscription.",
  enforcementLevel: "advisory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const agent = (m: string) => /@gcp-sa-pubsub\.iam\.gserviceaccount\.com$/.test(m);
    const granted = (type: string, field: string, role: string, target: string) =>
      args.resources.some(
        (r) =>
          r.type === type &&
          typeof r.props[field] === "string" &&
          lastSegment(r.props[field]) === target &&
          iamPairs(r.type, r.props).some((p) => p.role === role && agent(p.member)),
      );
    for (const sub of args.resources.filter((r) => r.type === "gcp:pubsub/subscription:Subscription")) {
      const topic = sub.props.deadLetterPolicy?.deadLetterTopic;
      if (typeof topic !== "string") continue;
      if (
        !granted(
          "gcp:pubsub/topicIAMMember:TopicIAMMember",
          "topic",
          "roles/pubsub.publisher",
          lastSegment(topic),
        )
      ) {
        report(
          `the Pub/Sub service agent cannot publish to dead-letter topic ${lastSegment(topic)}`,
          sub.urn,
        );
      }
      if (
        typeof sub.props.name === "string" &&
        !granted(
          "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
          "subscription",
          "roles/pubsub.subscriber",
          sub.props.name,
        )
      ) {
        report(
          `the Pub/Sub service agent cannot acknowledge dead-lettered messages of ${sub.props.name}`,
          sub.urn,
        );
      }
    }
  },
};

export const jobRunnerIsOwningWorkflow: StackValidationPolicy = {
  name: "tessera-job-runner-is-owning-workflow",
  description: "Only the owning pipeline's workflow service account may run (or change) a Cloud Run Job.",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const jobs = new Map<string, PolicyResource>();
    for (const r of args.resources)
      if (r.type === "gcp:cloudrunv2/job:Job" && typeof r.props.name === "string") jobs.set(r.props.name, r);
    const workflowAccounts = new Map<string, string[]>();
    for (const r of args.resources) {
      const pipeline = r.props.labels?.["tessera-pipeline"];
      if (
        r.type !== "gcp:workflows/workflow:Workflow" ||
        !pipeline ||
        typeof r.props.serviceAccount !== "string"
      )
        continue;
      workflowAccounts.set(pipeline, [
        ...(workflowAccounts.get(pipeline) ?? []),
        accountEmail(r.props.serviceAccount),
      ]);
    }
    for (const r of args.resources) {
      if (!/^gcp:cloudrunv2\/jobIam(Member|Binding|Policy):/.test(r.type)) continue;
      const job = typeof r.props.name === "string" ? jobs.get(lastSegment(r.props.name)) : undefined;
      for (const p of iamPairs(r.type, r.props)) {
        if (!p.role?.startsWith("roles/run.")) continue;
        const pipeline = job?.props.labels?.["tessera-pipeline"];
        if (!job || !pipeline) {
          report(
            `${p.role} for ${p.member} on job ${r.props.name}: the job is not a labelled pipeline job of this stack`,
            r.urn,
          );
          continue;
        }
        const owners = workflowAccounts.get(pipeline) ?? [];
        if (!p.member.startsWith("serviceAccount:") || !owners.includes(accountEmail(p.member))) {
          report(
            `${p.role} for ${p.member} on job ${job.props.name}: only pipeline ${pipeline}'s workflow account may run it`,
            r.urn,
          );
        }
      }
    }
  },
};

/**
 * What people reach from the internet goes through IAP: a function admits internal and load-balancer traffic
 * at most, a Cloud Run service open to all traffic has IAP on, and every external load-balancer backend has
 * IAP enabled.
 */
export const peopleBehindIap: ResourceValidationPolicy = {
  name: "tessera-people-behind-iap",
  description:
    "No function or service open to all traffic without IAP; every external load-balancer backend has IAP enabled.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const p = args.props;
    switch (args.type) {
      case "gcp:cloudfunctionsv2/function:Function": {
        const ingress = p.serviceConfig?.ingressSettings;
        if (ingress === undefined || ingress === "ALLOW_ALL")
          report(
            `ingress ${ingress ?? "(default: ALLOW_ALL)"} lets the internet call the function: use ALLOW_INTERNAL_ONLY, or ALLOW_INTERNAL_AND_GCLB behind a load balancer with IAP`,
          );
        return;
      }
      case "gcp:cloudrunv2/service:Service": {
        const ingress = p.ingress ?? "INGRESS_TRAFFIC_ALL";
        if (ingress === "INGRESS_TRAFFIC_ALL" && p.iapEnabled !== true)
          report("the service takes all traffic without IAP: set iapEnabled or an internal ingress");
        return;
      }
      case "gcp:compute/backendService:BackendService": {
        const scheme = p.loadBalancingScheme ?? "EXTERNAL";
        if ((scheme === "EXTERNAL" || scheme === "EXTERNAL_MANAGED") && p.iap?.enabled !== true)
          report(`external backend service ${p.name ?? ""} without IAP: set iap.enabled`);
        return;
      }
    }
  },
};

export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  noBasicRoles,
  noPublicPrincipals,
  noProjectImpersonation,
  noProjectSecretAccess,
  dedicatedIdentities,
  noServiceAccountKeys,
  deadLetterPolicy,
  deadLetterAgentRights,
  jobRunnerIsOwningWorkflow,
  peopleBehindIap,
];
