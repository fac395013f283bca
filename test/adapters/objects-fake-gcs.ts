import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { CRC32C } from "@google-cloud/storage";
import {
  type LoopbackServer,
  type RecordedRequest,
  sendError,
  sendJson,
  startLoopbackServer,
} from "../helpers/loopback-http.ts";

/**
 * Enough of the Cloud Storage JSON API for the objects contract suite, played on a loopback port, checking
 * the calls the real client makes: multipart and resumable uploads (with `ifGenerationMatch` preconditions,
 * answered 412 like GCS), media and metadata GETs, paged listing by prefix, deletes. Any other call is
 * answered 501 and recorded in `unexpected`, so a test can assert none happened.
 */

interface StoredObject {
  bucket: string;
  name: string;
  data: Buffer;
  generation: number;
  metageneration: number;
  contentType?: string;
  metadata?: Record<string, string>;
  updated: string;
}

interface Session {
  bucket: string;
  name: string;
  contentType?: string;
  metadata?: Record<string, string>;
  ifGenerationMatch?: string;
  chunks: Buffer[];
}

export interface FakeGcs extends LoopbackServer {
  objects: Map<string, StoredObject>;
  unexpected: RecordedRequest[];
  /** Page size used for listings when the client asks for more (forces pageToken round trips). */
  pageSize: number;
}

export async function startFakeGcs(): Promise<FakeGcs> {
  const objects = new Map<string, StoredObject>();
  const sessions = new Map<string, Session>();
  const unexpected: RecordedRequest[] = [];
  let nextGeneration = 1_700_000_000_000_000;
  let nextSession = 1;
  const key = (bucket: string, name: string) => `${bucket}\u0000${name}`;

  function resource(o: StoredObject): Record<string, unknown> {
    return {
      kind: "storage#object",
      id: `${o.bucket}/${o.name}/${o.generation}`,
      name: o.name,
      bucket: o.bucket,
      generation: String(o.generation),
      metageneration: String(o.metageneration),
      size: String(o.data.length),
      updated: o.updated,
      timeCreated: o.updated,
      contentType: o.contentType ?? "application/octet-stream",
      md5Hash: createHash("md5").update(o.data).digest("base64"),
      crc32c: crc32cOf(o.data),
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
  }

  /** Apply a write with GCS's generation preconditions; answers the response. */
  function write(
    res: ServerResponse,
    bucket: string,
    name: string,
    data: Buffer,
    meta: { contentType?: string; metadata?: Record<string, string> },
    ifGenerationMatch: string | undefined,
  ): void {
    const existing = objects.get(key(bucket, name));
    if (ifGenerationMatch !== undefined) {
      const want = Number(ifGenerationMatch);
      const have = existing ? existing.generation : 0;
      if (want !== have) {
        sendError(res, 412, "At least one of the pre-conditions you specified did not hold.");
        return;
      }
    }
    const o: StoredObject = {
      bucket,
      name,
      data,
      generation: nextGeneration++,
      metageneration: 1,
      contentType: meta.contentType,
      metadata: meta.metadata && Object.keys(meta.metadata).length > 0 ? meta.metadata : undefined,
      updated: new Date().toISOString(),
    };
    const body = resource(o);
    objects.set(key(bucket, name), o);
    sendJson(res, 200, body);
  }

  const server = await startLoopbackServer((req, res) => {
    const segs = req.rawPath.split("/").map((s) => decodeURIComponent(s));
    // /upload/storage/v1/b/B/o
    if (
      req.method === "POST" &&
      segs[1] === "upload" &&
      segs[2] === "storage" &&
      segs[4] === "b" &&
      segs[6] === "o"
    ) {
      const bucket = segs[5];
      const uploadType = req.query.uploadType;
      if (uploadType === "multipart") {
        const { metadata, media } = parseMultipart(req);
        const name = (metadata.name as string | undefined) ?? req.query.name;
        if (!name) return sendError(res, 400, "multipart upload without an object name");
        return write(
          res,
          bucket,
          name,
          media,
          {
            contentType: metadata.contentType as string | undefined,
            metadata: metadata.metadata as Record<string, string>,
          },
          req.query.ifGenerationMatch,
        );
      }
      if (uploadType === "resumable") {
        const metadata =
          req.body.length > 0 ? (JSON.parse(req.body.toString("utf8")) as Record<string, unknown>) : {};
        const name = req.query.name ?? (metadata.name as string | undefined);
        if (!name) return sendError(res, 400, "resumable upload without an object name");
        const id = String(nextSession++);
        sessions.set(id, {
          bucket,
          name,
          contentType:
            (metadata.contentType as string | undefined) ?? (req.headers["x-upload-content-type"] as string),
          metadata: metadata.metadata as Record<string, string> | undefined,
          ifGenerationMatch: req.query.ifGenerationMatch,
          chunks: [],
        });
        res.writeHead(200, {
          location: `${server.url}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&upload_id=${id}`,
        });
        return res.end();
      }
    }
    // PUT to a resumable session URI: one or more chunks, the last one carries the total size.
    if (req.method === "PUT" && segs[1] === "upload" && req.query.upload_id) {
      const session = sessions.get(req.query.upload_id);
      if (!session) return sendError(res, 404, "no such upload session");
      const range = String(req.headers["content-range"] ?? "");
      // "bytes A-B/T" a chunk; "bytes A-*/T" the rest in this one request; "bytes */T" a status check.
      const m = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(range);
      if (!m) return sendError(res, 400, `bad Content-Range "${range}"`);
      if (m[1] !== undefined) session.chunks.push(req.body);
      const received = session.chunks.reduce((n, c) => n + c.length, 0);
      const done = m[2] === "*" || (m[3] !== "*" && received === Number(m[3]));
      if (!done) {
        res.writeHead(308, received > 0 ? { range: `bytes=0-${received - 1}` } : {});
        return res.end();
      }
      sessions.delete(req.query.upload_id);
      return write(
        res,
        session.bucket,
        session.name,
        Buffer.concat(session.chunks),
        session,
        session.ifGenerationMatch,
      );
    }
    // /storage/v1/b/B/o[/NAME] and /download/storage/v1/b/B/o/NAME
    const base = segs[1] === "download" ? 2 : 1;
    if (segs[base] === "storage" && segs[base + 2] === "b" && segs[base + 4] === "o") {
      const bucket = segs[base + 3];
      const name = segs.length > base + 5 ? segs.slice(base + 5).join("/") : undefined;
      if (name === undefined && req.method === "GET") return list(req, res, bucket);
      if (name !== undefined) {
        const o = objects.get(key(bucket, name));
        if (req.method === "GET") {
          if (!o) return sendError(res, 404, `No such object: ${bucket}/${name}`);
          if (req.query.alt === "media") {
            res.writeHead(200, {
              "content-type": o.contentType ?? "application/octet-stream",
              "content-length": String(o.data.length),
              "x-goog-generation": String(o.generation),
              "x-goog-hash": `crc32c=${crc32cOf(o.data)},md5=${createHash("md5").update(o.data).digest("base64")}`,
              "x-goog-stored-content-length": String(o.data.length),
            });
            return res.end(o.data);
          }
          return sendJson(res, 200, resource(o));
        }
        if (req.method === "DELETE") {
          if (!o) return sendError(res, 404, `No such object: ${bucket}/${name}`);
          if (
            req.query.ifGenerationMatch !== undefined &&
            Number(req.query.ifGenerationMatch) !== o.generation
          ) {
            return sendError(res, 412, "Precondition Failed");
          }
          objects.delete(key(bucket, name));
          res.writeHead(204);
          return res.end();
        }
      }
    }
    unexpected.push(req);
    sendError(res, 501, `fake GCS does not implement ${req.method} ${req.rawPath}`);
  });

  function list(req: RecordedRequest, res: ServerResponse, bucket: string): void {
    const prefix = req.query.prefix ?? "";
    const names = [...objects.values()]
      .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
      .map((o) => o.name)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const after = req.query.pageToken
      ? Buffer.from(req.query.pageToken, "base64url").toString("utf8")
      : undefined;
    const from = after === undefined ? 0 : names.findIndex((n) => n > after);
    const remaining = from < 0 ? [] : names.slice(from);
    const size = Math.min(Number(req.query.maxResults ?? 1000), fake.pageSize);
    const page = remaining.slice(0, size);
    const body: Record<string, unknown> = {
      kind: "storage#objects",
      items: page.map((n) => resource(objects.get(key(bucket, n)) as StoredObject)),
    };
    if (remaining.length > size)
      body.nextPageToken = Buffer.from(page[page.length - 1]).toString("base64url");
    sendJson(res, 200, body);
  }

  const fake: FakeGcs = Object.assign(server, { objects, unexpected, pageSize: 1000 });
  return fake;
}

/** multipart/related: part 1 is the JSON resource, part 2 the media. */
export function parseMultipart(req: RecordedRequest): { metadata: Record<string, unknown>; media: Buffer } {
  const type = String(req.headers["content-type"] ?? "");
  const m = /boundary="?([^";]+)"?/.exec(type);
  if (!type.startsWith("multipart/related") || !m)
    throw new Error(`multipart upload with content-type "${type}"`);
  const delimiter = Buffer.from(`--${m[1]}`);
  const parts: Buffer[] = [];
  let at = req.body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (req.body.subarray(start, start + 2).toString() === "--") break;
    const next = req.body.indexOf(delimiter, start);
    if (next < 0) break;
    parts.push(req.body.subarray(start, next));
    at = next;
  }
  if (parts.length !== 2) throw new Error(`multipart upload with ${parts.length} parts, expected 2`);
  const bodyOf = (part: Buffer) => {
    const sepAt = part.indexOf("\r\n\r\n");
    // Each part ends with CRLF before the next delimiter.
    return part.subarray(sepAt + 4, part.length - 2);
  };
  return { metadata: JSON.parse(bodyOf(parts[0]).toString("utf8")), media: bodyOf(parts[1]) };
}

function crc32cOf(data: Buffer): string {
  const crc = new CRC32C();
  crc.update(data);
  return crc.toString();
}
