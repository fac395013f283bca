/** The console API from the page: JSON in and out, errors thrown with the server's `{error, field, fix}`. */
export class ApiError extends Error {
  status: number;
  field?: string;
  fix?: string;
  constructor(status: number, body: { error?: string; field?: string; fix?: string }) {
    super(body.error ?? `HTTP ${status}`);
    this.status = status;
    this.field = body.field;
    this.fix = body.fix;
  }
}

export async function api<T = unknown>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body !== undefined && typeof init.body === "string" && !headers.has("content-type"))
    headers.set("content-type", "application/json");
  const res = await fetch(`api${path.startsWith("/") ? path : `/${path}`}`, { ...init, headers });
  const type = res.headers.get("content-type") ?? "";
  const body = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok)
    throw new ApiError(res.status, typeof body === "object" && body ? body : { error: String(body) });
  return body as T;
}

export function post<T = unknown>(path: string, body: unknown): Promise<T> {
  return api<T>(path, { method: "POST", body: JSON.stringify(body) });
}

export function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
