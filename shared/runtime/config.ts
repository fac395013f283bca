import { isAbsolute, join } from "node:path";
import { gcpProjectId, oneOf, parseConfig, setting, text } from "../core/config.ts";
import { ConfigError } from "../core/errors.ts";

/** The settings every Tessera process reads once at start (README, "Configuration"). */
export function loadRuntimeConfig(env: Record<string, string | undefined>, cwd = process.cwd()) {
  const c = parseConfig(
    {
      mode: setting("TESSERA_MODE", { default: "local", parse: oneOf(["local", "gcp"] as const) }),
      stateDir: setting("TESSERA_STATE_DIR", { default: ".tessera", parse: text }),
      project: setting("GOOGLE_CLOUD_PROJECT", { optional: true, parse: gcpProjectId }),
      region: setting("TESSERA_REGION", { default: "europe-west1", parse: text }),
      dataBucket: setting("TESSERA_DATA_BUCKET", { default: "tessera-data", parse: text }),
      artifactsBucket: setting("TESSERA_ARTIFACTS_BUCKET", { default: "tessera-artifacts", parse: text }),
      stateBucket: setting("TESSERA_STATE_BUCKET", { default: "tessera-state", parse: text }),
    },
    env,
  );
  if (c.mode === "gcp" && !c.project) {
    throw new ConfigError("GOOGLE_CLOUD_PROJECT", "is required when TESSERA_MODE=gcp");
  }
  return { ...c, stateDir: isAbsolute(c.stateDir) ? c.stateDir : join(cwd, c.stateDir) };
}
export type RuntimeConfig = ReturnType<typeof loadRuntimeConfig>;
