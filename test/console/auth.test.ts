import { createSign, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticate, isLoopback, type KeySource } from "../../functions/console/auth.ts";
import { consoleHandler, setConsoleAuth, setConsoleDeps } from "../../functions/console/index.ts";
import { type HostedFunction, hostFunction, stopFunction } from "../../shared/runtime/functions-host.ts";
import { registry } from "../fixtures/twin/registry.ts";
import { type ReadOnlyConsole, readOnlyConsole } from "./year-fixture.ts";

/**
 * Deployed auth on the real handler: Google ID tokens (RS256) and IAP assertions (ES256) signed here with
 * test keys, verified by google-auth-library against a stubbed key set (no network). No token: 401; a token
 * from another domain: 403; the right domain: 200 on every kind of route. Locally: loopback peers only.
 */

const AUDIENCE = "https://console.example.test";
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const pem = (k: KeyObject) => k.export({ type: "spki", format: "pem" }).toString();

const keys: KeySource = {
  idToken: async () => ({ "test-rsa": pem(rsa.publicKey) }),
  iap: async () => ({ "test-ec": pem(ec.publicKey) }),
};

function idToken(claims: Record<string, unknown>, key = rsa.privateKey, kid = "test-rsa"): string {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "RS256", kid, typ: "JWT" })}.${b64({
    iss: "https://accounts.google.com",
    aud: AUDIENCE,
    iat: now,
    exp: now + 600,
    email_verified: true,
    ...claims,
  })}`;
  const s = createSign("RSA-SHA256").update(body).sign(key).toString("base64url");
  return `${body}.${s}`;
}

function iapAssertion(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "ES256", kid: "test-ec", typ: "JWT" })}.${b64({
    iss: "https://cloud.google.com/iap",
    aud: AUDIENCE,
    iat: now,
    exp: now + 600,
    ...claims,
  })}`;
  // JWS ES256 signatures are r||s (IEEE P1363), not DER.
  const s = sign("sha256", Buffer.from(body), { key: ec.privateKey, dsaEncoding: "ieee-p1363" }).toString(
    "base64url",
  );
  return `${body}.${s}`;
}

describe("console auth on GCP", () => {
  let fn: HostedFunction;
  let ro: ReadOnlyConsole;

  beforeAll(async () => {
    ro = readOnlyConsole(registry, new Date("2025-01-01T00:00:00Z"));
    setConsoleDeps(ro.deps);
    setConsoleAuth({
      mode: "gcp",
      allowedDomains: ["example.org", "partner.example"],
      audience: AUDIENCE,
      keys,
    });
    void consoleHandler; // registered as the `console` target by importing the module
    fn = await hostFunction("console", "console");
  });
  afterAll(async () => {
    if (fn) await stopFunction(fn);
    setConsoleAuth(undefined);
    setConsoleDeps(undefined);
    await ro?.close();
    if (ro) rmSync(ro.stateDir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${fn.url}${path}`, { headers });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const ROUTES = ["/", "/assets/app.js", "/api/overview", "/api/mmm/anything", "/api/nothing"];

  it("answers 401 without a token on every route", async () => {
    for (const path of ROUTES) {
      const r = await get(path);
      expect(r.status, path).toBe(401);
      expect(((await r.json()) as { error: string }).error).toContain("sign in");
    }
  });

  it("answers 403 to a valid token from another domain, and to an unverified email", async () => {
    for (const path of ROUTES) {
      const r = await get(path, bearer(idToken({ email: "someone@elsewhere.com" })));
      expect(r.status, path).toBe(403);
      expect(((await r.json()) as { error: string }).error).toContain("someone@elsewhere.com");
    }
    const unverified = await get(
      "/api/overview",
      bearer(idToken({ email: "a@example.org", email_verified: false })),
    );
    expect(unverified.status).toBe(403);
    // A look-alike domain is another domain.
    expect((await get("/api/overview", bearer(idToken({ email: "a@badexample.org" })))).status).toBe(403);
  });

  it("answers 200 to the right domain with an ID token or an IAP assertion", async () => {
    const token = idToken({ email: "Ana@Example.org" });
    const api = await get("/api/overview", bearer(token));
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual([expect.objectContaining({ pipeline: "demo" })]);
    const me = await get("/api/me", bearer(token));
    expect(await me.json()).toEqual({ user: "ana@example.org", mode: "local" });
    const page = await get("/", bearer(token));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const iap = await get("/api/overview", {
      "x-goog-iap-jwt-assertion": iapAssertion({ email: "bo@partner.example" }),
    });
    expect(iap.status).toBe(200);
  });

  it("answers 401 to a token that is expired, for another audience, or signed by another key", async () => {
    const past = Math.floor(Date.now() / 1000) - 7200;
    const cases = {
      expired: idToken({ email: "a@example.org", iat: past, exp: past + 600 }),
      audience: idToken({ email: "a@example.org", aud: "https://other.test" }),
      key: idToken({ email: "a@example.org" }, other.privateKey),
      kid: idToken({ email: "a@example.org" }, rsa.privateKey, "unknown-kid"),
      issuer: idToken({ email: "a@example.org", iss: "https://evil.test" }),
      garbage: "not.a.token",
    };
    for (const [what, token] of Object.entries(cases)) {
      const r = await get("/api/overview", bearer(token));
      expect(r.status, what).toBe(401);
    }
    // An IAP header with an ID token's algorithm and key is not an IAP assertion.
    expect(
      (await get("/api/overview", { "x-goog-iap-jwt-assertion": idToken({ email: "a@example.org" }) }))
        .status,
    ).toBe(401);
  });
});

describe("console auth locally", () => {
  it("lets loopback peers in and nobody else", async () => {
    const local = { mode: "local" as const, allowedDomains: [] };
    for (const a of ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.1.2.3"]) {
      expect(isLoopback(a), a).toBe(true);
      expect(await authenticate(local, {}, a)).toEqual({ ok: true, user: "local" });
    }
    for (const a of ["10.0.0.5", "192.168.1.2", "::ffff:10.0.0.5", "2001:db8::1", undefined]) {
      const r = await authenticate(local, {}, a);
      expect(r, String(a)).toMatchObject({ ok: false, status: 403 });
    }
  });

  it("refuses every token when no audience is configured on GCP", async () => {
    const r = await authenticate(
      { mode: "gcp", allowedDomains: ["example.org"], keys },
      { authorization: `Bearer ${idToken({ email: "a@example.org" })}` },
      "10.0.0.1",
    );
    expect(r).toMatchObject({ ok: false, status: 401 });
  });
});
