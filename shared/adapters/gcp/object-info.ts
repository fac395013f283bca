import type { ObjectInfo } from "../ports.ts";

/**
 * A Cloud Storage object resource as the JSON API (and `@google-cloud/storage`'s `metadata`) gives it, and
 * its ObjectInfo. Shared by the client-library store (`objects.ts`) and the REST one (`rest-objects.ts`);
 * it imports no client library, so the REST store loads without one.
 */
export interface GcsObject {
  name?: string;
  size?: string | number;
  updated?: string;
  generation?: string | number;
  contentType?: string;
  metadata?: Record<string, string | number | boolean | null>;
}

export function infoOf(meta: GcsObject): ObjectInfo {
  const info: ObjectInfo = {
    name: String(meta.name),
    size: Number(meta.size ?? 0),
    updated: meta.updated ?? "",
  };
  if (meta.generation !== undefined) info.generation = String(meta.generation);
  if (meta.contentType) info.contentType = meta.contentType;
  if (meta.metadata && Object.keys(meta.metadata).length > 0) {
    info.metadata = Object.fromEntries(
      Object.entries(meta.metadata)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, String(v)]),
    );
  }
  return info;
}
