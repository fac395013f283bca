// Pulumi's entry: the program is ESM TypeScript with `.ts` imports, so it is loaded through tsx.
import { register } from "tsx/esm/api";

register();
const { default: program } = await import("./index.ts");
export default program;
