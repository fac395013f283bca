import { type Io, processIo, UsageError, type Verb } from "./verb.ts";

/**
 * `tessera VERB [options]`. Verbs load lazily so that a quick verb does not pay for the heavy ones.
 * Each verb module default-exports a {@link Verb}.
 */
const verbs: Record<string, () => Promise<{ default: Verb }>> = {
  start: () => import("./start.ts"),
  doctor: () => import("./doctor.ts"),
  run: () => import("./run.ts"),
  backfill: () => import("./backfill.ts"),
  status: () => import("./status.ts"),
  cancel: () => import("./cancel.ts"),
  workflow: () => import("./workflow.ts"),
  deploy: () => import("./deploy.ts"),
  forecast: () => import("./forecast.ts"),
  mmm: () => import("./mmm.ts"),
};

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(await overview());
    return name ? 0 : 2;
  }
  const load = verbs[name];
  if (!load) {
    io.stderr.write(`tessera: unknown verb "${name}". Run \`tessera --help\` for the list.\n`);
    return 2;
  }
  const verb = (await load()).default;
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout.write(verb.help.endsWith("\n") ? verb.help : `${verb.help}\n`);
    return 0;
  }
  try {
    return await verb.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`tessera ${name}: ${err.message}\nRun \`tessera ${name} --help\` for usage.\n`);
      return 2;
    }
    io.stderr.write(`tessera ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

async function overview(): Promise<string> {
  const lines = ["Usage: tessera VERB [options]   (tessera VERB --help for each verb)", "", "Verbs:"];
  for (const [name, load] of Object.entries(verbs)) {
    const verb = (await load()).default;
    lines.push(`  ${name.padEnd(10)} ${verb.summary}`);
  }
  return `${lines.join("\n")}\n`;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
