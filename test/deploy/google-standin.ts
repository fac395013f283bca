import type { ServerResponse } from "node:http";
import {
  type LoopbackServer,
  type RecordedRequest,
  sendError,
  sendJson,
  startLoopbackServer,
} from "../helpers/loopback-http.ts";

/**
 * One loopback server standing in for the Google APIs a deployed function calls besides Cloud Storage
 * (`test/adapters/objects-fake-gcs.ts` plays that): the metadata server's access token, Workflows
 * executions (create, get, cancel, list) and Pub/Sub `topics.publish`. Point a process at it with
 * `standInEnv`. Every request is recorded; `failNext` makes the next calls matching a path answer an error
 * (retries, error mapping); anything else is answered 501 and kept in `unexpected`.
 */

export interface StandInExecution {
  name: string;
  state: string;
  argument: string;
  labels: Record<string, string>;
  startTime: string;
  result?: string;
}

export interface GoogleStandIn extends LoopbackServer {
  token: string;
  executions: StandInExecution[];
  published: { project: string; topic: string; data: Buffer; attributes: Record<string, string> }[];
  unexpected: RecordedRequest[];
  /** The next `count` requests whose path contains `pathPart` answer `status` (with optional headers). */
  failNext(pathPart: string, status: number, count?: number, headers?: Record<string, string>): void;
}

export async function startGoogleStandIn(token = "standin-token"): Promise<GoogleStandIn> {
  const executions: StandInExecution[] = [];
  const published: GoogleStandIn["published"] = [];
  const unexpected: RecordedRequest[] = [];
  const failures: { pathPart: string; status: number; left: number; headers: Record<string, string> }[] = [];
  let seq = 0;

  const authorized = (req: RecordedRequest, res: ServerResponse) => {
    if (req.headers.authorization === `Bearer ${standIn.token}`) return true;
    sendError(res, 401, "Request had invalid authentication credentials");
    return false;
  };

  const server = await startLoopbackServer((req, res) => {
    const failure = failures.find((f) => f.left > 0 && req.rawPath.includes(f.pathPart));
    if (failure) {
      failure.left--;
      res.writeHead(failure.status, { "content-type": "application/json", ...failure.headers });
      return res.end(
        JSON.stringify({ error: { code: failure.status, message: `stand-in ${failure.status}` } }),
      );
    }
    if (req.method === "GET" && req.path === "/computeMetadata/v1/instance/service-accounts/default/token") {
      if (req.headers["metadata-flavor"] !== "Google") return sendError(res, 403, "Missing Metadata-Flavor");
      return sendJson(res, 200, { access_token: standIn.token, expires_in: 3599, token_type: "Bearer" });
    }
    const publish = /^\/v1\/projects\/([^/]+)\/topics\/([^/:]+):publish$/.exec(req.path);
    if (publish && req.method === "POST") {
      if (!authorized(req, res)) return;
      const body = JSON.parse(req.body.toString("utf8")) as {
        messages: { data?: string; attributes?: Record<string, string> }[];
      };
      const ids = body.messages.map((m) => {
        published.push({
          project: publish[1],
          topic: publish[2],
          data: Buffer.from(m.data ?? "", "base64"),
          attributes: m.attributes ?? {},
        });
        return String(++seq);
      });
      return sendJson(res, 200, { messageIds: ids });
    }
    const create = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/workflows\/([^/]+))\/executions$/.exec(
      req.path,
    );
    if (create && req.method === "POST") {
      if (!authorized(req, res)) return;
      const body = JSON.parse(req.body.toString("utf8")) as {
        argument?: string;
        labels?: Record<string, string>;
      };
      const e: StandInExecution = {
        name: `${create[1]}/executions/${String(++seq).padStart(8, "0")}`,
        state: "ACTIVE",
        argument: body.argument ?? "null",
        labels: body.labels ?? {},
        startTime: new Date().toISOString(),
      };
      executions.push(e);
      return sendJson(res, 200, e);
    }
    if (create && req.method === "GET") {
      if (!authorized(req, res)) return;
      const prefix = create[2] === "-" ? "" : `${create[1]}/`;
      const filter = req.query.filter ?? "";
      const wanted = [...filter.matchAll(/labels\.(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]);
      const state = /state="(\w+)"/.exec(filter)?.[1];
      const all = executions.filter(
        (e) =>
          e.name.startsWith(prefix) &&
          wanted.every(([k, v]) => e.labels[k] === v) &&
          (!state || e.state === state),
      );
      const size = Number(req.query.pageSize ?? 100);
      const from = Number(req.query.pageToken ?? 0);
      const page = all.slice(from, from + size);
      return sendJson(res, 200, {
        executions: page,
        ...(from + size < all.length ? { nextPageToken: String(from + size) } : {}),
      });
    }
    const one =
      /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/workflows\/[^/]+\/executions\/[^/:]+)(:cancel)?$/.exec(
        req.path,
      );
    if (one) {
      if (!authorized(req, res)) return;
      const e = executions.find((x) => x.name === one[1]);
      if (!e) return sendError(res, 404, `execution ${one[1]} not found`);
      if (one[2] && req.method === "POST") {
        e.state = "CANCELLED";
        return sendJson(res, 200, e);
      }
      if (!one[2] && req.method === "GET") return sendJson(res, 200, e);
    }
    unexpected.push(req);
    sendError(res, 501, `stand-in does not implement ${req.method} ${req.rawPath}`);
  });

  const standIn: GoogleStandIn = Object.assign(server, {
    token,
    executions,
    published,
    unexpected,
    failNext(pathPart: string, status: number, count = 1, headers: Record<string, string> = {}) {
      failures.push({ pathPart, status, left: count, headers });
    },
  });
  return standIn;
}

/** The environment that points a process's REST layer at the stand-ins (and nowhere else). */
export function standInEnv(standIn: { url: string; port: number }, gcsUrl: string): Record<string, string> {
  return {
    GCE_METADATA_HOST: `127.0.0.1:${standIn.port}`,
    STORAGE_EMULATOR_HOST: gcsUrl,
    TESSERA_PUBSUB_ENDPOINT: standIn.url,
    TESSERA_WORKFLOWS_ENDPOINT: standIn.url,
  };
}
