import { type ParseArgsConfig, parseArgs } from "node:util";

/**
 * One operator verb of the `tessera` CLI. A verb module default-exports a Verb; `main.ts` lists them.
 * Exit codes: 0 success, 1 the thing asked for failed (a FAILED run, validation findings), 2 usage error.
 */
export interface Verb {
  name: string;
  /** One line for `tessera --help`. */
  summary: string;
  /** The full `--help` text: usage, options and examples. */
  help: string;
  run(argv: string[], io: Io): Promise<number>;
}

export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** `node:util` parseArgs with usage errors as UsageError. */
export function parseVerbArgs<T extends ParseArgsConfig["options"]>(
  argv: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `k=v` pairs (from repeated `--param`) into an object; values that parse as JSON are taken as JSON. */
export function keyValues(pairs: string[] | undefined, flag: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf("=");
    if (i <= 0) throw new UsageError(`${flag} takes NAME=VALUE, got "${p}"`);
    const raw = p.slice(i + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    out[p.slice(0, i)] = value;
  }
  return out;
}

/** A plain text table with a header row. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? "" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? "").padEnd(widths[i]))).join("  ")).join("\n")}\n`;
}
