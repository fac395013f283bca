import { PassThrough, type Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
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
import type { RestClient } from "./rest.ts";

/**
 * Cloud Storage objects over the JSON API with the REST layer (`rest.ts`): `put` is one multipart upload
 * (`ifGenerationMatch=0` when create-only: 412 becomes AlreadyExistsError), `get` an `alt=media` GET,
 * `stat`/`exists` a metadata GET (404 becomes NotFoundError / false), `list` pages of 1000 by prefix,
 * `delete` a DELETE. Streams (large job outputs) go through `@google-cloud/storage` (resumable uploads,
 * checksummed reads), loaded on the first stream only.
 */

export interface RestObjectsOptions {
  rest: RestClient;
  /** `https://storage.googleapis.com` or a stand-in. */
  endpoint: string;
  /** The client-library store for streams, made on first use. */
  library: () => Promise<Objects>;
}

export function createRestObjects(options: RestObjectsOptions): Objects {
  const stores = new Map<string, ObjectStore>();
  let library: Promise<Objects> | undefined;
  const lib = () => {
    library ??= options.library();
    return library;
  };
  return {
    bucket(name) {
      let store = stores.get(name);
      if (!store) {
        store = restStore(options, checkBucketName(name), lib);
        stores.set(name, store);
      }
      return store;
    },
  };
}

/** multipart/related: the object resource as JSON, then the media. */
export function multipartBody(resource: object, media: Buffer, contentType: string) {
  const boundary = `tessera-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const head = Buffer.from(
    `--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(resource)}\r\n` +
      `--${boundary}\r\ncontent-type: ${contentType}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, media, tail]), contentType: `multipart/related; boundary=${boundary}` };
}

function restStore(options: RestObjectsOptions, bucket: string, lib: () => Promise<Objects>): ObjectStore {
  const { rest, endpoint } = options;
  const b = encodeURIComponent(bucket);
  const objectUrl = (name: string) =>
    `${endpoint}/storage/v1/b/${b}/o/${encodeURIComponent(checkObjectName(name, bucket))}`;
  const what = (name: string) => `object gs://${bucket}/${name}`;
  const libStore = async () => (await lib()).bucket(bucket);

  const metadataOf = async (name: string): Promise<GcsObject | undefined> => {
    const res = await rest.json<GcsObject>({
      method: "GET",
      url: objectUrl(name),
      what: `read the metadata of ${what(name)}`,
      idempotent: true,
      passStatuses: [404],
    });
    return res.status === 404 ? undefined : res.body;
  };

  return {
    bucket,

    async put(name, data, putOptions: PutOptions = {}) {
      checkObjectName(name, bucket);
      const resource: Record<string, unknown> = { name };
      if (putOptions.contentType) resource.contentType = putOptions.contentType;
      if (putOptions.metadata) resource.metadata = { ...putOptions.metadata };
      const media = typeof data === "string" ? Buffer.from(data) : data;
      const multipart = multipartBody(resource, media, putOptions.contentType ?? "application/octet-stream");
      const query = new URLSearchParams({ uploadType: "multipart", name });
      if (putOptions.ifNotExists) query.set("ifGenerationMatch", "0");
      const res = await rest.call({
        method: "POST",
        url: `${endpoint}/upload/storage/v1/b/${b}/o?${query}`,
        what: `write ${what(name)}`,
        body: multipart.body,
        contentType: multipart.contentType,
        // A whole-object write is idempotent; a create-only one too (a repeat after a lost answer sees 412).
        idempotent: true,
        passStatuses: [412],
      });
      if (res.status === 412) throw new AlreadyExistsError(what(name));
    },

    async get(name) {
      const res = await rest.call({
        method: "GET",
        url: `${objectUrl(name)}?alt=media`,
        what: `read ${what(name)}`,
        idempotent: true,
        passStatuses: [404],
      });
      if (res.status === 404) throw new NotFoundError(what(name));
      return res.body;
    },

    async exists(name) {
      return (await metadataOf(name)) !== undefined;
    },

    async stat(name) {
      const meta = await metadataOf(name);
      if (!meta) throw new NotFoundError(what(name));
      return infoOf(meta);
    },

    createReadStream(name) {
      checkObjectName(name, bucket);
      const out = new PassThrough();
      libStore().then(
        (s) => {
          const source = s.createReadStream(name);
          source.on("error", (err) => out.destroy(err));
          out.on("close", () => source.destroy());
          source.pipe(out);
        },
        (err: Error) => out.destroy(err),
      );
      return out as Readable;
    },

    createWriteStream(name, putOptions = {}) {
      checkObjectName(name, bucket);
      // Writes wait for the library's stream, then go to it; the stream finishes when it has (the upload is
      // done) and fails with its error.
      const sink = libStore().then((s) => s.createWriteStream(name, putOptions));
      const out = new Writable({
        write(chunk, encoding, cb) {
          sink.then((w) => {
            if (w.write(chunk, encoding)) cb();
            else w.once("drain", () => cb());
          }, cb);
        },
        final(cb) {
          sink.then((w) => {
            w.end();
            finished(w, { readable: false }).then(() => cb(), cb);
          }, cb);
        },
        destroy(err, cb) {
          sink.then(
            (w) => {
              if (err && !w.destroyed) w.destroy(err);
              cb(err);
            },
            () => cb(err),
          );
        },
      });
      sink.then(
        (w) => w.on("error", (err) => out.destroy(err)),
        (err: Error) => out.destroy(err),
      );
      return out;
    },

    async list(prefix) {
      checkPrefix(prefix, bucket);
      const out: ObjectInfo[] = [];
      let pageToken: string | undefined;
      do {
        const query = new URLSearchParams({ prefix, maxResults: "1000" });
        if (pageToken) query.set("pageToken", pageToken);
        const res = await rest.json<{ items?: GcsObject[]; nextPageToken?: string }>({
          method: "GET",
          url: `${endpoint}/storage/v1/b/${b}/o?${query}`,
          what: `list gs://${bucket}/${prefix}`,
          idempotent: true,
        });
        for (const item of res.body.items ?? []) out.push(infoOf(item));
        pageToken = res.body.nextPageToken;
      } while (pageToken);
      return out;
    },

    async delete(name, deleteOptions = {}) {
      const res = await rest.call({
        method: "DELETE",
        url: objectUrl(name),
        what: `delete ${what(name)}`,
        idempotent: true,
        passStatuses: [404],
      });
      if (res.status === 404 && deleteOptions.ignoreMissing !== true) throw new NotFoundError(what(name));
    },

    uri(name) {
      return `gs://${bucket}/${checkObjectName(name, bucket)}`;
    },
  };
}
