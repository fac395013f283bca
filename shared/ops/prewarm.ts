import { prefetchToken } from "../adapters/gcp/rest.ts";
import { prepareContext } from "./handlers.ts";

/**
 * Called by each deployed function module at load: when deployed (`TESSERA_MODE=gcp`), start what its
 * first request will wait for, so that it overlaps the framework's setup and the wait for that request: the
 * access token (every deployed request calls a Google API with it) and the operations context (the adapter
 * modules it loads). Nothing is served or written. Elsewhere (the local twin, tests) it does nothing.
 */
export function prewarmDeployed(env: Record<string, string | undefined> = process.env): void {
  if (env.TESSERA_MODE !== "gcp") return;
  void prefetchToken(env);
  prepareContext();
}
