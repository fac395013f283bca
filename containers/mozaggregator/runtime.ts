/**
 * glibc malloc settings for the convert job's process: the environment variable GLIBC_TUNABLES, which glibc
 * reads at process start, so it belongs on the job (the registry's `env` of the convert job), not in code.
 * The same setting as causemos' job (shared/runtime/malloc.ts): malloc keeps freed memory for reuse (no
 * mmap per large block, no trimming) and asks for transparent huge pages.
 *
 * Why it matters here: a first touch of a 4 KiB page costs ~20 us of CPU on the bench's VM, and with the
 * default malloc each converting isolate's TurboFan compiles, zlib/zstd state and Buffers map fresh memory
 * again and again. On the bench's day (524 MB of COPY, 2 threads) the job's page faults drop from ~22k to
 * ~9k and its CPU by ~4-5 % (test/bench/mozaggregator.ts runs the job both ways); peak RSS grows from ~116 to
 * ~135 MB (freed blocks are kept), well under the 300 MB bound.
 */
export { MALLOC_TUNABLES } from "../../shared/runtime/malloc.ts";
