import type { IncomingHttpHeaders } from "node:http";

/**
 * Who may use the console.
 *
 * - Deployed (`TESSERA_MODE=gcp`): every route needs a verified Google token: the IAP assertion
 *   (`x-goog-iap-jwt-assertion`, ES256, issuer `https://cloud.google.com/iap`) or a Google ID token
 *   (`Authorization: Bearer`, RS256, issuer `accounts.google.com`). The signature is checked against Google's
 *   published keys, the audience against `TESSERA_CONSOLE_AUDIENCE`, and the email's domain against
 *   `TESSERA_CONSOLE_ALLOWED_DOMAINS` (comma-separated; the original app's `allowed_domains`).
 *   No token or a bad one: 401. A valid token from another domain (or an unverified email): 403.
 * - Local twin: only loopback peers (127.0.0.0/8, ::1); anyone else gets 403. The user is `local`.
 */

export interface AuthSettings {
  mode: "local" | "gcp";
  allowedDomains: string[];
  audience?: string;
  /** Google's signing keys as `kid -> PEM`; tests pass a stubbed set, deployed they are fetched and cached. */
  keys?: KeySource;
}

export interface KeySource {
  idToken(): Promise<Record<string, string>>;
  iap(): Promise<Record<string, string>>;
}

export type AuthResult = { ok: true; user: string } | { ok: false; status: 401 | 403; reason: string };

const ID_ISSUERS = ["accounts.google.com", "https://accounts.google.com"];
const IAP_ISSUERS = ["https://cloud.google.com/iap"];

export function authSettingsFromEnv(env: Record<string, string | undefined>): AuthSettings {
  return {
    mode: env.TESSERA_MODE === "gcp" ? "gcp" : "local",
    allowedDomains: (env.TESSERA_CONSOLE_ALLOWED_DOMAINS ?? "")
      .split(",")
      .map((d) => d.trim().toLowerCase())
      .filter(Boolean),
    audience: env.TESSERA_CONSOLE_AUDIENCE || undefined,
  };
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.replace(/^::ffff:/, "");
  return a === "::1" || /^127\.\d+\.\d+\.\d+$/.test(a);
}

type Client = import("google-auth-library").OAuth2Client;
let client: Client | undefined;

async function oauthClient(): Promise<Client> {
  if (!client) {
    const { OAuth2Client } = await import("google-auth-library");
    client = new OAuth2Client();
  }
  return client;
}

/** Google's keys, fetched by the library (which caches them by the response's max-age). */
export const googleKeys: KeySource = {
  async idToken() {
    return (await (await oauthClient()).getFederatedSignonCertsAsync()).certs as Record<string, string>;
  },
  async iap() {
    return (await (await oauthClient()).getIapPublicKeysAsync()).pubkeys;
  },
};

export async function authenticate(
  settings: AuthSettings,
  headers: IncomingHttpHeaders,
  remoteAddress: string | undefined,
): Promise<AuthResult> {
  if (settings.mode === "local") {
    return isLoopback(remoteAddress)
      ? { ok: true, user: "local" }
      : { ok: false, status: 403, reason: "the local console answers loopback clients only" };
  }
  const iap = headers["x-goog-iap-jwt-assertion"];
  const bearer = /^Bearer\s+(\S+)$/i.exec(String(headers.authorization ?? ""))?.[1];
  const token = typeof iap === "string" && iap ? iap : bearer;
  if (!token)
    return {
      ok: false,
      status: 401,
      reason: "sign in: send an IAP assertion or a Google ID token (Authorization: Bearer)",
    };
  if (!settings.audience)
    return {
      ok: false,
      status: 401,
      reason: "TESSERA_CONSOLE_AUDIENCE is not set, so no token can be checked",
    };
  const keys = settings.keys ?? googleKeys;
  let payload: { email?: string; email_verified?: boolean } | undefined;
  try {
    const c = await oauthClient();
    const isIap = token === iap;
    const ticket = await c.verifySignedJwtWithCertsAsync(
      token,
      isIap ? await keys.iap() : await keys.idToken(),
      settings.audience,
      isIap ? IAP_ISSUERS : ID_ISSUERS,
    );
    payload = ticket.getPayload();
    // IAP assertions carry no email_verified: IAP only signs verified identities.
    if (!isIap && payload?.email_verified !== true)
      return { ok: false, status: 403, reason: "the token's email is not verified" };
  } catch (err) {
    return { ok: false, status: 401, reason: `invalid token: ${(err as Error).message}` };
  }
  const email = String(payload?.email ?? "")
    .replace(/^accounts\.google\.com:/, "")
    .toLowerCase();
  const domain = email.split("@")[1];
  if (!domain || !settings.allowedDomains.includes(domain))
    return {
      ok: false,
      status: 403,
      reason: `${email || "this account"} is not in an allowed domain (TESSERA_CONSOLE_ALLOWED_DOMAINS)`,
    };
  return { ok: true, user: email };
}
