import { randomBytes } from "node:crypto";
import {
  type BigIntStats,
  closeSync,
  existsSync,
  createReadStream as fsReadStream,
  fstatSync,
  linkSync,
  mkdirSync,
  opendirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { PassThrough, type Readable, Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import { NonRetriableError } from "../../core/errors.ts";
import {
  AlreadyExistsError,
  NotFoundError,
  type ObjectInfo,
  type ObjectStore,
  type Objects,
  type PutOptions,
} from "../ports.ts";
import { checkBucketName, checkObjectName, checkPrefix } from "./object-names.ts";

/**
 * Cloud Storage as a directory tree: object `name` of bucket `b` is the file `<root>/b/<name>`.
 *
 * - Every write goes to a temp file first, so a reader never sees half an object. A plain write then
 *   `rename()`s over the target (last writer wins, like GCS); a create-only write `link()`s the temp file to
 *   the target, which fails with EEXIST when it exists: exactly one of many concurrent creators wins, across
 *   processes, and the winner's content is complete the moment it becomes visible.
 * - Content type and custom metadata live in a sidecar `<root>/.meta/<bucket>/<inode>.json` keyed by the
 *   object file's inode, written for the temp file BEFORE it becomes visible (link and rename keep the inode):
 *   an object and its metadata appear together, and a losing create-only writer never touches the winner's
 *   metadata. Every object gets a sidecar, so a reused inode never shows a stale one. (GCS bucket names cannot
 *   start with `.`, so `.meta` and `.tmp` never collide with a bucket.)
 * - Differences from GCS: an object `a` and an object `a/b` cannot both exist (a file cannot be a directory);
 *   such a put fails with a NonRetriableError. Empty directories left by deletes are pruned.
 */

export interface LocalObjectsOptions {
  /** The directory holding one sub-directory per bucket (e.g. `.tessera/objects`). */
  root: string;
}

/** One object of a {@link LocalObjectStore.putMany} batch. */
export interface PutEntry {
  name: string;
  data: Buffer | Uint8Array | string;
  options?: PutOptions;
}

/**
 * The local adapter's bucket: the ObjectStore port plus `putMany`, an optional batched put (callers check for
 * it with `"putMany" in store`). Each entry gets the semantics of `put` (temp file, sidecar first, rename or
 * create-only link), done with synchronous file-system calls in slices of PUT_SLICE objects with a yield to
 * the event loop between slices, and with the temp, sidecar and target folders made once per batch: about 5
 * system calls per object (7 while the bucket has sidecars) and no promise or thread-pool round trip per call. One difference: an entry without
 * content type or metadata gets no sidecar file (a missing sidecar reads as none; a stale one for the inode is
 * removed first). An entry whose `data` is the very object of the entry before it, neither with options, is
 * stored once: its name becomes a second name (hard link) of that entry's file, two independent objects since
 * no object file is ever changed in place. Entries are put in order; the first failure stops the batch and is
 * thrown (the entries before it are stored).
 */
export interface LocalObjectStore extends ObjectStore {
  putMany(entries: readonly PutEntry[]): Promise<void>;
}

/** The objects port on a directory tree; its buckets also have `putMany`. */
export interface LocalObjects extends Objects {
  bucket(name: string): LocalObjectStore;
}

export function createLocalObjects(options: LocalObjectsOptions): LocalObjects {
  const root = resolve(options.root);
  const stores = new Map<string, LocalObjectStore>();
  return {
    bucket(name: string): LocalObjectStore {
      let store = stores.get(name);
      if (!store) {
        store = createBucketStore(root, checkBucketName(name));
        stores.set(name, store);
      }
      return store;
    },
  };
}

interface Sidecar {
  contentType?: string;
  metadata?: Record<string, string>;
}

function createBucketStore(root: string, bucket: string): LocalObjectStore {
  const base = join(root, bucket);
  const metaBase = join(root, ".meta", bucket);
  const tmpDir = join(root, ".tmp");

  const pathOf = (name: string) => join(base, ...checkObjectName(name, bucket).split("/"));
  const metaPathOf = (ino: bigint | number) => join(metaBase, `${ino}.json`);
  const what = (name: string) => `object gs://${bucket}/${name} (${join(base, name)})`;

  async function tempFile(): Promise<{ path: string; handle: FileHandle }> {
    await mkdir(tmpDir, { recursive: true });
    const path = join(tmpDir, `${process.pid}-${randomBytes(8).toString("hex")}`);
    return { path, handle: await open(path, "wx") };
  }

  /** Make the finished temp file visible as `name`, metadata first; always removes the temp file. */
  async function commit(name: string, temp: string, options: PutOptions): Promise<void> {
    const target = pathOf(name);
    const meta: Sidecar = {};
    if (options.contentType) meta.contentType = options.contentType;
    if (options.metadata && Object.keys(options.metadata).length > 0) meta.metadata = { ...options.metadata };
    let ino: bigint | undefined;
    let visible = false;
    try {
      ino = (await stat(temp, { bigint: true })).ino;
      await mkdir(metaBase, { recursive: true });
      await writeFile(metaPathOf(ino), JSON.stringify(meta));
      const previous = options.ifNotExists
        ? undefined
        : await stat(target, { bigint: true }).catch(() => undefined);
      for (let attempt = 0; ; attempt++) {
        try {
          await mkdir(dirname(target), { recursive: true });
          if (options.ifNotExists) await link(temp, target);
          else await rename(temp, target);
          visible = true;
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "EEXIST" && options.ifNotExists) throw new AlreadyExistsError(what(name));
          // A concurrent delete pruned the parent directory between mkdir and link/rename: try again.
          if (code === "ENOENT" && attempt < 5) continue;
          if (code === "ENOTDIR" || code === "EISDIR" || code === "EEXIST") throw shapeError(name, bucket);
          throw err;
        }
      }
      if (previous?.isFile() && previous.ino !== ino)
        await unlink(metaPathOf(previous.ino)).catch(ignoreMissing);
    } finally {
      if (!visible && ino !== undefined) await unlink(metaPathOf(ino)).catch(ignoreMissing);
      await unlink(temp).catch(ignoreMissing);
    }
  }

  async function statFile(name: string): Promise<BigIntStats> {
    try {
      const s = await stat(pathOf(name), { bigint: true });
      if (!s.isFile()) throw new NotFoundError(what(name));
      return s;
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(what(name));
      throw err;
    }
  }

  async function infoOf(name: string, s: BigIntStats): Promise<ObjectInfo> {
    const info: ObjectInfo = {
      name,
      size: Number(s.size),
      updated: new Date(Number(s.mtimeMs)).toISOString(),
      generation: String(s.mtimeNs / 1000n),
    };
    try {
      const meta = JSON.parse(await readFile(metaPathOf(s.ino), "utf8")) as Sidecar;
      if (meta.contentType) info.contentType = meta.contentType;
      if (meta.metadata) info.metadata = meta.metadata;
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    return info;
  }

  function infoOfSync(name: string, s: BigIntStats): ObjectInfo {
    const info: ObjectInfo = {
      name,
      size: Number(s.size),
      updated: new Date(Number(s.mtimeMs)).toISOString(),
      generation: String(s.mtimeNs / 1000n),
    };
    let text: string;
    try {
      text = readFileSync(metaPathOf(s.ino), "utf8");
    } catch (err) {
      if (!isMissing(err)) throw err;
      return info;
    }
    const meta = JSON.parse(text) as Sidecar;
    if (meta.contentType) info.contentType = meta.contentType;
    if (meta.metadata) info.metadata = meta.metadata;
    return info;
  }

  /**
   * `put` done synchronously; `made` holds folders this batch already made (a pruned one is made again).
   * `written`: `temp` already holds the entry's bytes (a second name of the previous entry's file, inode
   * `written.ino`). `alsoAs`: before the entry becomes visible, its file also gets this temp name, for the next
   * entry (a repeat of this one) to commit without writing the bytes again.
   */
  function putSync(
    entry: PutEntry,
    temp: string,
    made: Set<string>,
    written?: { ino: bigint },
    alsoAs?: string,
    noSidecars = false,
  ): bigint {
    const { name, data } = entry;
    const options = entry.options ?? {};
    const target = pathOf(name);
    const meta: Sidecar = {};
    if (options.contentType) meta.contentType = options.contentType;
    if (options.metadata && Object.keys(options.metadata).length > 0) meta.metadata = { ...options.metadata };
    let ino: bigint;
    if (written) ino = written.ino;
    else {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      const fd = openSync(temp, "wx");
      try {
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
        ino = fstatSync(fd, { bigint: true }).ino;
      } catch (err) {
        closeSync(fd);
        unlinkSilently(temp);
        throw err;
      }
      closeSync(fd);
    }
    let visible = false;
    try {
      if (alsoAs !== undefined) linkSync(temp, alsoAs);
      // No content type or metadata: no sidecar (reads take a missing one as none), after removing any stale
      // one a deleted object of the same inode may have left; creating a file costs more than the lookup.
      if (meta.contentType === undefined && meta.metadata === undefined) {
        // Nearly always there is none: ask first (an ENOENT thrown and caught costs twice the lookup). The
        // second name of a file already had its inode checked.
        const stale = metaPathOf(ino);
        if (!written && !noSidecars && existsSync(stale)) unlinkSilently(stale);
      } else writeFileSync(metaPathOf(ino), JSON.stringify(meta));
      // The object replaced, for its sidecar to be removed (none to remove when the bucket has none).
      const previous =
        options.ifNotExists || noSidecars
          ? undefined
          : statSync(target, { bigint: true, throwIfNoEntry: false });
      const dir = dirname(target);
      for (let attempt = 0; ; attempt++) {
        try {
          if (!made.has(dir)) {
            mkdirSync(dir, { recursive: true });
            made.add(dir);
          }
          if (options.ifNotExists) linkSync(temp, target);
          else renameSync(temp, target);
          visible = true;
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "EEXIST" && options.ifNotExists) throw new AlreadyExistsError(what(name));
          // A concurrent delete pruned the folder after it was made: make it again.
          if (code === "ENOENT" && attempt < 5) {
            made.delete(dir);
            continue;
          }
          if (code === "ENOTDIR" || code === "EISDIR" || code === "EEXIST") throw shapeError(name, bucket);
          throw err;
        }
      }
      if (previous?.isFile() && previous.ino !== ino) unlinkSilently(metaPathOf(previous.ino));
    } finally {
      if (!visible) {
        unlinkSilently(metaPathOf(ino));
        if (alsoAs !== undefined) unlinkSilently(alsoAs);
      }
      if (!visible || options.ifNotExists) unlinkSilently(temp);
    }
    return ino;
  }

  function bucketHasNoSidecars(): boolean {
    const dir = opendirSync(metaBase);
    try {
      return dir.readSync() === null;
    } finally {
      dir.closeSync();
    }
  }

  async function prune(dir: string, stopAt: string): Promise<void> {
    while (dir.startsWith(stopAt + sep) && dir !== stopAt) {
      try {
        await rmdir(dir);
      } catch {
        return;
      }
      dir = dirname(dir);
    }
  }

  return {
    bucket,

    async put(name, data, options = {}) {
      checkObjectName(name, bucket);
      const { path, handle } = await tempFile();
      try {
        await handle.writeFile(data);
      } catch (err) {
        await handle.close();
        await unlink(path).catch(ignoreMissing);
        throw err;
      }
      await handle.close();
      await commit(name, path, options);
    },

    async putMany(entries) {
      for (const e of entries) checkObjectName(e.name, bucket);
      mkdirSync(tmpDir, { recursive: true });
      mkdirSync(metaBase, { recursive: true });
      const made = new Set<string>();
      const tempBase = join(tmpDir, `${process.pid}-${randomBytes(8).toString("hex")}-`);
      // A repeat (the next entry's data is the same object, neither has options) is stored as a second name
      // of this entry's file: a hard link made before either becomes visible. Objects are never changed in
      // place (every put renames a new file over the name, a delete unlinks one name), so the two names stay
      // independent objects; there is no sidecar for them to share.
      let linked: { temp: string; ino: bigint } | undefined;
      // No sidecar in the bucket as the batch starts (the usual case: objects without content type or
      // metadata have none): then no new file can meet a stale one and no replaced object has one to remove,
      // so those two look-ups per entry are skipped until an entry of the batch has options. (A sidecar another
      // process writes meanwhile is for a live object; should it replace one of these names, its sidecar stays
      // behind as a stale one, removed when a put reuses the inode.)
      let noSidecars = bucketHasNoSidecars();
      try {
        for (let i = 0; i < entries.length; i++) {
          if (i > 0 && i % PUT_SLICE === 0) await yieldToEventLoop();
          const entry = entries[i];
          const next = entries[i + 1];
          const repeat = next !== undefined && next.data === entry.data && !entry.options && !next.options;
          const temp = linked?.temp ?? `${tempBase}${i}`;
          const alsoAs = repeat ? `${tempBase}${i + 1}` : undefined;
          if (entry.options) noSidecars = false;
          const ino = putSync(entry, temp, made, linked, alsoAs, noSidecars);
          linked = alsoAs === undefined ? undefined : { temp: alsoAs, ino };
        }
      } finally {
        if (linked) unlinkSilently(linked.temp);
      }
    },

    async get(name) {
      try {
        return await readFile(pathOf(name));
      } catch (err) {
        if (isMissing(err) || (err as NodeJS.ErrnoException).code === "EISDIR")
          throw new NotFoundError(what(name));
        throw err;
      }
    },

    async exists(name) {
      try {
        return (await stat(pathOf(name))).isFile();
      } catch (err) {
        if (isMissing(err)) return false;
        throw err;
      }
    },

    async stat(name) {
      return infoOf(name, await statFile(name));
    },

    createReadStream(name) {
      const path = pathOf(name);
      const out = new PassThrough();
      const source = fsReadStream(path);
      source.on("error", (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        out.destroy(isMissing(err) || code === "EISDIR" ? new NotFoundError(what(name)) : err);
      });
      out.on("close", () => source.destroy());
      source.pipe(out);
      return out as Readable;
    },

    createWriteStream(name, options = {}) {
      checkObjectName(name, bucket);
      let temp: { path: string; handle: FileHandle } | undefined;
      return new Writable({
        construct(callback) {
          tempFile().then(
            (t) => {
              temp = t;
              callback();
            },
            (err) => callback(err),
          );
        },
        write(chunk: Buffer, _encoding, callback) {
          (temp as { handle: FileHandle }).handle.write(chunk).then(
            () => callback(),
            (err) => callback(err),
          );
        },
        final(callback) {
          const t = temp as { path: string; handle: FileHandle };
          t.handle
            .close()
            .then(() => commit(name, t.path, options))
            .then(
              () => callback(),
              (err) => callback(err),
            );
        },
        destroy(err, callback) {
          const t = temp;
          if (!t) return callback(err);
          t.handle
            .close()
            .catch(() => undefined)
            .then(() => unlink(t.path).catch(ignoreMissing))
            .then(() => callback(err));
        },
      });
    },

    async list(prefix) {
      checkPrefix(prefix, bucket);
      // Start the walk at the deepest directory the prefix names, then filter by the full prefix.
      const slash = prefix.lastIndexOf("/");
      const dirPart = slash < 0 ? "" : prefix.slice(0, slash);
      const start = dirPart ? join(base, ...dirPart.split("/")) : base;
      const names: string[] = [];
      await walk(start, dirPart, prefix, names);
      names.sort(compareNames);
      // Every object costs a stat and a sidecar read of a few bytes. Done synchronously in slices of
      // LIST_SLICE, yielding to the event loop between slices: a promise and a thread-pool round trip per call
      // cost more CPU than the calls themselves, and the slices keep other work (an HTTP server) responsive.
      const infos: (ObjectInfo | undefined)[] = [];
      for (let i = 0; i < names.length; i += LIST_SLICE) {
        if (i > 0) await yieldToEventLoop();
        for (const name of names.slice(i, i + LIST_SLICE)) {
          try {
            infos.push(infoOfSync(name, statSync(join(base, ...name.split("/")), { bigint: true })));
          } catch (err) {
            if (!isMissing(err)) throw err; // deleted while listing: not listed
          }
        }
      }
      return infos.filter((info): info is ObjectInfo => info !== undefined);
    },

    async delete(name, options = {}) {
      const path = pathOf(name);
      let ino: bigint;
      try {
        const s = await stat(path, { bigint: true });
        if (!s.isFile()) throw Object.assign(new Error("not a file"), { code: "ENOENT" });
        ino = s.ino;
        await unlink(path);
      } catch (err) {
        if (isMissing(err)) {
          if (options.ignoreMissing) return;
          throw new NotFoundError(what(name));
        }
        throw err;
      }
      await unlink(metaPathOf(ino)).catch(ignoreMissing);
      await prune(dirname(path), base);
    },

    uri(name) {
      return pathToFileURL(pathOf(name)).href;
    },
  };
}

/** How many directory reads one `list` keeps in flight. */
const LIST_CONCURRENCY = 64;
/** How many objects `list` stats (and reads the sidecar of) between two yields to the event loop. */
const LIST_SLICE = 256;
/** How many objects `putMany` puts between two yields to the event loop. */
const PUT_SLICE = 64;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** `fn` over `items` with at most `limit` calls in flight; results in the items' order. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Collect the file names under `dir` that start with `prefix`, reading directories breadth-first,
 * LIST_CONCURRENCY at a time. The order of `out` is arbitrary; the caller sorts.
 */
async function walk(dir: string, relDir: string, prefix: string, out: string[]): Promise<void> {
  let level: { dir: string; rel: string }[] = [{ dir, rel: relDir }];
  while (level.length > 0) {
    const found = await mapBounded(level, LIST_CONCURRENCY, async (d) => {
      const subdirs: { dir: string; rel: string }[] = [];
      let entries: import("node:fs").Dirent[];
      try {
        entries = await readdir(d.dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err) || (err as NodeJS.ErrnoException).code === "ENOTDIR") return subdirs;
        throw err;
      }
      for (const entry of entries) {
        const rel = d.rel ? `${d.rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          // Descend only where the prefix can still match.
          const asDir = `${rel}/`;
          if (asDir.startsWith(prefix) || prefix.startsWith(asDir))
            subdirs.push({ dir: join(d.dir, entry.name), rel });
        } else if (entry.isFile() && rel.startsWith(prefix)) {
          out.push(rel);
        }
      }
      return subdirs;
    });
    level = found.flat();
  }
}

/** GCS lists in UTF-8 byte order; compare the same way. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function ignoreMissing(err: unknown): void {
  if (!isMissing(err)) throw err;
}

function unlinkSilently(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    ignoreMissing(err);
  }
}

function shapeError(name: string, bucket: string): NonRetriableError {
  return new NonRetriableError(
    `object "${name}" in bucket "${bucket}" cannot be stored locally: its name or one of its folders is already ` +
      "used the other way round (an object 'a' and an object 'a/b' cannot both exist in the local store)",
    { field: "object name", fix: "do not use an object's name as a folder of another object" },
  );
}
