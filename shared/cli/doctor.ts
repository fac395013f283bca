import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { registry } from "../pipelines/index.ts";
import { loadRuntimeConfig } from "../runtime/config.ts";
import { parseVerbArgs, type Verb } from "./verb.ts";

/** What a check found: a line of the doctor report. */
export interface Finding {
  what: string;
  ok: boolean;
  detail: string;
}

export function checkTools(root: string): Finding[] {
  const findings: Finding[] = [];
  const version = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return r.status === 0 ? (r.stdout || r.stderr).trim().split("\n")[0] : undefined;
  };
  findings.push({
    what: "node",
    ok: Number(process.versions.node.split(".")[0]) >= 22,
    detail: `v${process.versions.node} (needs >= 22)`,
  });
  const pg = [
    "/usr/lib/postgresql/15/bin/pg_ctl",
    "/usr/lib/postgresql/16/bin/pg_ctl",
    "/usr/lib/postgresql/17/bin/pg_ctl",
  ].find(existsSync);
  const pgDump = version("pg_dump", ["--version"]);
  findings.push({
    what: "postgresql",
    ok: !!pg && !!pgDump,
    detail: pg
      ? `${pgDump ?? "pg_dump missing"} (${pg})`
      : "not installed: mozaggregator is skipped (apt-get install postgresql)",
  });
  for (const fake of ["pstestd", "bttestd"]) {
    const bin = join(root, ".bin", fake);
    findings.push({
      what: fake,
      ok: existsSync(bin),
      detail: existsSync(bin)
        ? bin
        : "not built: run `bash test/emulators/build.sh` (needs golang-go golang-google-cloud-dev)",
    });
  }
  const r = version("Rscript", ["--version"]);
  findings.push({
    what: "Rscript",
    ok: true,
    detail: r
      ? r
      : "not installed (optional: the forecast bench compares with R prophet when r-cran-prophet is installed)",
  });
  return findings;
}

const verb: Verb = {
  name: "doctor",
  summary: "Report the mode, the adapters, where state lives and which stand-ins are reachable",
  help: `Usage: tessera doctor [--json]

Reports how this process would run: the mode (local twin or gcp), the adapter behind every port, the state
directory, the registered pipelines, and which local stand-ins (PostgreSQL, the Pub/Sub and Bigtable fakes,
R) are installed. Exits 1 when something required is missing.

Examples:
  tessera doctor
  TESSERA_MODE=gcp GOOGLE_CLOUD_PROJECT=my-proj tessera doctor --json
`,
  async run(argv, io) {
    const { values } = parseVerbArgs(argv, { json: { type: "boolean" } }, false);
    const config = loadRuntimeConfig(io.env, io.cwd);
    const root = join(import.meta.dirname, "..", "..");
    const findings = checkTools(root);
    const report = {
      mode: config.mode,
      stateDir: config.stateDir,
      project: config.project ?? null,
      region: config.region,
      adapters:
        config.mode === "local"
          ? {
              warehouse: `DuckDB ${join(config.stateDir, "warehouse.duckdb")}`,
              objects: `directory ${join(config.stateDir, "objects")}`,
              messages: "in-process bus",
              wideRows: `embedded store ${join(config.stateDir, "bigtable")}`,
              jobs: "child processes",
              secrets: `env TESSERA_SECRET_<NAME> / ${join(config.stateDir, "secrets.json")}`,
              workflows: "shared/engine",
            }
          : {
              warehouse: "BigQuery",
              objects: "Cloud Storage",
              messages: "Pub/Sub",
              wideRows: "Bigtable",
              jobs: "Cloud Run Jobs",
              secrets: "Secret Manager",
              workflows: "Workflows Executions API",
            },
      pipelines: registry.list().map((p) => p.id),
      checks: findings,
    };
    if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      io.stdout.write(
        `mode        ${report.mode}${report.project ? ` (project ${report.project}, ${report.region})` : ""}\n`,
      );
      io.stdout.write(`state       ${report.stateDir}\n`);
      for (const [port, a] of Object.entries(report.adapters)) io.stdout.write(`${port.padEnd(11)} ${a}\n`);
      io.stdout.write(
        `pipelines   ${report.pipelines.length ? report.pipelines.join(", ") : "none registered yet"}\n\n`,
      );
      for (const f of findings)
        io.stdout.write(`${f.ok ? "ok  " : "MISS"} ${f.what.padEnd(11)} ${f.detail}\n`);
    }
    return findings.some((f) => !f.ok && f.what === "node") ? 1 : 0;
  },
};
export default verb;
