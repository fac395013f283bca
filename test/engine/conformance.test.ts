import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type Case,
  caseFindings,
  fakeIo,
  hasExpectation,
  loadCases,
  matches,
  runCase,
  workflowVerb,
} from "./harness.ts";

const cases = loadCases();
const dir = mkdtempSync(join(tmpdir(), "tessera-engine-cases-"));

function expectOutcome(c: Case, state: string, result: unknown, error: unknown) {
  if (hasExpectation(c) === "error") {
    expect(state, `expected FAILED with ${JSON.stringify(c.error)}, got ${JSON.stringify(result)}`).toBe(
      "FAILED",
    );
    expect(
      matches(error, c.error),
      `error ${JSON.stringify(error)} does not match ${JSON.stringify(c.error)}`,
    ).toBe(true);
  } else {
    expect(state, `unexpected error ${JSON.stringify(error)}`).toBe("SUCCEEDED");
    expect(result).toEqual(c.result ?? null);
  }
}

describe("conformance: API", () => {
  it("has well over 100 cases", () => {
    expect(cases.length).toBeGreaterThan(100);
  });
  for (const c of cases) {
    it(`${c.file} ${c.name}`, async () => {
      if (hasExpectation(c) === "findings") {
        const findings = caseFindings(c);
        for (const [line, fragment] of c.findings ?? []) {
          expect(
            findings.some((f) => f.line === line && f.message.includes(fragment)),
            `no finding "${fragment}" at line ${line}: ${JSON.stringify(findings)}`,
          ).toBe(true);
        }
        return;
      }
      expect(caseFindings(c), "a runnable case must validate cleanly").toEqual([]);
      const r = await runCase(c);
      expectOutcome(c, r.state, r.result, r.error);
      if (c.sleeps) expect(r.sleeps).toEqual(c.sleeps);
    });
  }
});

describe("conformance: CLI contract (in-process verb)", () => {
  for (const c of cases.filter((x) => !x.apiOnly)) {
    it(`${c.file} ${c.name}`, async () => {
      const file = join(dir, `${c.file}-${c.name}.yaml`);
      writeFileSync(file, c.workflow);
      const argv = ["run", file, "--virtual-clock", "--data", JSON.stringify(c.args ?? null)];
      for (const [k, v] of Object.entries(c.env ?? {})) argv.push("--env", `${k}=${v}`);
      if (c.stubs) {
        const stubFile = join(dir, `${c.file}-${c.name}.stubs.json`);
        writeFileSync(stubFile, JSON.stringify(c.stubs));
        argv.push("--connector-stub", stubFile);
      }
      const io = fakeIo(dir);
      const code = await workflowVerb.run(argv, io);
      if (hasExpectation(c) === "findings") {
        expect(code).toBe(2);
        expect(io.err()).toContain(c.name);
        return;
      }
      const out = JSON.parse(io.out());
      expect(Object.keys(out).sort()).toEqual(["error", "result", "sleeps", "state"]);
      expectOutcome(c, out.state, out.result, out.error);
      expect(code).toBe(out.state === "SUCCEEDED" ? 0 : 1);
      if (c.sleeps) expect(out.sleeps).toEqual(c.sleeps);
    });
  }
});
