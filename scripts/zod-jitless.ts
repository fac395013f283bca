import { config } from "zod";

/**
 * Injected first into every deployed function bundle (scripts/build.ts): Zod's JIT compiles each object
 * schema with `new Function` on its first parse, which pays off over many parses; a function instance
 * parses a handful of messages before it is recycled, so the compile is mostly start-up cost (measured:
 * 24 ms of the ~184 ms CPU dispatch spends loading its bundle).
 */
config({ jitless: true });
