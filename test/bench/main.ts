/**
 * `npm run bench`: every benchmark in this folder, one after another in its own process (so one bench's heap
 * and workers do not disturb the next), each printing a Markdown section with its ratios against the baseline
 * it runs side by side. `BENCH_QUICK=1` runs the short variants; `npm run bench -- engine forecast` picks some.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dirname;
const only = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "main.ts")
  .map((f) => f.replace(/\.ts$/, ""))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

console.log(
  `# Tessera benchmarks (${new Date().toISOString()}, node ${process.version}, ${process.env.BENCH_QUICK ? "quick" : "full"} mode)\n`,
);
let failed = 0;
for (const name of benches) {
  const started = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", join(dir, `${name}.ts`)], {
    stdio: "inherit",
    env: process.env,
  });
  console.log(`\n_${name}: ${((Date.now() - started) / 1000).toFixed(1)} s, exit ${r.status}_\n`);
  if (r.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
