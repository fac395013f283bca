import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../pulumi/plan.ts";
import { consoleConfig, consoleOptions, FIXTURES } from "./fixtures.ts";
import { grantRows } from "./grants.ts";

// The console plans twice: behind IAP on a hostname, and without a hostname (not exposed at all).
let exposed: PlannedResource[];
let closed: PlannedResource[];
const IAP_AGENT = "serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com";
const CONSOLE_SA = "serviceAccount:tessera-console@";

const ofType = (resources: PlannedResource[], type: string) => resources.filter((r) => r.type === type);
const consoleFunction = (resources: PlannedResource[]) =>
  ofType(resources, "gcp:cloudfunctionsv2/function:Function").find(
    (f) => f.inputs.name === "tessera-console",
  )!;
/** Grants that involve the console: its own account's, and who may reach its service or backend. */
const consoleGrants = (resources: PlannedResource[]) =>
  grantRows(resources).filter(
    (g) =>
      g.member === CONSOLE_SA ||
      g.resource === "service:tessera-console" ||
      g.resource.startsWith("iap-backend:"),
  );

beforeAll(async () => {
  const { planResources } = await import("../../pulumi/plan.ts");
  exposed = (await planResources(consoleConfig, FIXTURES, consoleOptions)).resources;
  closed = (await planResources({ ...consoleConfig, consoleHostname: undefined }, FIXTURES, consoleOptions))
    .resources;
}, 120_000);

describe("the console behind IAP", () => {
  it("grants its own account exactly what the console needs, and only IAP's agent may invoke it", () => {
    expect(consoleGrants(exposed)).toEqual([
      {
        role: "roles/storage.objectViewer",
        member: CONSOLE_SA,
        resource: "bucket:tessera-test-01-tessera-artifacts",
      },
      {
        role: "roles/storage.objectViewer",
        member: CONSOLE_SA,
        resource: "bucket:tessera-test-01-tessera-data",
      },
      // fx-models' console pages (its `console` entry): its queue prefix, table previews, its key.
      {
        role: "roles/storage.objectUser",
        member: CONSOLE_SA,
        resource: "bucket:tessera-test-01-tessera-data [data-fx-models-inputs]",
      },
      {
        role: "roles/storage.objectUser",
        member: CONSOLE_SA,
        resource: "bucket:tessera-test-01-tessera-state",
      },
      { role: "roles/bigquery.dataViewer", member: CONSOLE_SA, resource: "dataset:fx_mart" },
      { role: "roles/bigquery.dataViewer", member: CONSOLE_SA, resource: "dataset:fx_models" },
      {
        role: "roles/iap.httpsResourceAccessor",
        member: "domain:example.com",
        resource: "iap-backend:tessera-console",
      },
      {
        role: "roles/iap.httpsResourceAccessor",
        member: "domain:example.org",
        resource: "iap-backend:tessera-console",
      },
      { role: "roles/bigquery.jobUser", member: CONSOLE_SA, resource: "project:tessera-test-01" },
      { role: "roles/workflows.viewer", member: CONSOLE_SA, resource: "project:tessera-test-01" },
      // On the secret itself: read the key (Snowflake previews) and store an uploaded one as a new version.
      {
        role: "roles/secretmanager.secretAccessor",
        member: CONSOLE_SA,
        resource: "secret:snowflake-private-key",
      },
      {
        role: "roles/secretmanager.secretVersionAdder",
        member: CONSOLE_SA,
        resource: "secret:snowflake-private-key",
      },
      { role: "roles/run.invoker", member: IAP_AGENT, resource: "service:tessera-console" },
      { role: "roles/pubsub.publisher", member: CONSOLE_SA, resource: "topic:tessera-backfill-requests" },
      { role: "roles/pubsub.publisher", member: CONSOLE_SA, resource: "topic:tessera-schedule-ticks" },
    ]);
  });

  it("runs the function as its own account, reachable from the load balancer only, with the auth settings", () => {
    const fn = consoleFunction(exposed);
    expect(fn.inputs.serviceConfig.serviceAccountEmail).toBe(
      "tessera-console@tessera-test-01.iam.gserviceaccount.com",
    );
    expect(fn.inputs.serviceConfig.ingressSettings).toBe("ALLOW_INTERNAL_AND_GCLB");
    expect(fn.inputs.buildConfig.entryPoint).toBe("console");
    const env = fn.inputs.serviceConfig.environmentVariables;
    expect(env.TESSERA_CONSOLE_ALLOWED_DOMAINS).toBe("example.com,example.org");
    expect(env.TESSERA_CONSOLE_AUDIENCE).toBe("/projects/123456789012/global/backendServices/4242424242");
    expect(env.TESSERA_STATE_BUCKET).toBe("tessera-test-01-tessera-state");
  });

  it("puts a serverless NEG on the console's service behind an IAP-enabled HTTPS load balancer", () => {
    const [neg] = ofType(exposed, "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup");
    expect([neg.inputs.networkEndpointType, neg.inputs.region, neg.inputs.cloudRun]).toEqual([
      "SERVERLESS",
      "europe-west1",
      { service: "tessera-console" },
    ]);
    const backends = ofType(exposed, "gcp:compute/backendService:BackendService");
    expect(backends.map((b) => [b.inputs.name, b.inputs.loadBalancingScheme, b.inputs.iap])).toEqual([
      ["tessera-console", "EXTERNAL_MANAGED", { enabled: true }],
    ]);
    // The mock engine gives a resource without a cloud id the id `<logical name>_id`.
    expect(backends[0].inputs.backends).toEqual([{ group: `${neg.name}_id` }]);
    const [cert] = ofType(exposed, "gcp:compute/managedSslCertificate:ManagedSslCertificate");
    expect(cert.inputs.managed.domains).toEqual(["console.example.com"]);
    const [rule] = ofType(exposed, "gcp:compute/globalForwardingRule:GlobalForwardingRule");
    expect([rule.inputs.portRange, rule.inputs.loadBalancingScheme, rule.inputs.ipAddress]).toEqual([
      "443",
      "EXTERNAL_MANAGED",
      "203.0.113.7",
    ]);
    // Nothing answers plain HTTP: there is one forwarding rule, on 443.
    expect(ofType(exposed, "gcp:compute/targetHttpProxy:TargetHttpProxy")).toEqual([]);
  });

  it("is never invoked by a workflow and never granted to a public principal", () => {
    const rows = grantRows(exposed);
    expect(rows.filter((g) => g.resource === "service:tessera-console").map((g) => g.member)).toEqual([
      IAP_AGENT,
    ]);
    expect(rows.filter((g) => /^(allUsers|allAuthenticatedUsers)$/.test(g.member))).toEqual([]);
  });

  it("without a hostname, stays internal: no load balancer, no accessor, no invoker, an empty audience", () => {
    const fn = consoleFunction(closed);
    expect(fn.inputs.serviceConfig.ingressSettings).toBe("ALLOW_INTERNAL_ONLY");
    expect(fn.inputs.serviceConfig.environmentVariables.TESSERA_CONSOLE_AUDIENCE).toBe("");
    expect(closed.filter((r) => r.type.startsWith("gcp:compute/"))).toEqual([]);
    expect(consoleGrants(closed).map((g) => g.member)).toEqual(consoleGrants(closed).map(() => CONSOLE_SA));
    expect(consoleGrants(closed)).toHaveLength(12);
  });
});
