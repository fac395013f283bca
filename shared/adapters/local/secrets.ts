import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { NonRetriableError } from "../../core/errors.ts";
import { NotFoundError, type Secrets } from "../ports.ts";

/**
 * Secret Manager's local stand-in: a secret `snowflake-password` is read from the environment variable
 * `TESSERA_SECRET_SNOWFLAKE_PASSWORD` (name upper-cased, every non-alphanumeric character an underscore), else
 * from the JSON file `{ "snowflake-password": "..." }` (default `<stateDir>/secrets.json`, read on every get so
 * edits apply at once). The environment wins. A missing secret is a NotFoundError saying where it looked.
 */

export interface LocalSecretsOptions {
  /** The environment to read (`process.env` by default). */
  env?: Record<string, string | undefined>;
  /** The JSON file of name -> value; optional. */
  file?: string;
}

const NAME = /^[A-Za-z0-9_-]{1,255}$/;

export function envVariableFor(name: string): string {
  return `TESSERA_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export function createLocalSecrets(options: LocalSecretsOptions = {}): Secrets {
  const env = options.env ?? process.env;
  const file = options.file === undefined ? undefined : resolve(options.file);
  return {
    async get(name) {
      checkSecretName(name);
      const variable = envVariableFor(name);
      const fromEnv = env[variable];
      if (fromEnv !== undefined) return fromEnv;
      if (file) {
        let text: string | undefined;
        try {
          text = await readFile(file, "utf8");
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
        if (text !== undefined) {
          let values: unknown;
          try {
            values = JSON.parse(text);
          } catch (err) {
            throw new NonRetriableError(`secrets file ${file} is not valid JSON: ${(err as Error).message}`, {
              field: file,
              fix: 'write an object of secret name -> string value, e.g. {"snowflake-password": "..."}',
            });
          }
          if (values === null || typeof values !== "object" || Array.isArray(values)) {
            throw new NonRetriableError(`secrets file ${file} must hold a JSON object of name -> value`, {
              field: file,
            });
          }
          const value = (values as Record<string, unknown>)[name];
          if (typeof value === "string") return value;
          if (value !== undefined) {
            throw new NonRetriableError(`secret "${name}" in ${file} must be a string`, {
              field: `${file}#${name}`,
            });
          }
        }
      }
      throw new NotFoundError(
        `secret "${name}" (looked in env ${variable}${file ? ` and in ${file}` : ""}; set one of them)`,
      );
    },
  };
}

export function checkSecretName(name: string): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new NonRetriableError(`secret name "${String(name)}" is invalid`, {
      field: "secret",
      fix: "use 1-255 letters, digits, '-' and '_' (Secret Manager's rule)",
    });
  }
  return name;
}
