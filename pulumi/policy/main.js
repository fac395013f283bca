// The policy pack's entry: like the program, it is ESM TypeScript loaded through tsx.
import { register } from "tsx/esm/api";

register();
await import("./index.ts");
