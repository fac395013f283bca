import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { Grant, Principal } from "./iam.ts";
import { iapServiceAgent } from "./names.ts";

/**
 * The console's front door: a global external Application Load Balancer on `tessera:consoleHostname` whose
 * backend (a serverless NEG on the function's Cloud Run service) has Identity-Aware Proxy enabled. Only
 * members `domain:<d>` of `tessera:consoleAllowedDomains` hold `roles/iap.httpsResourceAccessor` on that
 * backend; the function's ingress admits internal and load-balancer traffic only, and its Cloud Run service
 * lets only IAP's service agent invoke it. The function then checks IAP's signed header itself
 * (`x-goog-iap-jwt-assertion`, audience `TESSERA_CONSOLE_AUDIENCE`, email domain in
 * `TESSERA_CONSOLE_ALLOWED_DOMAINS`). The caller grants `roles/run.invoker` on the service to `iapAgent`.
 *
 * Quirk: IAP with its Google-managed OAuth client (no `oauth2ClientId`) admits only identities of the
 * project's organization, which is what an allowed-domains list asks for anyway.
 */
export interface ConsoleFrontArgs {
  prefix: string;
  project: string;
  region: string;
  hostname: string;
  allowedDomains: string[];
  /** The function's Cloud Run service name (a gen2 function's service bears the function's name). */
  serviceName: string;
  /** Grants `roles/iap.httpsResourceAccessor` on the backend. */
  projectNumber: pulumi.Output<string>;
  grant: Grant;
  labels: Record<string, string>;
}

export interface ConsoleFront {
  backend: gcp.compute.BackendService;
  address: gcp.compute.GlobalAddress;
  /** `/projects/<number>/global/backendServices/<id>`: the `aud` of IAP's signed header. */
  audience: pulumi.Output<string>;
  url: string;
  /** IAP's service agent: the one principal that may invoke the console's Cloud Run service. */
  iapAgent: Principal;
}

export function createConsoleFront(
  logical: string,
  args: ConsoleFrontArgs,
  parent: pulumi.Resource,
): ConsoleFront {
  const opts = { parent };
  const { prefix, project, region } = args;
  const neg = new gcp.compute.RegionNetworkEndpointGroup(
    `${logical}-neg`,
    {
      project,
      region,
      name: `${prefix}-console-neg`,
      networkEndpointType: "SERVERLESS",
      cloudRun: { service: args.serviceName },
    },
    opts,
  );
  const backend = new gcp.compute.BackendService(
    `${logical}-backend`,
    {
      project,
      name: `${prefix}-console`,
      protocol: "HTTPS",
      loadBalancingScheme: "EXTERNAL_MANAGED",
      backends: [{ group: neg.id }],
      iap: { enabled: true },
      logConfig: { enable: true, sampleRate: 1 },
    },
    opts,
  );
  const address = new gcp.compute.GlobalAddress(
    `${logical}-ip`,
    { project, name: `${prefix}-console-ip`, labels: args.labels },
    opts,
  );
  const certificate = new gcp.compute.ManagedSslCertificate(
    `${logical}-cert`,
    { project, name: `${prefix}-console-cert`, managed: { domains: [args.hostname] } },
    opts,
  );
  const urlMap = new gcp.compute.URLMap(
    `${logical}-urlmap`,
    { project, name: `${prefix}-console`, defaultService: backend.id },
    opts,
  );
  const proxy = new gcp.compute.TargetHttpsProxy(
    `${logical}-proxy`,
    { project, name: `${prefix}-console`, urlMap: urlMap.id, sslCertificates: [certificate.id] },
    opts,
  );
  new gcp.compute.GlobalForwardingRule(
    `${logical}-https`,
    {
      project,
      name: `${prefix}-console-https`,
      target: proxy.id,
      ipAddress: address.address,
      portRange: "443",
      loadBalancingScheme: "EXTERNAL_MANAGED",
      labels: args.labels,
    },
    opts,
  );

  for (const domain of args.allowedDomains) {
    args.grant(
      { kind: "iap-backend", key: `${prefix}-console`, backend },
      "roles/iap.httpsResourceAccessor",
      { key: `domain-${domain}`, member: `domain:${domain}` },
    );
  }
  const audience = pulumi.interpolate`/projects/${args.projectNumber}/global/backendServices/${backend.generatedId}`;
  const iapAgent: Principal = { key: "iap-agent", member: args.projectNumber.apply(iapServiceAgent) };
  return { backend, address, audience, url: `https://${args.hostname}`, iapAgent };
}
