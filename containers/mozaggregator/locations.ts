import { createWriteStream, existsSync } from "node:fs";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import type { ObjectStore } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";

/**
 * Where a step reads and writes. A job argument is a local path, a `file://` URI or a `gs://bucket/prefix`
 * object location. Locally (TESSERA_MODE=local) a `gs://` location is the objects port's directory tree,
 * `<TESSERA_STATE_DIR>/objects/<bucket>/<prefix>`, so the steps work on it in place; on Google Cloud the
 * step works in a scratch directory and stages through the ObjectStore API ({@link download}, {@link upload}).
 */
export type Location = { kind: "path"; path: string } | { kind: "bucket"; bucket: string; prefix: string };

export function parseLocation(location: string, field: string): Location {
  if (location.startsWith("file://")) return { kind: "path", path: fileURLToPath(location) };
  const gs = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220})\/?(.*)$/.exec(location);
  if (gs) return { kind: "bucket", bucket: gs[1], prefix: gs[2].replace(/\/+$/, "") };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new NonRetriableError(`${field}: unsupported location ${location}`, {
      field,
      fix: "pass a local path, a file:// URI or gs://<bucket>/<prefix>",
    });
  }
  return { kind: "path", path: resolve(location) };
}

/** The local directory of a bucket location on the local twin (the local objects adapter's layout). */
export function localObjectsPath(stateDir: string, bucket: string, prefix: string): string {
  return join(stateDir, "objects", bucket, ...prefix.split("/").filter(Boolean));
}

/** Copy every object under `prefix/` into `dir`, keeping relative names; returns how many were copied. */
export async function download(store: ObjectStore, prefix: string, dir: string): Promise<number> {
  const base = `${prefix.replace(/\/+$/, "")}/`;
  const objects = await store.list(base);
  for (const o of objects) {
    const file = join(dir, o.name.slice(base.length));
    await mkdir(dirname(file), { recursive: true });
    await pipeline(store.createReadStream(o.name), createWriteStream(file));
  }
  return objects.length;
}

/**
 * Upload every file under `dir` to `prefix/`, names in `last` after all the others (markers and manifests go
 * last, so a reader that sees them finds the parts). Hidden staging entries (`.staging-*`, `.partial-*`) stay.
 */
export async function upload(
  store: ObjectStore,
  dir: string,
  prefix: string,
  last: string[] = [],
): Promise<void> {
  if (!existsSync(dir)) return;
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .filter((f) => !f.split("/").some((s) => s.startsWith(".")));
  const isLast = (f: string) => last.some((n) => f === n || f.endsWith(`/${n}`));
  const ordered = [...files.filter((f) => !isLast(f)), ...files.filter(isLast)];
  const base = prefix.replace(/\/+$/, "");
  for (const f of ordered) await store.put(`${base}/${f}`, await readFile(join(dir, f)));
}
