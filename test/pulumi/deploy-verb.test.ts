import { describe, expect, it } from "vitest";
import verb from "../../shared/cli/deploy.ts";
import { type Io, UsageError } from "../../shared/cli/verb.ts";

function io(
  env: Record<string, string | undefined> = process.env,
): Io & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    cwd: process.cwd(),
    out: () => out,
    err: () => err,
  };
}

describe("tessera deploy", () => {
  it("--plan lists every resource of the dev stack from a mock run, with the count", async () => {
    const t = io();
    expect(await verb.run(["--plan"], t)).toBe(0);
    const lines = t.out().split("\n");
    expect(lines[0]).toMatch(/^TYPE\s+NAME$/);
    for (const role of ["data", "artifacts", "sources", "state"]) {
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^gcp:storage/bucket:Bucket\\s+tessera-dev-0001-tessera-${role}$`)),
      );
    }
    expect(lines).toContainEqual(expect.stringMatching(/^gcp:pubsub\/topic:Topic\s+tessera-dead-letters$/));
    // The console (functions/console) is in the plan, behind the IAP load balancer of the dev stack's hostname.
    expect(lines).toContainEqual(
      expect.stringMatching(/^gcp:cloudfunctionsv2\/function:Function\s+tessera-console$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^gcp:compute\/backendService:BackendService\s+tessera-console$/),
    );
    const rows = lines.slice(1, lines.indexOf(""));
    expect(t.out()).toContain(
      `\n${rows.length} resources would be created for stack "dev" (mock run, nothing was deployed)\n`,
    );
  }, 120_000);

  it("--plan --json prints the same rows as JSON", async () => {
    const t = io();
    expect(await verb.run(["--plan", "--json"], t)).toBe(0);
    const rows = JSON.parse(t.out()) as { type: string; name: string }[];
    expect(rows).toContainEqual({ type: "gcp:artifactregistry/repository:Repository", name: "tessera" });
  }, 120_000);

  it("says clearly that the Pulumi CLI is needed, exit 2, when it is not on PATH", async () => {
    const t = io({ PATH: "/nonexistent" });
    expect(await verb.run([], t)).toBe(2);
    expect(t.err()).toMatch(/Pulumi CLI is not on PATH/);
    expect(t.err()).toMatch(/tessera deploy --plan/);
  });

  it("names the missing stack file and how to create it", async () => {
    await expect(verb.run(["--plan", "--stack", "nope"], io())).rejects.toThrow(UsageError);
    await expect(verb.run(["--stack", "nope"], io())).rejects.toThrow(/pulumi stack init nope/);
  });
});
