import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGcpSecrets } from "../../shared/adapters/gcp/secrets.ts";
import { createLocalSecrets, envVariableFor } from "../../shared/adapters/local/secrets.ts";
import { NotFoundError, type Secrets } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { type LoopbackServer, sendJson, startLoopbackServer } from "../helpers/loopback-http.ts";

process.env.METADATA_SERVER_DETECTION = "none";
process.env.GCE_METADATA_HOST = "127.0.0.1:9";

const dir = mkdtempSync(join(tmpdir(), "tessera-secrets-"));
const STORED: Record<string, string> = { "snowflake-password": "s3cr3t", "amo-token": "tök€n" };
let server: LoopbackServer;

beforeAll(async () => {
  // Secret Manager's REST surface (the client's HTTP/1 fallback transport): versions/latest:access.
  server = await startLoopbackServer((req, res) => {
    const m = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/latest:access$/.exec(req.path);
    if (req.method !== "GET" || !m)
      return sendJson(res, 400, { error: { code: 400, message: `unexpected ${req.method} ${req.path}` } });
    const value = STORED[m[2]];
    if (value === undefined || m[1] !== "tessera-test") {
      return sendJson(res, 404, {
        error: { code: 404, message: `Secret [${m[2]}] not found`, status: "NOT_FOUND" },
      });
    }
    sendJson(res, 200, {
      name: `projects/1/secrets/${m[2]}/versions/3`,
      payload: { data: Buffer.from(value).toString("base64") },
    });
  });
  writeFileSync(join(dir, "secrets.json"), JSON.stringify({ "amo-token": "tök€n" }));
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function secretsContract(label: string, make: () => Secrets): void {
  describe(`secrets contract: ${label}`, () => {
    it("returns the latest value of a secret", async () => {
      expect(await make().get("snowflake-password")).toBe("s3cr3t");
      expect(await make().get("amo-token")).toBe("tök€n");
    });
    it("reports a missing secret as NotFoundError naming it", async () => {
      await expect(make().get("no-such-secret")).rejects.toBeInstanceOf(NotFoundError);
      await expect(make().get("no-such-secret")).rejects.toThrow(/no-such-secret/);
    });
    it("rejects names that are not secret names", async () => {
      await expect(make().get("../etc/passwd")).rejects.toBeInstanceOf(NonRetriableError);
      await expect(make().get("")).rejects.toBeInstanceOf(NonRetriableError);
    });
  });
}

secretsContract("env and file", () =>
  createLocalSecrets({
    env: { [envVariableFor("snowflake-password")]: "s3cr3t" },
    file: join(dir, "secrets.json"),
  }),
);

secretsContract("Secret Manager client against a loopback REST server", () => {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: "fake-token", expiry_date: Date.now() + 3_600_000 });
  const client = new SecretManagerServiceClient({
    projectId: "tessera-test",
    apiEndpoint: "127.0.0.1",
    port: server.port,
    protocol: "http",
    fallback: true,
    authClient: auth,
  } as ConstructorParameters<typeof SecretManagerServiceClient>[0]);
  return createGcpSecrets({ projectId: "tessera-test", client });
});

describe("local secrets specifics", () => {
  it("maps names to TESSERA_SECRET_ variables and prefers the environment over the file", async () => {
    expect(envVariableFor("snowflake-password")).toBe("TESSERA_SECRET_SNOWFLAKE_PASSWORD");
    const s = createLocalSecrets({
      env: { TESSERA_SECRET_AMO_TOKEN: "from-env" },
      file: join(dir, "secrets.json"),
    });
    expect(await s.get("amo-token")).toBe("from-env");
  });

  it("says where it looked, and names a broken file", async () => {
    const s = createLocalSecrets({ env: {}, file: join(dir, "secrets.json") });
    await expect(s.get("pg-password")).rejects.toThrow(/TESSERA_SECRET_PG_PASSWORD.*secrets\.json/);
    await expect(
      createLocalSecrets({ env: {}, file: join(dir, "absent.json") }).get("x"),
    ).rejects.toBeInstanceOf(NotFoundError);
    writeFileSync(join(dir, "broken.json"), "{ not json");
    await expect(createLocalSecrets({ env: {}, file: join(dir, "broken.json") }).get("x")).rejects.toThrow(
      /broken\.json.*JSON/,
    );
  });

  it("checks the REST call the Secret Manager client makes", () => {
    expect(server.requests.length).toBeGreaterThan(0);
    expect(
      server.requests.every((r) => r.method === "GET" && r.path.endsWith("/versions/latest:access")),
    ).toBe(true);
    expect(String(server.requests[0].headers.authorization)).toBe("Bearer fake-token");
  });
});
