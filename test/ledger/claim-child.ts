import { createLocalObjects } from "../../shared/adapters/local/objects.ts";
import { createLedger } from "../../shared/ledger/ledger.ts";

/** A separate process racing for one claim: `claim-child.ts <root> <pipeline> <partition> <claimers> <tag> [force]`. */
const [root, pipeline, partition, claimers, tag, force] = process.argv.slice(2);
const ledger = createLedger(createLocalObjects({ root }).bucket("ledger-race"));
const results = await Promise.all(
  Array.from({ length: Number(claimers) }, (_, i) =>
    ledger.claim({ pipeline, partition, runId: `${tag}-${i}`, force: force === "force" }),
  ),
);
process.stdout.write(JSON.stringify(results));
