/** Runs the `workflow` verb as a process would (`node --import tsx test/engine/cli-runner.ts run FILE ...`). */

import { processIo } from "../../shared/cli/verb.ts";
import verb from "../../shared/cli/workflow.ts";

verb.run(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
