import { PassThrough, type Readable, type Writable } from "node:stream";
import { type File, Storage, type StorageOptions } from "@google-cloud/storage";
import { checkBucketName, checkObjectName, checkPrefix } from "../local/object-names.ts";
import {
  AlreadyExistsError,
  NotFoundError,
  type ObjectInfo,
  type ObjectStore,
  type Objects,
  type PutOptions,
} from "../ports.ts";
import { type GcsObject, infoOf } from "./object-info.ts";

/**
 * Cloud Storage through `@google-cloud/storage`. Create-only writes send `ifGenerationMatch=0`; GCS answers
 * 412 when the object exists, which becomes AlreadyExistsError; 404 becomes NotFoundError. `put` uploads in
 * one multipart request; `createWriteStream` uses a resumable upload session (large outputs).
 * Extra StorageOptions pass through (`apiEndpoint` for a stand-in, `credentials`, `keyFilename`, ...).
 */

export interface GcpObjectsOptions extends StorageOptions {
  projectId?: string;
}

export function createGcpObjects(options: GcpObjectsOptions = {}): Objects {
  const storage = new Storage(options);
  const stores = new Map<string, ObjectStore>();
  return {
    bucket(name: string): ObjectStore {
      let store = stores.get(name);
      if (!store) {
        store = createGcsStore(storage, checkBucketName(name));
        stores.set(name, store);
      }
      return store;
    },
  };
}

function createGcsStore(storage: Storage, bucket: string): ObjectStore {
  const b = storage.bucket(bucket);
  const fileOf = (name: string): File => b.file(checkObjectName(name, bucket));
  const what = (name: string) => `object gs://${bucket}/${name}`;

  const writeOptions = (options: PutOptions, resumable: boolean) => {
    const metadata: Record<string, unknown> = {};
    if (options.contentType) metadata.contentType = options.contentType;
    if (options.metadata) metadata.metadata = { ...options.metadata };
    return {
      resumable,
      contentType: options.contentType,
      metadata,
      ...(options.ifNotExists ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
    };
  };

  const mapError = (name: string, err: unknown): unknown => {
    const code = statusOf(err);
    if (code === 412) return new AlreadyExistsError(what(name));
    if (code === 404) return new NotFoundError(what(name));
    return err;
  };

  return {
    bucket,

    async put(name, data, options = {}) {
      try {
        await fileOf(name).save(
          typeof data === "string" ? Buffer.from(data) : data,
          writeOptions(options, false),
        );
      } catch (err) {
        throw mapError(name, err);
      }
    },

    async get(name) {
      try {
        const [content] = await fileOf(name).download();
        return content;
      } catch (err) {
        throw mapError(name, err);
      }
    },

    async exists(name) {
      try {
        const [found] = await fileOf(name).exists();
        return found;
      } catch (err) {
        throw mapError(name, err);
      }
    },

    async stat(name) {
      try {
        const [meta] = await fileOf(name).getMetadata();
        return infoOf(meta as GcsObject);
      } catch (err) {
        throw mapError(name, err);
      }
    },

    createReadStream(name) {
      const out = new PassThrough();
      const source = fileOf(name).createReadStream();
      source.on("error", (err) => out.destroy(mapError(name, err) as Error));
      out.on("close", () => source.destroy());
      source.pipe(out);
      return out as Readable;
    },

    createWriteStream(name, options = {}) {
      const sink = fileOf(name).createWriteStream(writeOptions(options, true));
      // Errors surface on the returned stream mapped to the port's types.
      const original = sink.emit.bind(sink);
      sink.emit = ((event: string, ...args: unknown[]) => {
        if (event === "error") return original("error", mapError(name, args[0]));
        return original(event, ...args);
      }) as typeof sink.emit;
      return sink as Writable;
    },

    async list(prefix) {
      checkPrefix(prefix, bucket);
      const out: ObjectInfo[] = [];
      let pageToken: string | undefined;
      do {
        const [files, next] = await b.getFiles({ prefix, autoPaginate: false, pageToken, maxResults: 1000 });
        for (const f of files) out.push(infoOf(f.metadata as GcsObject));
        pageToken = (next as { pageToken?: string } | null)?.pageToken;
      } while (pageToken);
      return out;
    },

    async delete(name, options = {}) {
      try {
        await fileOf(name).delete({ ignoreNotFound: options.ignoreMissing === true });
      } catch (err) {
        throw mapError(name, err);
      }
    },

    uri(name) {
      return `gs://${bucket}/${checkObjectName(name, bucket)}`;
    },
  };
}

function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } } | undefined;
  for (const v of [e?.code, e?.status, e?.response?.status]) {
    if (typeof v === "number") return v;
    if (typeof v === "string" && /^\d{3}$/.test(v)) return Number(v);
  }
  return undefined;
}
