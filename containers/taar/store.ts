/**
 * The model-file convention of the original `taar_utils.store_json_to_gcs`: `json.dumps` -> bz2, written twice,
 * `<prefix>/<name>.bz2` (what the TAAR service reads) and the dated copy `<prefix>/<name>.<YYYYMMDD>.bz2`.
 * Unlike the original readers, a missing or corrupt file is an error naming the object, never `None`.
 */

import type { ObjectStore } from "../../shared/adapters/ports.ts";
import { NotFoundError } from "../../shared/adapters/ports.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { bz2Compress, bz2Decompress } from "./bz2.ts";

export interface Written {
  name: string;
  bytes: number;
}

/** `day` is the partition (YYYY-MM-DD) the dated copy carries as YYYYMMDD. */
export async function storeJson(
  store: ObjectStore,
  prefix: string,
  name: string,
  value: unknown,
  day: string,
): Promise<Written[]> {
  const data = bz2Compress(Buffer.from(JSON.stringify(value)));
  const stamp = day.replaceAll("-", "");
  const names = [`${prefix}/${name}.bz2`, `${prefix}/${name}.${stamp}.bz2`];
  for (const n of names) await store.put(n, data, { contentType: "application/x-bzip2" });
  return names.map((n) => ({ name: n, bytes: data.length }));
}

export async function readJson<T>(
  store: ObjectStore,
  prefix: string,
  name: string,
  producer: string,
): Promise<T> {
  const key = `${prefix}/${name}.bz2`;
  let raw: Buffer;
  try {
    raw = await store.get(key);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new NonRetriableError(`gs://${store.bucket}/${key} does not exist`, {
        field: key,
        fix: `run the ${producer} step for this partition first`,
      });
    }
    throw err;
  }
  try {
    return JSON.parse(bz2Decompress(raw, key).toString("utf8")) as T;
  } catch (err) {
    if (err instanceof NonRetriableError) throw err;
    throw new NonRetriableError(`gs://${store.bucket}/${key} is not JSON: ${(err as Error).message}`, {
      field: key,
      fix: `rerun ${producer}`,
    });
  }
}
