import { describe, expect, it } from "vitest";
import {
  boolean,
  hostPort,
  integer,
  oneOf,
  parseConfig,
  port,
  setting,
  text,
} from "../../shared/core/config.ts";
import { ConfigError } from "../../shared/core/errors.ts";
import { loadRuntimeConfig } from "../../shared/runtime/config.ts";

const spec = {
  mode: setting("MODE", { default: "local", parse: oneOf(["local", "gcp"] as const) }),
  port: setting("PORT", { default: "8080", parse: port }),
  verbose: setting("VERBOSE", { default: "false", parse: boolean }),
  emulator: setting("EMU", { optional: true, parse: hostPort }),
  name: setting("NAME", { parse: text }),
  workers: setting("WORKERS", { default: "2", parse: integer(1, 64) }),
};

describe("parseConfig", () => {
  const ok: { env: Record<string, string>; expected: Record<string, unknown> }[] = [
    {
      env: { NAME: "a" },
      expected: { mode: "local", port: 8080, verbose: false, emulator: undefined, name: "a", workers: 2 },
    },
    {
      env: { NAME: "b", MODE: "gcp", PORT: "0", VERBOSE: "yes", EMU: "127.0.0.1:8085", WORKERS: "64" },
      expected: { mode: "gcp", port: 0, verbose: true, emulator: "127.0.0.1:8085", name: "b", workers: 64 },
    },
    {
      env: { NAME: "c", PORT: "" },
      expected: { mode: "local", port: 8080, verbose: false, emulator: undefined, name: "c", workers: 2 },
    },
  ];
  for (const [i, c] of ok.entries()) {
    it(`parses case ${i}`, () => expect(parseConfig(spec, c.env)).toEqual(c.expected));
  }

  const bad: { env: Record<string, string>; variable: string; message: RegExp }[] = [
    { env: {}, variable: "NAME", message: /NAME: is required/ },
    { env: { NAME: "x", MODE: "aws" }, variable: "MODE", message: /MODE: must be one of local, gcp/ },
    {
      env: { NAME: "x", PORT: "70000" },
      variable: "PORT",
      message: /PORT: must be an integer in \[0, 65535\]/,
    },
    { env: { NAME: "x", VERBOSE: "maybe" }, variable: "VERBOSE", message: /VERBOSE: must be true or false/ },
    { env: { NAME: "x", EMU: "localhost" }, variable: "EMU", message: /EMU: must be host:port/ },
    { env: { NAME: "x", WORKERS: "1.5" }, variable: "WORKERS", message: /WORKERS/ },
  ];
  for (const c of bad) {
    it(`names ${c.variable} when it is wrong`, () => {
      let caught: unknown;
      try {
        parseConfig(spec, c.env);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).variable).toBe(c.variable);
      expect((caught as Error).message).toMatch(c.message);
    });
  }

  it("reads the runtime settings without touching process.env", () => {
    const c = loadRuntimeConfig({ TESSERA_STATE_DIR: "state" }, "/tmp/x");
    expect(c.mode).toBe("local");
    expect(c.stateDir).toBe("/tmp/x/state");
    expect(() => loadRuntimeConfig({ TESSERA_MODE: "gcp" })).toThrow(/GOOGLE_CLOUD_PROJECT/);
    expect(() => loadRuntimeConfig({ TESSERA_MODE: "gcp", GOOGLE_CLOUD_PROJECT: "Bad_Project" })).toThrow(
      /not a valid Google Cloud project id/,
    );
    expect(loadRuntimeConfig({ TESSERA_MODE: "gcp", GOOGLE_CLOUD_PROJECT: "my-project-1" }).project).toBe(
      "my-project-1",
    );
  });
});
