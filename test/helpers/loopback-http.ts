import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback HTTP server for playing a cloud REST API in tests: listens on 127.0.0.1 on a free port, reads
 * each request's body fully, records every request (so a test can check the calls a real client made), and
 * hands it to `handle`. A handler that throws answers 500 with the error, so a wrong call fails the test.
 */

export interface RecordedRequest {
  method: string;
  /** Path without the query string, percent-decoded. */
  path: string;
  rawPath: string;
  query: Record<string, string>;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

export type LoopbackHandler = (req: RecordedRequest, res: ServerResponse) => unknown;

export interface LoopbackServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startLoopbackServer(handle: LoopbackHandler): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: safeDecode(url.pathname),
        rawPath: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(recorded);
      Promise.resolve()
        .then(() => handle(recorded, res))
        .catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              error: { code: 500, message: `fake server: ${String((err as Error)?.stack ?? err)}` },
            }),
          );
        });
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, {
    error: { code: status, message, errors: [{ message, reason: reasonFor(status) }] },
  });
}

function reasonFor(status: number): string {
  if (status === 404) return "notFound";
  if (status === 412) return "conditionNotMet";
  if (status === 409) return "duplicate";
  return "invalid";
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
