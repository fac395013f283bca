import { ConfigError } from "./errors.ts";

/**
 * One pure config parser per process. Each setting is declared once with its variable, default and
 * validator; `env` is a parameter so tests never touch `process.env`.
 *
 * @example
 * const config = parseConfig({
 *   mode: setting("TESSERA_MODE", { default: "local", parse: oneOf(["local", "gcp"]) }),
 *   port: setting("PORT", { default: "8080", parse: port }),
 * }, process.env);
 */
export interface Setting<T> {
  variable: string;
  default?: string;
  optional?: boolean;
  parse: (raw: string, variable: string) => T;
}

export function setting<T>(
  variable: string,
  options: { default?: string; optional?: false; parse: (raw: string, variable: string) => T },
): Setting<T>;
export function setting<T>(
  variable: string,
  options: { optional: true; parse: (raw: string, variable: string) => T },
): Setting<T | undefined>;
export function setting<T>(
  variable: string,
  options: { default?: string; optional?: boolean; parse: (raw: string, variable: string) => T },
): Setting<T> {
  return { variable, ...options };
}

type Parsed<S> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export function parseConfig<S extends Record<string, Setting<unknown>>>(
  spec: S,
  env: Record<string, string | undefined>,
): Parsed<S> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spec)) {
    const raw = env[s.variable];
    if (raw === undefined || raw === "") {
      if (s.default !== undefined) out[key] = s.parse(s.default, s.variable);
      else if (s.optional) out[key] = undefined;
      else throw new ConfigError(s.variable, "is required but not set");
      continue;
    }
    out[key] = s.parse(raw, s.variable);
  }
  return out as Parsed<S>;
}

export const text = (raw: string): string => raw;

export function oneOf<const T extends string>(values: readonly T[]) {
  return (raw: string, variable: string): T => {
    if ((values as readonly string[]).includes(raw)) return raw as T;
    throw new ConfigError(variable, `must be one of ${values.join(", ")}, got "${raw}"`);
  };
}

export function integer(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string, variable: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(variable, `must be an integer in [${min}, ${max}], got "${raw}"`);
    }
    return n;
  };
}

export const port = integer(0, 65535);

export function boolean(raw: string, variable: string): boolean {
  const v = raw.toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError(variable, `must be true or false, got "${raw}"`);
}

/** `host:port`, as the emulator variables (`PUBSUB_EMULATOR_HOST`) take it. */
export function hostPort(raw: string, variable: string): string {
  if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(raw))
    throw new ConfigError(variable, `must be host:port, got "${raw}"`);
  return raw;
}

export function gcpProjectId(raw: string, variable: string): string {
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(raw)) {
    throw new ConfigError(variable, `is not a valid Google Cloud project id: "${raw}"`);
  }
  return raw;
}
