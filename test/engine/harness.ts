import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { Io } from "../../shared/cli/verb.ts";
import { createWorkflowVerb } from "../../shared/cli/workflow.ts";
import type { ConnectorHost, StubOutcome } from "../../shared/engine/connectors.ts";
import { type ExecutionRecord, WorkflowEngine } from "../../shared/engine/engine.ts";
import type { Limits } from "../../shared/engine/interpreter.ts";
import { validateSource } from "../../shared/engine/validate.ts";

/**
 * Conformance cases: `test/engine/cases/*.yaml`, each a list of
 * `{name, rule, workflow: |<yaml>, args?, env?, stubs?, result? | error? | findings?, sleeps?}`.
 * `error` matches the raised value: a string exactly, a map as a subset (`{tags: [KeyError]}`).
 * `findings` lists `[line, "message fragment"]` pairs the validator must report (and nothing runs).
 */
export interface Case {
  file: string;
  name: string;
  rule?: string;
  workflow: string;
  args?: unknown;
  env?: Record<string, string>;
  stubs?: Record<string, StubOutcome>;
  result?: unknown;
  error?: unknown;
  findings?: [number, string][];
  sleeps?: number[];
  /** Skip the CLI pass (cases needing a host). */
  apiOnly?: boolean;
}

export const CASES_DIR = join(import.meta.dirname, "cases");

export function loadCases(): Case[] {
  const out: Case[] = [];
  for (const f of readdirSync(CASES_DIR)
    .filter((x) => x.endsWith(".yaml"))
    .sort()) {
    const list = parse(readFileSync(join(CASES_DIR, f), "utf8")) as Omit<Case, "file">[];
    for (const c of list) out.push({ ...c, file: f });
  }
  return out;
}

export function hasExpectation(c: Case): "result" | "error" | "findings" {
  if (c.findings) return "findings";
  if ("error" in c) return "error";
  return "result";
}

export async function runCase(
  c: Case,
  options: { host?: ConnectorHost; limits?: Partial<Limits> } = {},
): Promise<ExecutionRecord> {
  const engine = new WorkflowEngine({
    virtualClock: true,
    env: c.env,
    stubs: c.stubs,
    host: options.host,
    limits: options.limits,
  });
  const program = engine.compile(c.workflow, `${c.name}.yaml`);
  return engine.run(program, { argument: c.args ?? null });
}

export function caseFindings(c: Case) {
  return validateSource(c.workflow, `${c.name}.yaml`);
}

/** Does `actual` contain everything in `expected` (maps as subsets, lists and scalars exactly)? */
export function matches(actual: unknown, expected: unknown): boolean {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
    return Object.entries(expected as Record<string, unknown>).every(([k, v]) =>
      matches((actual as Record<string, unknown>)[k], v),
    );
  }
  if (Array.isArray(expected))
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((v, i) => matches(actual[i], v))
    );
  return actual === expected;
}

export function fakeIo(
  cwd: string,
  env: Record<string, string> = {},
): Io & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    cwd,
    out: () => out,
    err: () => err,
  };
}

export const workflowVerb = createWorkflowVerb();
