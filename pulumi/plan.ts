import * as pulumi from "@pulumi/pulumi";
import type { PipelineDefinition } from "../shared/pipelines/types.ts";
import type { StackConfig } from "./config.ts";
import type { Stack, StackOptions } from "./stack.ts";

/**
 * An offline run of the program under `pulumi.runtime.setMocks`: every resource it would create, with its
 * inputs, and no cloud call. Used by the unit tests and by `tessera deploy --plan`.
 */
export interface PlannedResource {
  type: string;
  /** Logical (Pulumi) name. */
  name: string;
  inputs: Record<string, any>;
}

export interface Plan {
  resources: PlannedResource[];
  stack: Stack;
}

export const MOCK_PROJECT_NUMBER = "123456789012";
/** The numeric id the mock gives a backend service (part of the console's IAP audience). */
export const MOCK_BACKEND_ID = 4242424242;

/** What the mock engine answers for a new resource: realistic ids and the computed fields the program reads. */
export function mockState(
  type: string,
  name: string,
  inputs: Record<string, any>,
  project: string,
): { id: string; state: Record<string, any> } {
  const p = inputs.project ?? project;
  const region = inputs.location ?? inputs.region;
  switch (type) {
    case "gcp:serviceaccount/account:Account": {
      const email = `${inputs.accountId}@${p}.iam.gserviceaccount.com`;
      return {
        id: `projects/${p}/serviceAccounts/${email}`,
        state: {
          ...inputs,
          email,
          member: `serviceAccount:${email}`,
          name: `projects/${p}/serviceAccounts/${email}`,
        },
      };
    }
    case "gcp:pubsub/topic:Topic":
      return { id: `projects/${p}/topics/${inputs.name}`, state: { ...inputs, project: p } };
    case "gcp:pubsub/subscription:Subscription":
      return { id: `projects/${p}/subscriptions/${inputs.name}`, state: { ...inputs, project: p } };
    case "gcp:secretmanager/secret:Secret":
      return {
        id: `projects/${p}/secrets/${inputs.secretId}`,
        state: { ...inputs, project: p, name: `projects/${p}/secrets/${inputs.secretId}` },
      };
    case "gcp:cloudfunctionsv2/function:Function": {
      const service = `projects/${p}/locations/${region}/services/${inputs.name}`;
      return {
        id: `projects/${p}/locations/${region}/functions/${inputs.name}`,
        state: {
          ...inputs,
          url: `https://${inputs.name}-mock.a.run.app`,
          serviceConfig: { ...inputs.serviceConfig, service },
        },
      };
    }
    case "gcp:cloudrunv2/job:Job":
      return {
        id: `projects/${p}/locations/${region}/jobs/${inputs.name}`,
        state: { ...inputs, project: p },
      };
    case "gcp:bigquery/table:Table":
      return {
        id: `projects/${p}/datasets/${inputs.datasetId}/tables/${inputs.tableId}`,
        state: { ...inputs, project: p },
      };
    case "gcp:bigquery/dataset:Dataset":
      return { id: `projects/${p}/datasets/${inputs.datasetId}`, state: { ...inputs, project: p } };
    case "gcp:compute/backendService:BackendService":
      return {
        id: `projects/${p}/global/backendServices/${inputs.name}`,
        state: { ...inputs, project: p, generatedId: MOCK_BACKEND_ID },
      };
    case "gcp:compute/globalAddress:GlobalAddress":
      return {
        id: `projects/${p}/global/addresses/${inputs.name}`,
        state: { ...inputs, address: "203.0.113.7" },
      };
    case "gcp:storage/bucket:Bucket":
      return { id: inputs.name, state: { ...inputs, url: `gs://${inputs.name}` } };
    default:
      return { id: `${name}_id`, state: inputs };
  }
}

/** Run `createStack` against mocks and return what it planned. Resources are recorded in creation order. */
export async function planResources(
  config: StackConfig,
  pipelines: PipelineDefinition[],
  options: StackOptions = {},
): Promise<Plan> {
  const resources: PlannedResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs });
        return mockState(args.type, args.name, args.inputs, config.project);
      },
      call(args) {
        if (args.token === "gcp:organizations/getProject:getProject") {
          return { projectId: args.inputs.projectId ?? config.project, number: MOCK_PROJECT_NUMBER };
        }
        return args.inputs;
      },
    },
    "tessera",
    `plan-${planCount++}`,
    false,
  );
  // The program is imported after the mocks are in place, as Pulumi's testing guide requires.
  const { createStack } = await import("./stack.ts");
  const stack = createStack(config, pipelines, options);
  await new Promise((resolve) => pulumi.output(stack.outputs).apply(resolve));
  // `waitForRPCs` is exported at runtime but marked internal in the typings: it drains pending registrations.
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  return { resources, stack };
}

let planCount = 0;

/** The plan as rows of (type, name), sorted, for `tessera deploy --plan`. */
export function planRows(resources: PlannedResource[]): [string, string][] {
  return resources
    .filter((r) => !r.type.startsWith("pulumi:providers:"))
    .map((r) => [r.type, deployedName(r)] as [string, string])
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

/** The name a resource gets in the cloud, when its inputs say it; else its logical name. */
export function deployedName(r: PlannedResource): string {
  const i = r.inputs;
  if (/iam(member|binding|policy)/i.test(r.type)) return r.name;
  return i.name ?? i.accountId ?? i.secretId ?? i.repositoryId ?? i.tableId ?? i.datasetId ?? r.name;
}
