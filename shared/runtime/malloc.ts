/**
 * glibc malloc settings for a job process that allocates large buffers again and again (set as the
 * environment variable GLIBC_TUNABLES, which glibc reads at process start: it belongs in the job's environment,
 * the registry's `env` of the job, which Pulumi and the local runner both pass on, not in code).
 *
 * By default glibc maps every large block afresh and unmaps it when freed, so each pass that allocates touches
 * new pages, and each first touch of a 4 KiB page is a page fault (on the 2-vCPU VM of the benches about 20 µs
 * of CPU each, 5 ms per MB). With these settings malloc keeps freed memory for reuse (no mmap per block, no
 * trimming) and asks for transparent huge pages (one fault per 2 MiB). Peak RSS grows somewhat, as freed blocks
 * are kept. Used by the causemos and mozaggregator jobs (see their containers' runtime.ts for the measured
 * effect), and by every function (pulumi/components/function.ts): Node's own start-up mallocs then fault in
 * huge pages too, ~600 fewer page faults per cold start (~3,900 -> ~3,250 for the framework alone; the deploy
 * bench starts every function with it, as deployed), for ~10 MB more RSS.
 */
export const MALLOC_TUNABLES =
  "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295:glibc.malloc.top_pad=268435456";
