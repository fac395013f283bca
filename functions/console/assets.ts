import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ASSETS_FOLDER, contentTypeOf } from "./static.ts";

/**
 * The console's client: `client/main.ts` (plain TypeScript and DOM) bundled by esbuild into ES modules, with
 * the MMM workbench page (`workbench/page.ts`) split into its own chunk so that the first page
 * stays small, plus `client/style.css` and the HTML shell. `npm run build` writes them into the function's
 * bundle folder (`ASSETS_FOLDER`); the local twin builds them once in memory.
 */

export interface Asset {
  body: Buffer;
  contentType: string;
}

export { ASSETS_FOLDER, contentTypeOf };

const HERE = import.meta.dirname;

export function indexHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera console</title>
<link rel="stylesheet" href="assets/app.css">
<script type="module" src="assets/app.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">Tessera</span>
  <nav aria-label="Sections"><ul>
    <li><a href="#/runs">Runs</a></li>
    <li><a href="#/backfills">Backfills</a></li>
    <li><a href="#/backfill/new">New backfill</a></li>
    <li><a href="#/outputs">Outputs</a></li>
    <li><a href="#/mmm">MMM workbench</a></li>
  </ul></nav>
  <span id="user" class="muted"></span>
</header>
<main id="main" tabindex="-1"><p class="muted">Loading...</p></main>
<noscript>The console needs JavaScript.</noscript>
</body>
</html>
`;
}

/** Build the client. With `outDir`, also write every asset there (emptied first). */
export async function buildConsoleAssets(
  options: { outDir?: string; minify?: boolean } = {},
): Promise<Map<string, Asset>> {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: { app: join(HERE, "client", "main.ts") },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: options.minify ?? true,
    write: false,
    outdir: "/assets",
    chunkNames: "chunk-[hash]",
    logLevel: "silent",
  });
  const assets = new Map<string, Asset>();
  for (const f of result.outputFiles) {
    const name = basename(f.path);
    assets.set(name, { body: Buffer.from(f.contents), contentType: contentTypeOf(name) });
  }
  assets.set("app.css", {
    body: readFileSync(join(HERE, "client", "style.css")),
    contentType: contentTypeOf("app.css"),
  });
  assets.set("index.html", { body: Buffer.from(indexHtml()), contentType: contentTypeOf("index.html") });
  if (options.outDir) {
    rmSync(options.outDir, { recursive: true, force: true });
    mkdirSync(options.outDir, { recursive: true });
    for (const [name, a] of assets) writeFileSync(join(options.outDir, name), a.body);
  }
  return assets;
}
