import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Objects } from "../../shared/adapters/ports.ts";
import type { Logger } from "../../shared/core/log.ts";
import { generate, writeParquet } from "./generator.ts";
import { type RunSummary, run } from "./pipeline.ts";
import { outputTreeSummary, previewTile } from "./preview.ts";
import { objectStoreWriter } from "./writer.ts";

export interface DemoOptions {
  objects: Objects;
  /** Where the generated Parquet and the preview SVG go. */
  outDir: string;
  bucket?: string;
  points?: number;
  days?: number;
  logger?: Logger;
}

export interface DemoResult {
  summary: RunSummary;
  parquet: string;
  tree: Record<string, number>;
  previewPath?: string;
}

/** A generated model through the whole job into the objects port, with the output tree and one tile's picture. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const bucket = options.bucket ?? "causemos-models";
  await mkdir(options.outDir, { recursive: true });
  const parquet = join(options.outDir, "dojo-model.parquet");
  const frame = generate({
    points: options.points ?? 2_000,
    days: options.days ?? 90,
    qualifiers: [{ name: "scenario", values: 3 }],
    fanOut: [3, 4, 3, 2],
  });
  await writeParquet(frame, parquet);
  const params = {
    model_id: "demo-model",
    run_id: "demo-run",
    data_paths: [parquet],
    model_bucket: bucket,
    qualifier_map: { crop_production: ["scenario"], rainfall: ["scenario"] },
  };
  const store = options.objects.bucket(bucket);
  const summary = await run(params, objectStoreWriter(store), { logger: options.logger });
  const names = (await store.list("demo-model/demo-run/")).map((o) => o.name);
  const tileName =
    names.find((n) => /\/month\/[^/]+\/tiles\/\d+-4-\d+-\d+\.tile$/.test(n)) ??
    names.find((n) => n.endsWith(".tile"));
  let previewPath: string | undefined;
  if (tileName) {
    previewPath = join(options.outDir, "causemos-tile.svg");
    await writeFile(
      previewPath,
      previewTile(await store.get(tileName), { title: tileName.split("/").slice(-4).join("/") }),
    );
  }
  return { summary, parquet, tree: outputTreeSummary(names), previewPath };
}
