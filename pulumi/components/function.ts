import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { FUNCTION_COMPILE_CACHE } from "../../shared/pipelines/platform.ts";
import { MALLOC_TUNABLES } from "../../shared/runtime/malloc.ts";

/**
 * One Cloud Function (gen2, nodejs22) deployed from its bundle (`dist/functions/<source>/`, built by
 * `npm run build`), plus, when it listens on a topic, the push subscription that feeds it.
 *
 * Quirk: an Eventarc `eventTrigger` creates its own Pub/Sub subscription that cannot carry a dead-letter
 * policy, so a topic-triggered function here has no `eventTrigger`; it is fed by an explicit push
 * subscription (OIDC-authenticated, exponential retry, dead-letter topic). The push endpoint ends in
 * `/projects/<project>/topics/<topic>`: the functions framework reads the topic from that path when it turns a
 * raw push body into the CloudEvent `google.cloud.pubsub.topic.v1.messagePublished`.
 */
export interface FunctionArgs {
  /** Deployed name. */
  name: string;
  /** Bundle folder. */
  bundleDir: string;
  target: string;
  project: string;
  region: string;
  serviceAccount: gcp.serviceaccount.Account;
  sourcesBucket: gcp.storage.Bucket;
  memory: string;
  timeoutSeconds: number;
  maxInstances: number;
  /** `ALLOW_INTERNAL_ONLY`, or `ALLOW_INTERNAL_AND_GCLB` for the console behind its IAP load balancer. */
  ingress: "ALLOW_INTERNAL_ONLY" | "ALLOW_INTERNAL_AND_GCLB";
  env: Record<string, pulumi.Input<string>>;
  secrets: { envName: string; secret: gcp.secretmanager.Secret }[];
  labels: Record<string, string>;
  trigger?: {
    topic: gcp.pubsub.Topic;
    topicName: string;
    deadLetterTopic: gcp.pubsub.Topic;
    maxDeliveryAttempts: number;
  };
}

export interface DeployedFunction {
  fn: gcp.cloudfunctionsv2.Function;
  /** The Cloud Run service behind the function: where `roles/run.invoker` is granted. */
  service: pulumi.Output<string>;
  url: pulumi.Output<string>;
  subscription?: gcp.pubsub.Subscription;
}

/** A content hash of a bundle folder, so a changed bundle is a new object and a new function revision. */
export function bundleHash(dir: string): string {
  if (!existsSync(dir)) return "unbuilt";
  const hash = createHash("sha256");
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      const p = join(d, entry);
      if (statSync(p).isDirectory()) walk(p);
      else hash.update(entry).update(readFileSync(p));
    }
  };
  walk(dir);
  return hash.digest("hex").slice(0, 12);
}

export function deployFunction(
  logical: string,
  args: FunctionArgs,
  parent: pulumi.Resource,
): DeployedFunction {
  const opts = { parent };
  const object = new gcp.storage.BucketObject(
    `${logical}-source`,
    {
      bucket: args.sourcesBucket.name,
      name: `functions/${args.name}-${bundleHash(args.bundleDir)}.zip`,
      source: new pulumi.asset.FileArchive(args.bundleDir),
    },
    opts,
  );
  const fn = new gcp.cloudfunctionsv2.Function(
    logical,
    {
      name: args.name,
      project: args.project,
      location: args.region,
      labels: args.labels,
      buildConfig: {
        runtime: "nodejs22",
        entryPoint: args.target,
        source: { storageSource: { bucket: args.sourcesBucket.name, object: object.name } },
      },
      serviceConfig: {
        serviceAccountEmail: args.serviceAccount.email,
        ingressSettings: args.ingress,
        minInstanceCount: 0,
        maxInstanceCount: args.maxInstances,
        availableMemory: args.memory,
        timeoutSeconds: args.timeoutSeconds,
        allTrafficOnLatestRevision: true,
        // The bundle's `gcp-build` step filled this cache in /workspace (scripts/build.ts WARM_CACHE); glibc's
        // malloc on transparent huge pages: ~600 fewer page faults per cold start (shared/runtime/malloc.ts).
        environmentVariables: {
          ...args.env,
          NODE_COMPILE_CACHE: `/workspace/${FUNCTION_COMPILE_CACHE}`,
          GLIBC_TUNABLES: MALLOC_TUNABLES,
        },
        secretEnvironmentVariables: args.secrets.map((s) => ({
          key: s.envName,
          projectId: args.project,
          secret: s.secret.secretId,
          version: "latest",
        })),
      },
    },
    opts,
  );
  const service = fn.serviceConfig.apply((s) => s?.service ?? args.name);
  const url = fn.url;
  let subscription: gcp.pubsub.Subscription | undefined;
  if (args.trigger) {
    const t = args.trigger;
    subscription = new gcp.pubsub.Subscription(
      `${logical}-push`,
      {
        name: `${args.name}-push`,
        project: args.project,
        topic: t.topic.id,
        labels: args.labels,
        ackDeadlineSeconds: Math.min(600, Math.max(10, args.timeoutSeconds)),
        messageRetentionDuration: "604800s",
        expirationPolicy: { ttl: "" },
        retryPolicy: { minimumBackoff: "10s", maximumBackoff: "600s" },
        deadLetterPolicy: {
          deadLetterTopic: t.deadLetterTopic.id,
          maxDeliveryAttempts: t.maxDeliveryAttempts,
        },
        pushConfig: {
          pushEndpoint: pulumi.interpolate`${url}/projects/${args.project}/topics/${t.topicName}`,
          oidcToken: { serviceAccountEmail: args.serviceAccount.email, audience: url },
        },
      },
      opts,
    );
  }
  return { fn, service, url, subscription };
}
