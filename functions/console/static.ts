/**
 * Where the prebuilt client lives next to the function's bundle, and the content types it is served with.
 * Kept apart from `assets.ts` (which loads esbuild) so that the deployed function never imports the bundler.
 */

/** Folder next to the function's bundle that holds the prebuilt assets (`npm run build` writes it). */
export const ASSETS_FOLDER = "static";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".map": "application/json",
};

export function contentTypeOf(name: string): string {
  const ext = name.slice(name.lastIndexOf("."));
  return TYPES[ext] ?? "application/octet-stream";
}
