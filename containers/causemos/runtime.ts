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
