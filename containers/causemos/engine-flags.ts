import { setFlagsFromString } from "node:v8";

/**
 * V8 settings of the causemos job process, set before anything else is loaded (entry.ts imports this module
 * first; V8's flags are the process's, so the job's threads started later have them too).
 *
 * `--no-concurrent-osr`: a hot loop is compiled (on-stack replacement) while the thread waits, not on a
 * background thread while it goes on in the interpreter. The job's hot loops run once per row group or step
 * over hundreds of thousands of rows, where the interpreter is many times slower than the compiled loop and
 * the background thread competes for the second core. On B, medians of 8 alternating runs, twice: 2.50 -> 2.36 s
 * and 2.44 -> 2.32 s, CPU 4.12 -> 3.89 and 4.12 -> 3.78 s (a slow hour of the VM; the job with the flag given
 * on node's command line).
 */
setFlagsFromString("--no-concurrent-osr");
