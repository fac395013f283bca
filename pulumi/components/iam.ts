import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

/**
 * Resource-level IAM grants, created through one helper so that every grant is a member (never a binding
 * or a policy, which would overwrite grants made elsewhere) and a repeated grant is made once.
 */

/** Who receives a grant: a stable key for logical names and the IAM member string. */
export interface Principal {
  key: string;
  member: pulumi.Input<string>;
}

export function saPrincipal(key: string, sa: gcp.serviceaccount.Account): Principal {
  return { key, member: pulumi.interpolate`serviceAccount:${sa.email}` };
}

export interface Condition {
  title: string;
  expression: string;
}

export type GrantTarget =
  | { kind: "project"; project: string; condition?: Condition }
  | { kind: "bucket"; key: string; bucket: gcp.storage.Bucket; condition?: Condition }
  | { kind: "topic"; key: string; topic: gcp.pubsub.Topic }
  | { kind: "subscription"; key: string; subscription: gcp.pubsub.Subscription }
  | { kind: "secret"; key: string; secret: gcp.secretmanager.Secret }
  | { kind: "table"; key: string; table: gcp.bigquery.Table }
  | { kind: "dataset"; key: string; dataset: gcp.bigquery.Dataset }
  | { kind: "widetable"; key: string; table: gcp.bigtable.Table }
  | { kind: "job"; key: string; job: gcp.cloudrunv2.Job; region: string }
  | { kind: "service"; key: string; service: pulumi.Input<string>; region: string; project: string }
  | { kind: "iap-backend"; key: string; backend: gcp.compute.BackendService };

export type Grant = (target: GrantTarget, role: string, principal: Principal) => void;

const short = (role: string) => role.replace(/^roles\//, "").replace(/[^A-Za-z0-9]+/g, "-");

/** A grant function scoped to one component; the logical name says what, on what, to whom. */
export function createGrant(scope: string, parent: pulumi.Resource): Grant {
  const made = new Set<string>();
  const opts = { parent };
  return (target, role, principal) => {
    const condition = "condition" in target && target.condition ? `-${target.condition.title}` : "";
    const on = target.kind === "project" ? `project${condition}` : `${target.kind}-${target.key}${condition}`;
    const name = `${scope}-${on}-${short(role)}-${principal.key}`.replace(/[^A-Za-z0-9_.-]+/g, "-");
    if (made.has(name)) return;
    made.add(name);
    const member = principal.member;
    switch (target.kind) {
      case "project":
        new gcp.projects.IAMMember(
          name,
          { project: target.project, role, member, condition: target.condition },
          opts,
        );
        return;
      case "bucket":
        new gcp.storage.BucketIAMMember(
          name,
          { bucket: target.bucket.name, role, member, condition: target.condition },
          opts,
        );
        return;
      case "topic":
        new gcp.pubsub.TopicIAMMember(
          name,
          { topic: target.topic.name, project: target.topic.project, role, member },
          opts,
        );
        return;
      case "subscription":
        new gcp.pubsub.SubscriptionIAMMember(
          name,
          { subscription: target.subscription.name, project: target.subscription.project, role, member },
          opts,
        );
        return;
      case "secret":
        new gcp.secretmanager.SecretIamMember(
          name,
          { secretId: target.secret.secretId, project: target.secret.project, role, member },
          opts,
        );
        return;
      case "table":
        new gcp.bigquery.IamMember(
          name,
          {
            project: target.table.project,
            datasetId: target.table.datasetId,
            tableId: target.table.tableId,
            role,
            member,
          },
          opts,
        );
        return;
      case "dataset":
        new gcp.bigquery.DatasetIamMember(
          name,
          { project: target.dataset.project, datasetId: target.dataset.datasetId, role, member },
          opts,
        );
        return;
      case "widetable":
        new gcp.bigtable.TableIamMember(
          name,
          {
            project: target.table.project,
            instanceName: target.table.instanceName,
            table: target.table.name,
            role,
            member,
          },
          opts,
        );
        return;
      case "job":
        new gcp.cloudrunv2.JobIamMember(
          name,
          { project: target.job.project, location: target.region, name: target.job.name, role, member },
          opts,
        );
        return;
      case "service":
        new gcp.cloudrunv2.ServiceIamMember(
          name,
          { project: target.project, location: target.region, name: target.service, role, member },
          opts,
        );
        return;
      case "iap-backend":
        new gcp.iap.WebBackendServiceIamMember(
          name,
          { project: target.backend.project, webBackendService: target.backend.name, role, member },
          opts,
        );
        return;
    }
  };
}

/**
 * Objects under one prefix of a bucket: the object itself (`resource.name`) and listings of that prefix
 * (`objects.list` is checked on the bucket, so the condition reads the listing's prefix instead).
 */
export function prefixCondition(bucketName: string, prefix: string, title: string): Condition {
  return {
    title,
    expression:
      `resource.name.startsWith("projects/_/buckets/${bucketName}/objects/${prefix}") || ` +
      `api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("${prefix}")`,
  };
}
