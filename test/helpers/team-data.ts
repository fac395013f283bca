import { existsSync } from "node:fs";
import { join } from "node:path";

/**
 * The team folder's `data/` (Robyn's and Prophet's example data, the R reference fit). It sits beside the
 * checkout as `../shared/data`, in a developer's tree and in CI's fresh clone alike.
 */
export function teamData(...parts: string[]): string {
  const candidates = [join(import.meta.dirname, "..", "..", "..", "shared", "data"), "/work/shared/data"];
  const base = candidates.find((c) => existsSync(c));
  if (!base)
    throw new Error(
      `the team data folder is missing: looked in ${candidates.join(", ")} (the checkout needs ../shared/data beside it)`,
    );
  return join(base, ...parts);
}
