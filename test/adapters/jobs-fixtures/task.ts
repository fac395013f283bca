import { appendFileSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A job entrypoint for the local jobs tests. It records what Cloud Run would give it (env, argv), counts the tasks
 * running beside it through marker files, and then behaves as MODE says.
 */
if (process.env.MODE === "hang") process.on("SIGTERM", () => {});
const out = process.env.OUT_DIR as string;
const index = Number(process.env.CLOUD_RUN_TASK_INDEX);
const attempt = Number(process.env.CLOUD_RUN_TASK_ATTEMPT);
const running = join(out, "running");
mkdirSync(running, { recursive: true });
const marker = join(running, `${index}-${attempt}`);
writeFileSync(marker, "");
const concurrent = readdirSync(running).length;

// Written aside and renamed, so that a test polling the folder never reads half a record.
const record = join(out, `task-${index}-${attempt}.json`);
writeFileSync(
  `${record}.tmp`,
  JSON.stringify({
    job: process.env.CLOUD_RUN_JOB,
    execution: process.env.CLOUD_RUN_EXECUTION,
    index,
    count: Number(process.env.CLOUD_RUN_TASK_COUNT),
    attempt,
    argv: process.argv.slice(2),
    execArgv: process.execArgv,
    fromCatalog: process.env.FROM_CATALOG,
    fromOverride: process.env.FROM_OVERRIDE,
    cwd: process.cwd(),
    concurrent,
  }),
);
renameSync(`${record}.tmp`, record);

const mode = process.env.MODE ?? "ok";
await new Promise((r) => setTimeout(r, Number(process.env.HOLD_MS ?? 150)));
const seen = readdirSync(running).length;
appendFileSync(join(out, "concurrency.log"), `${Math.max(concurrent, seen)}\n`);

if (mode === "hang") {
  // A pending timer keeps the process alive (an unsettled top-level await alone exits with 13).
  setInterval(() => {}, 60_000);
  await new Promise(() => {});
}
rmSync(marker, { force: true });
if (mode === "flaky" && index === 1 && attempt === 0) {
  console.log("first attempt of task 1 fails");
  process.exit(1);
}
if (mode === "broken" && index === 0) {
  for (let i = 1; i <= 30; i++) console.log(`line ${i}`);
  console.error("boom: partition 2026-01-01 has no rows");
  process.exit(3);
}
console.log(`task ${index} done`);
