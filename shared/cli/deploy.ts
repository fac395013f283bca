import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { type Io, parseVerbArgs, table, UsageError, type Verb } from "./verb.ts";

const ROOT = join(import.meta.dirname, "..", "..");

/** `Pulumi.<stack>.yaml`'s `config:` map; a missing file is a usage error naming how to make one. */
export function readStackFile(root: string, stack: string): Record<string, unknown> {
  const file = join(root, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) {
    throw new UsageError(
      `no Pulumi.${stack}.yaml: create the stack with \`pulumi stack init ${stack}\` and \`pulumi config set gcp:project MY-PROJECT\``,
    );
  }
  const doc = parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  return doc?.config ?? {};
}

/** What the program would create for a stack, from a mock run: rows of (type, name), sorted. */
export async function planStack(root: string, stack: string): Promise<[string, string][]> {
  const { stackConfigFromFile } = await import("../../pulumi/config.ts");
  const { planResources, planRows } = await import("../../pulumi/plan.ts");
  const { enabledPipelines } = await import("../../pulumi/stack.ts");
  const { registry } = await import("../pipelines/index.ts");
  const { BACKFILL_WORKFLOW, PLATFORM_FUNCTIONS } = await import("../pipelines/platform.ts");
  const config = stackConfigFromFile(readStackFile(root, stack));
  const backfill = join(root, "workflows-yaml", BACKFILL_WORKFLOW);
  const plan = await planResources(config, enabledPipelines(config, registry.list()), {
    root,
    platformFunctions: PLATFORM_FUNCTIONS.filter((f) =>
      existsSync(join(root, "functions", f.source, "index.ts")),
    ),
    backfillWorkflowFile: existsSync(backfill) ? backfill : undefined,
  });
  return planRows(plan.resources);
}

/** The Pulumi CLI's version, or undefined when it is not on PATH. */
export function pulumiVersion(env: Io["env"]): string | undefined {
  const r = spawnSync("pulumi", ["version"], { encoding: "utf8", env: env as NodeJS.ProcessEnv });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const verb: Verb = {
  name: "deploy",
  summary: "Deploy a stack with Pulumi (`--plan`: list what it would create, offline)",
  help: `Usage: tessera deploy [--stack NAME] [--plan [--json]] [--yes] [--skip-build] [--no-policy]

Without --plan: bundles the functions and jobs (npm run build), then runs
  pulumi up --stack NAME --policy-pack pulumi/policy
in the repository. Needs the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/), a Pulumi
backend (\`pulumi login\`, or \`pulumi login --local\`) and Google Cloud credentials
(\`gcloud auth application-default login\`). Job images are built separately (cloudbuild.yaml).

With --plan: runs the Pulumi program against mocks, offline, and prints every resource it would create
(type and deployed name) for the stack's config in Pulumi.NAME.yaml and the registered pipelines.

Options:
  --stack NAME    the stack (default: dev)
  --plan          print the planned resources; touches nothing
  --json          with --plan: print JSON rows instead of a table
  --yes           pass --yes to pulumi up (no interactive confirmation)
  --skip-build    do not run npm run build first
  --no-policy     do not run the least-privilege policy pack

Exit codes: 0 deployed (or planned), 1 pulumi up failed, 2 usage error or the Pulumi CLI is missing.

Examples:
  tessera deploy --plan
  tessera deploy --stack prod --yes
`,
  async run(argv, io) {
    const { values } = parseVerbArgs(
      argv,
      {
        stack: { type: "string" },
        plan: { type: "boolean" },
        json: { type: "boolean" },
        yes: { type: "boolean" },
        "skip-build": { type: "boolean" },
        "no-policy": { type: "boolean" },
      },
      false,
    );
    const stack = values.stack ?? "dev";
    if (!/^[A-Za-z0-9_.-]+$/.test(stack))
      throw new UsageError(`--stack must be a stack name, got "${stack}"`);
    const root = ROOT;
    if (values.plan) {
      const rows = await planStack(root, stack);
      if (values.json)
        io.stdout.write(
          `${JSON.stringify(
            rows.map(([type, name]) => ({ type, name })),
            null,
            2,
          )}\n`,
        );
      else {
        io.stdout.write(table(["TYPE", "NAME"], rows));
        io.stdout.write(
          `\n${rows.length} resources would be created for stack "${stack}" (mock run, nothing was deployed)\n`,
        );
      }
      return 0;
    }
    readStackFile(root, stack);
    const version = pulumiVersion(io.env);
    if (!version) {
      io.stderr.write(
        "tessera deploy: the Pulumi CLI is not on PATH. Install it (https://www.pulumi.com/docs/iac/download-install/),\n" +
          "log in to a backend (`pulumi login --local` works) and to Google Cloud (`gcloud auth application-default login`).\n" +
          "`tessera deploy --plan` lists what would be created without either.\n",
      );
      return 2;
    }
    const run = (cmd: string, args: string[]) =>
      spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: io.env as NodeJS.ProcessEnv }).status ?? 1;
    if (!values["skip-build"]) {
      io.stderr.write("tessera deploy: npm run build\n");
      if (run("npm", ["run", "build"]) !== 0) return 1;
    }
    const args = ["up", "--stack", stack];
    if (!values["no-policy"]) args.push("--policy-pack", join(root, "pulumi", "policy"));
    if (values.yes) args.push("--yes");
    io.stderr.write(`tessera deploy: pulumi ${args.join(" ")} (${version})\n`);
    return run("pulumi", args) === 0 ? 0 : 1;
  },
};
export default verb;
