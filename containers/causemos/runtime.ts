/**
 * glibc malloc settings for the causemos job's process (shared/runtime/malloc.ts; set as the environment variable
 * GLIBC_TUNABLES, which glibc reads at process start, so it belongs in the job's environment, not in code).
 *
 * The job's typed arrays (tens of MB per column) and page buffers come from malloc. By default glibc maps every
 * large block afresh and unmaps it when freed, so every pass that allocates touches new pages, and each first
 * touch of a 4 KiB page is a page fault: on the 2-vCPU VM of the bench about 5 ms of CPU per MB (20 µs a
 * fault), more than the pass over the data itself. With these settings malloc keeps freed memory for reuse
 * (no mmap per block, no trimming) and asks for transparent huge pages (one fault per 2 MiB):
 * on scenario B the page faults drop from about 220k to about 47k and the read step's CPU roughly halves
 * (test/bench/causemos.ts runs the job both ways). Peak RSS grows by about 10% (freed blocks are kept).
 */
export { MALLOC_TUNABLES } from "../../shared/runtime/malloc.ts";

/**
 * Node flags of the causemos run job's command line (`node <flags> index.js`: the registry's `nodeFlags`, which
 * the Cloud Run job, the local twin and the bench use). V8 reads them at start; NODE_OPTIONS refuses both, and
 * `--single-threaded-gc` set later from code crashes V8 at its next collection.
 *
 * - `--no-concurrent-osr`: a hot loop is compiled (on-stack replacement) while the thread waits, not on a
 *   background thread while it goes on in the interpreter. The job's hot loops run once per row group or step
 *   over hundreds of thousands of rows, where the interpreter is many times slower than the compiled loop, and
 *   the background compiler competes for the second core. B, medians of 8 alternating runs, twice (a slow hour
 *   of the VM): 2.50 -> 2.36 s and 2.44 -> 2.32 s, CPU 4.12 -> 3.89 and 4.12 -> 3.78 s; A 2.72 -> 2.60 CPU-s.
 * - `--single-threaded-gc`: each thread collects its own garbage, without V8's helper threads. The job's heaps
 *   are small (~20 MB of objects; the data live in typed arrays outside them), so there is little to share out,
 *   and on 2 vCPU the helpers compete with the job's own three threads. B, on top of the flag above: medians
 *   2.06 -> 1.89 s (6 alternating runs), 2.26 -> 2.13 s (8), 2.00 -> 1.94 s (10).
 */
export const RUN_NODE_FLAGS = ["--no-concurrent-osr", "--single-threaded-gc"];
