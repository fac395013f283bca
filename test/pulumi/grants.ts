import type { PlannedResource } from "../../pulumi/plan.ts";

/** One IAM grant of a plan, as `{role, member, resource}` with the resource spelled `kind:name`. */
export interface GrantRow {
  role: string;
  member: string;
  resource: string;
}

const last = (v: string) => v.split("/").pop() ?? v;
const sa = (m: string) => m.replace(/@tessera-test-01\.iam\.gserviceaccount\.com$/, "@");

/** Every IAM member resource of the plan as a grant row; conditions are appended as `[title]`. */
export function grantRows(resources: PlannedResource[], logicalPrefix?: string): GrantRow[] {
  const rows: GrantRow[] = [];
  for (const r of resources) {
    if (logicalPrefix && !r.name.startsWith(`${logicalPrefix}-`)) continue;
    const i = r.inputs;
    const cond = i.condition ? ` [${i.condition.title}]` : "";
    let resource: string;
    switch (r.type) {
      case "gcp:projects/iAMMember:IAMMember":
        resource = `project:${i.project}${cond}`;
        break;
      case "gcp:storage/bucketIAMMember:BucketIAMMember":
        resource = `bucket:${i.bucket}${cond}`;
        break;
      case "gcp:pubsub/topicIAMMember:TopicIAMMember":
        resource = `topic:${last(i.topic)}`;
        break;
      case "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember":
        resource = `subscription:${last(i.subscription)}`;
        break;
      case "gcp:secretmanager/secretIamMember:SecretIamMember":
        resource = `secret:${last(i.secretId)}`;
        break;
      case "gcp:bigquery/iamMember:IamMember":
        resource = `table:${i.datasetId}.${i.tableId}`;
        break;
      case "gcp:bigquery/datasetIamMember:DatasetIamMember":
        resource = `dataset:${i.datasetId}`;
        break;
      case "gcp:bigtable/tableIamMember:TableIamMember":
        resource = `widetable:${last(i.table)}`;
        break;
      case "gcp:cloudrunv2/jobIamMember:JobIamMember":
        resource = `job:${last(i.name)}`;
        break;
      case "gcp:cloudrunv2/serviceIamMember:ServiceIamMember":
        resource = `service:${last(i.name)}`;
        break;
      case "gcp:iap/webBackendServiceIamMember:WebBackendServiceIamMember":
        resource = `iap-backend:${last(i.webBackendService)}`;
        break;
      default:
        if (/iam/i.test(r.type))
          throw new Error(`grantRows does not know ${r.type} (${r.name}): add it so the test sees it`);
        continue;
    }
    rows.push({ role: i.role, member: sa(i.member), resource });
  }
  return rows.sort(
    (a, b) =>
      a.resource.localeCompare(b.resource) ||
      a.role.localeCompare(b.role) ||
      a.member.localeCompare(b.member),
  );
}
