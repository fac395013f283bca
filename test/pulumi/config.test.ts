import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { accountId } from "../../pulumi/components/names.ts";
import {
  DEFAULT_SIZES,
  parseStackConfig,
  readStackConfig,
  stackConfigFromFile,
} from "../../pulumi/config.ts";
import { enabledPipelines } from "../../pulumi/stack.ts";
import { ConfigError } from "../../shared/core/errors.ts";
import { FIXTURES, fixtureConfig } from "./fixtures.ts";

const REQUIRED = { "gcp:project": "my-project-1", "gcp:region": "europe-west1" };
const from = (values: Record<string, string>) => parseStackConfig((k) => values[k]);

describe("parseStackConfig", () => {
  it("fills every default from the two required keys", () => {
    expect(from(REQUIRED)).toEqual({
      project: "my-project-1",
      region: "europe-west1",
      namePrefix: "tessera",
      scheduleTimeZone: "Etc/UTC",
      datasetLocation: "europe-west1",
      imageTag: "latest",
      pipelines: "all",
      consoleAllowedDomains: [],
      deletionProtection: true,
      sizes: DEFAULT_SIZES,
    });
  });

  it("reads structured values as JSON, as pulumi.Config.get returns them", () => {
    const c = from({
      ...REQUIRED,
      "tessera:pipelines": '["mozaic-daily","taar"]',
      "tessera:sizes": '{"functionMaxInstances":3,"bigtableStorageType":"HDD"}',
      "tessera:deletionProtection": "false",
      "tessera:consoleAllowedDomains": '["example.com"]',
      "tessera:consoleHostname": "console.example.com",
    });
    expect(c.consoleHostname).toBe("console.example.com");
    expect(c.pipelines).toEqual(["mozaic-daily", "taar"]);
    expect(c.sizes).toEqual({ ...DEFAULT_SIZES, functionMaxInstances: 3, bigtableStorageType: "HDD" });
    expect(c.deletionProtection).toBe(false);
    expect(c.consoleAllowedDomains).toEqual(["example.com"]);
  });

  it.each([
    [{ "gcp:region": "europe-west1" }, "gcp:project", /required.*pulumi config set gcp:project/],
    [{ ...REQUIRED, "gcp:region": "Europe" }, "gcp:region", /region/],
    [{ ...REQUIRED, "tessera:scheduleTimeZone": "Mars/Olympus" }, "tessera:scheduleTimeZone", /IANA/],
    [
      { ...REQUIRED, "tessera:consoleHostname": "https://x.example.com/" },
      "tessera:consoleHostname",
      /hostname/,
    ],
    [
      { ...REQUIRED, "tessera:sizes": '{"maxDeliveryAttempts":2}' },
      "tessera:sizes.maxDeliveryAttempts",
      /5|greater/,
    ],
    [{ ...REQUIRED, "tessera:sizes": '{"nodes":2}' }, "tessera:sizes", /nodes|unrecognized/i],
    [{ ...REQUIRED, "tessera:sizes": "{nodes" }, "tessera:sizes", /JSON/],
    [{ ...REQUIRED, "tessera:pipelines": '"some"' }, "tessera:pipelines", /./],
  ])("rejects %j naming %s", (values, variable, message) => {
    try {
      from(values as Record<string, string>);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(variable);
      expect((err as Error).message).toMatch(message);
    }
  });

  it("accepts the committed example stack, Pulumi.dev.yaml", () => {
    const file = parse(readFileSync(join(import.meta.dirname, "..", "..", "Pulumi.dev.yaml"), "utf8")) as {
      config: Record<string, unknown>;
    };
    const c = stackConfigFromFile(file.config);
    expect([c.project, c.region, c.datasetLocation, c.pipelines, c.consoleAllowedDomains]).toEqual([
      "tessera-dev-0001",
      "europe-west1",
      "EU",
      "all",
      ["example.com"],
    ]);
  });

  it("reads the same keys through pulumi.Config inside a Pulumi program", async () => {
    const pulumi = await import("@pulumi/pulumi");
    pulumi.runtime.setAllConfig({
      "gcp:project": "my-project-1",
      "gcp:region": "us-central1",
      "tessera:pipelines": '["taar"]',
      "tessera:sizes": '{"bigtableNodes":3}',
    });
    const c = await readStackConfig();
    expect([c.project, c.region, c.pipelines, c.sizes.bigtableNodes, c.namePrefix]).toEqual([
      "my-project-1",
      "us-central1",
      ["taar"],
      3,
      "tessera",
    ]);
  });

  it("refuses to plan offline with an encrypted value", () => {
    expect(() => stackConfigFromFile({ ...REQUIRED, "tessera:imageTag": { secure: "v1:abc" } })).toThrow(
      /secret/,
    );
  });
});

describe("enabledPipelines", () => {
  it("deploys all registered pipelines, or exactly the configured ones in that order", () => {
    expect(enabledPipelines(fixtureConfig, FIXTURES).map((p) => p.id)).toEqual(["fx-daily", "fx-models"]);
    expect(
      enabledPipelines({ ...fixtureConfig, pipelines: ["fx-models"] }, FIXTURES).map((p) => p.id),
    ).toEqual(["fx-models"]);
  });
  it("names an unregistered id and the registered ones", () => {
    expect(() => enabledPipelines({ ...fixtureConfig, pipelines: ["fx-nope"] }, FIXTURES)).toThrow(
      /unregistered pipelines: fx-nope/,
    );
  });
});

describe("accountId", () => {
  it("keeps short ids readable and cuts long ones with a hash, within 6..30 characters", () => {
    expect(accountId("mozaic-daily", "wf")).toBe("mozaic-daily-wf");
    const a = accountId("a-very-long-pipeline-identifier-x", "job");
    const b = accountId("a-very-long-pipeline-identifier-y", "job");
    expect(a).not.toBe(b);
    for (const id of [a, b, accountId("ab", "wf")]) expect(id).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
  });
});
