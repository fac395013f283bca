import "./early.ts";

/**
 * The entrypoint of the causemos jobs (`causemos-run`, `causemos-merge`; job.ts does the work). early.ts comes
 * first and starts the read's decoding thread; job.ts and everything it imports (~0.5 MB bundled) load only
 * after that, through a dynamic import, so that in the bundle the thread starts about when Node does and loads
 * on the other core while this one loads the job.
 */
const { runJob } = await import("./job.ts");
process.exitCode = await runJob(process.argv.slice(2), process.env);
