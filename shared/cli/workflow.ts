import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { ConnectorHost, StubOutcome } from "../engine/connectors.ts";
import { type EngineOptions, WorkflowEngine, WorkflowValidationError } from "../engine/engine.ts";
import { ParseError } from "../engine/parse.ts";
import { validateFile } from "../engine/validate.ts";
import { type Io, parseVerbArgs, UsageError, type Verb } from "./verb.ts";

/**
 * `tessera workflow run|validate`. `run` prints exactly one JSON object on stdout,
 * `{"state", "result", "error", "sleeps"}`, and exits 0 (SUCCEEDED), 1 (FAILED) or 2 (usage or parse error, the
 * message on stderr). Other tests rely on this contract.
 */

export interface WorkflowVerbOptions {
  /** The connector host for `run` (the local twin wires its adapters here); none by default. */
  host?: (io: Io) => ConnectorHost | Promise<ConnectorHost>;
  /** Extra engine options (e.g. a state directory). */
  engine?: (io: Io) => Partial<EngineOptions>;
}

const HELP = `Usage:
  tessera workflow run FILE [--data JSON] [--env NAME=VALUE]... [--connector-stub FILE] [--virtual-clock]
  tessera workflow validate FILE...

run       Runs a Cloud Workflows YAML/JSON file on the local interpreter and prints one JSON object:
          {"state": "SUCCEEDED"|"FAILED", "result": <value or null>, "error": <error or null>, "sleeps": [<seconds>...]}
          Exit code 0 when SUCCEEDED, 1 when FAILED, 2 on a usage or parse error (message on stderr).
validate  Reports, with file and line, what deployment would reject. Exit code 1 when anything is found.

Options (run):
  --data JSON             the execution argument, as gcloud workflows execute --data passes it (main's one parameter)
  --env NAME=VALUE        a user environment variable returned by sys.get_env (repeatable)
  --connector-stub FILE   JSON {"<connector or http method>": {"done": true, "response": {...}} | {"done": true, "error": {...}}}
                          replacing those calls with a finished operation
  --virtual-clock         sys.sleep, retry backoff and polling do not wait (delays are still listed in "sleeps")

Examples:
  tessera workflow run workflows-yaml/taar.workflows.yaml --data '{"partition": "2026-01-01"}' --virtual-clock
  tessera workflow run wf.yaml --connector-stub stubs.json --env STAGE=test
  tessera workflow validate workflows-yaml/*.workflows.yaml
`;

function readStubs(file: string, cwd: string): Record<string, StubOutcome> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(resolve(cwd, file), "utf8"));
  } catch (err) {
    throw new UsageError(`--connector-stub ${file}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new UsageError(`--connector-stub ${file}: expected a JSON object keyed by connector method`);
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const ok =
      v !== null &&
      typeof v === "object" &&
      (v as { done?: unknown }).done === true &&
      ("response" in (v as object) || "error" in (v as object));
    if (!ok)
      throw new UsageError(
        `--connector-stub ${file}: "${k}" must be {"done": true, "response": {...}} or {"done": true, "error": {...}}`,
      );
  }
  return raw as Record<string, StubOutcome>;
}

function envPairs(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf("=");
    if (i <= 0) throw new UsageError(`--env takes NAME=VALUE, got "${p}"`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

async function runCommand(argv: string[], io: Io, options: WorkflowVerbOptions): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, {
    data: { type: "string" },
    env: { type: "string", multiple: true },
    "connector-stub": { type: "string" },
    "virtual-clock": { type: "boolean" },
  });
  if (positionals.length !== 1) throw new UsageError("workflow run takes exactly one FILE");
  const file = resolve(io.cwd, positionals[0]);
  const data = values.data as string | undefined;
  if (data !== undefined) {
    try {
      JSON.parse(data);
    } catch (err) {
      throw new UsageError(`--data is not valid JSON: ${(err as Error).message}`);
    }
  }
  const stubs = values["connector-stub"] ? readStubs(values["connector-stub"] as string, io.cwd) : undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${positionals[0]}: ${(err as Error).message}`);
  }
  const host = options.host ? await options.host(io) : {};
  const engine = new WorkflowEngine({
    ...(options.engine?.(io) ?? {}),
    host,
    env: envPairs(values.env as string[] | undefined),
    stubs,
    virtualClock: values["virtual-clock"] === true,
  });
  let program: ReturnType<WorkflowEngine["compile"]>;
  try {
    program = engine.compile(text, positionals[0]);
  } catch (err) {
    if (err instanceof ParseError || err instanceof WorkflowValidationError) {
      io.stderr.write(`tessera workflow run: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const record = await engine.run(program, { argumentJson: data });
  const out = {
    state: record.state === "SUCCEEDED" ? "SUCCEEDED" : "FAILED",
    result: record.state === "SUCCEEDED" ? (record.result ?? null) : null,
    error: record.state === "SUCCEEDED" ? null : (record.error ?? null),
    sleeps: record.sleeps,
  };
  io.stdout.write(`${JSON.stringify(out)}\n`);
  return record.state === "SUCCEEDED" ? 0 : 1;
}

function validateCommand(argv: string[], io: Io): number {
  const { positionals } = parseVerbArgs(argv, {});
  if (positionals.length === 0) throw new UsageError("workflow validate takes one or more FILEs");
  let total = 0;
  for (const f of positionals) {
    const findings = validateFile(resolve(io.cwd, f)).map((x) => ({ ...x, file: f }));
    total += findings.length;
    if (findings.length === 0) io.stdout.write(`ok  ${f}\n`);
    for (const x of findings) io.stdout.write(`${x.file}:${x.line}: ${x.message}\n`);
  }
  if (total > 0) io.stdout.write(`${total} finding${total === 1 ? "" : "s"}\n`);
  return total > 0 ? 1 : 0;
}

/** The verb, with a host factory for the local twin. */
export function createWorkflowVerb(options: WorkflowVerbOptions = {}): Verb {
  return {
    name: "workflow",
    summary: "Run or validate a Cloud Workflows file on the local interpreter",
    help: HELP,
    async run(argv, io) {
      const [sub, ...rest] = argv;
      try {
        if (sub === "run") return await runCommand(rest, io, options);
        if (sub === "validate") return validateCommand(rest, io);
        throw new UsageError(
          sub ? `unknown subcommand "${sub}" (run or validate)` : "missing subcommand: run or validate",
        );
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        io.stderr.write(`tessera workflow: ${err.message}\nRun \`tessera workflow --help\` for usage.\n`);
        return 2;
      }
    },
  };
}

const verb: Verb = createWorkflowVerb();
export default verb;
