import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METADATA_TOKEN_PATH } from "../../shared/adapters/gcp/rest.ts";
import type { OpsContext } from "../../shared/ops/context.ts";
import { currentContext, provideContext, setContextFactory } from "../../shared/ops/handlers.ts";
import { prewarmDeployed } from "../../shared/ops/prewarm.ts";
import { type GoogleStandIn, standInEnv, startGoogleStandIn } from "./google-standin.ts";

let google: GoogleStandIn;
beforeAll(async () => {
  google = await startGoogleStandIn("tok-pre");
});
afterAll(async () => {
  await google?.close();
});

const tokenCalls = () => google.requests.filter((r) => r.path === METADATA_TOKEN_PATH).length;

describe("prewarmDeployed: a deployed function's first request finds its token and context under way", () => {
  it("does nothing outside gcp mode", async () => {
    let made = 0;
    setContextFactory(async () => {
      made++;
      return {} as OpsContext;
    });
    prewarmDeployed({ TESSERA_MODE: "local", ...standInEnv(google, "http://127.0.0.1:9") });
    await new Promise((r) => setTimeout(r, 20));
    expect(made).toBe(0);
    expect(tokenCalls()).toBe(0);
  });

  it("in gcp mode fetches the token and builds the context once, which the first request then uses", async () => {
    let made = 0;
    const ctx = { marker: "ctx" } as unknown as OpsContext;
    setContextFactory(async () => {
      made++;
      return ctx;
    });
    prewarmDeployed({ TESSERA_MODE: "gcp", ...standInEnv(google, "http://127.0.0.1:9") });
    expect(made).toBe(1);
    expect(await currentContext()).toBe(ctx);
    expect(made).toBe(1);
    for (let i = 0; i < 50 && tokenCalls() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(tokenCalls()).toBe(1);
  });

  it("leaves a failing context to the first request (no unhandled rejection) and a provided one alone", async () => {
    setContextFactory(async () => {
      throw new Error("bad config");
    });
    prewarmDeployed({ TESSERA_MODE: "gcp", ...standInEnv(google, "http://127.0.0.1:9") });
    await new Promise((r) => setTimeout(r, 10));
    await expect(currentContext()).rejects.toThrow("bad config");

    let made = 0;
    setContextFactory(async () => {
      made++;
      return {} as OpsContext;
    });
    const provided = {} as OpsContext;
    provideContext(provided);
    prewarmDeployed({ TESSERA_MODE: "gcp", ...standInEnv(google, "http://127.0.0.1:9") });
    expect(made).toBe(0);
    expect(await currentContext()).toBe(provided);
    provideContext(undefined);
  });
});
