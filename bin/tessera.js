#!/usr/bin/env node
// The `tessera` command: runs the TypeScript CLI through tsx so that no build step is needed.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../shared/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
