import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { NonRetriableError } from "../../../shared/core/errors.ts";

/**
 * Storing the Snowflake private key once (the secrets port only reads): locally into the secrets file the
 * local secrets adapter reads (`<stateDir>/secrets.json`, mode 0600), deployed as a new Secret Manager version
 * of `snowflake-private-key`. The key is checked and fingerprinted (Snowflake's `RSA_PUBLIC_KEY_FP`,
 * `SHA256:` + base64 of the public key's DER) and never returned, logged or stored anywhere else.
 */

export const SNOWFLAKE_KEY_SECRET = "snowflake-private-key";

export interface SecretWriter {
  put(name: string, value: string): Promise<void>;
}

/** Validates a PEM private key (unencrypted PKCS#8 or PKCS#1) and returns its public key fingerprint. */
export function keyFingerprint(pem: string): string {
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(pem))
    throw new NonRetriableError("privateKey is not an unencrypted PEM private key", {
      field: "privateKey",
      fix: "upload the .p8 file (-----BEGIN PRIVATE KEY-----); decrypt an encrypted key first",
    });
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new NonRetriableError("privateKey could not be read as a private key", {
      field: "privateKey",
      fix: "upload the PEM file Snowflake's key-pair setup produced",
    });
  }
  const der = createPublicKey(key).export({ type: "spki", format: "der" });
  return `SHA256:${createHash("sha256").update(der).digest("base64")}`;
}

export function localSecretWriter(file: string): SecretWriter {
  return {
    async put(name, value) {
      let current: Record<string, string> = {};
      try {
        current = JSON.parse(await readFile(file, "utf8")) as Record<string, string>;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      current[name] = value;
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(current, null, 2), { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, file);
    },
  };
}

export function gcpSecretWriter(projectId: string): SecretWriter {
  return {
    async put(name, value) {
      const { SecretManagerServiceClient } = await import("@google-cloud/secret-manager");
      const client = new SecretManagerServiceClient({ projectId });
      await client.addSecretVersion({
        parent: `projects/${projectId}/secrets/${name}`,
        payload: { data: Buffer.from(value, "utf8") },
      });
    },
  };
}
