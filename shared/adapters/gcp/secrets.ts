import { type protos, SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { checkSecretName } from "../local/secrets.ts";
import { NotFoundError, type Secrets } from "../ports.ts";

/**
 * Secret Manager: `get(name)` reads `projects/<projectId>/secrets/<name>/versions/latest`. NOT_FOUND (gRPC 5)
 * becomes NotFoundError naming the secret; other errors pass through (permission errors are not retried by
 * callers that check for NonRetriableError, so they surface). Values are cached for the process's lifetime
 * only when `cacheSeconds` is set.
 */

export interface GcpSecretsOptions {
  projectId: string;
  /** A ready client (tests, or custom transport options). */
  client?: Pick<SecretManagerServiceClient, "accessSecretVersion">;
  cacheSeconds?: number;
}

export function createGcpSecrets(options: GcpSecretsOptions): Secrets {
  const client = options.client ?? new SecretManagerServiceClient({ projectId: options.projectId });
  const cache = new Map<string, { value: string; until: number }>();
  return {
    async get(name) {
      checkSecretName(name);
      const hit = cache.get(name);
      if (hit && hit.until > Date.now()) return hit.value;
      const resource = `projects/${options.projectId}/secrets/${name}/versions/latest`;
      let version: protos.google.cloud.secretmanager.v1.IAccessSecretVersionResponse;
      try {
        [version] = await client.accessSecretVersion({ name: resource });
      } catch (err) {
        if ((err as { code?: unknown }).code === 5) throw new NotFoundError(`secret "${name}" (${resource})`);
        throw err;
      }
      const data = version.payload?.data;
      if (data === null || data === undefined)
        throw new NotFoundError(`secret "${name}" payload (${resource})`);
      const value = typeof data === "string" ? data : Buffer.from(data).toString("utf8");
      if (options.cacheSeconds) cache.set(name, { value, until: Date.now() + options.cacheSeconds * 1000 });
      return value;
    },
  };
}
