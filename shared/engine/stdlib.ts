import { createHash, createHmac, randomUUID } from "node:crypto";
import {
  Double,
  deepCopy,
  FnRef,
  formatNumber,
  hasKey,
  isMap,
  isNumber,
  num,
  parseJsonValue,
  setKey,
  toJson,
  typeName,
  type Value,
  type WfMap,
  wfError,
} from "./values.ts";

/**
 * The standard library's non-blocking functions (usable in expressions and in `call` steps, where named `args`
 * map onto `params`). Blocking ones (`sys.sleep`, `sys.log`, `http.*`, connectors) are the interpreter's: they are
 * only allowed in `call` steps. A library instance is bound to one execution's environment and clock.
 */

export interface LibFn {
  params: string[];
  /** Required argument count; the rest are optional. */
  min: number;
  fn: (args: Value[]) => Value;
}

export interface Library {
  expression: Map<string, LibFn>;
}

export interface LibraryRuntime {
  env(name: string): string | undefined;
  /** Milliseconds since the epoch on the execution's clock. */
  nowMs(): number;
}

/** Functions allowed only in `call` steps (they block, or talk to the world). */
export const BLOCKING_FUNCTIONS: ReadonlySet<string> = new Set([
  "sys.sleep",
  "sys.sleep_until",
  "sys.log",
  "http.get",
  "http.post",
  "http.put",
  "http.patch",
  "http.delete",
  "http.request",
  "events.create_callback_endpoint",
  "events.await_callback",
]);

const BACKOFF: WfMap = { initial_delay: 1, max_delay: 60, multiplier: new Double(1.25) };

const CONSTANTS: Record<string, Value> = {
  "http.default_retry": {
    predicate: new FnRef("http.default_retry_predicate"),
    max_retries: 5,
    backoff: BACKOFF,
  },
  "http.default_retry_non_idempotent": {
    predicate: new FnRef("http.default_retry_predicate_non_idempotent"),
    max_retries: 5,
    backoff: BACKOFF,
  },
  "retry.default_backoff": BACKOFF,
  "http.default_retry_predicate": new FnRef("http.default_retry_predicate"),
  "http.default_retry_predicate_non_idempotent": new FnRef("http.default_retry_predicate_non_idempotent"),
  "retry.always": new FnRef("retry.always"),
  "retry.never": new FnRef("retry.never"),
};

/** A library name used as a value (`${http.default_retry}`), or undefined. Returned values are shared: copy before mutating. */
export function libraryValue(name: string): Value | undefined {
  return CONSTANTS[name];
}

function tagsOf(e: Value): string[] {
  if (isMap(e) && Array.isArray(e.tags)) return e.tags.filter((t): t is string => typeof t === "string");
  return [];
}

function codeOf(e: Value): number | undefined {
  if (isMap(e) && typeof e.code === "number") return e.code;
  return undefined;
}

export function defaultRetryPredicate(e: Value): boolean {
  const tags = tagsOf(e);
  if (
    tags.includes("ConnectionError") ||
    tags.includes("ConnectionFailedError") ||
    tags.includes("TimeoutError")
  )
    return true;
  const code = codeOf(e);
  return code === 429 || code === 502 || code === 503 || code === 504;
}

export function nonIdempotentRetryPredicate(e: Value): boolean {
  if (tagsOf(e).includes("ConnectionFailedError")) return true;
  const code = codeOf(e);
  return code === 429 || code === 503;
}

function need(name: string, v: Value, type: string): never {
  throw wfError("TypeError", `${name}: expected ${type}, got ${typeName(v)}`);
}

function str(name: string, v: Value): string {
  return typeof v === "string" ? v : need(name, v, "a string");
}

function int(name: string, v: Value): number {
  return typeof v === "number" ? v : need(name, v, "an integer");
}

function bytes(name: string, v: Value): Uint8Array {
  return v instanceof Uint8Array ? v : need(name, v, "bytes");
}

function list(name: string, v: Value): Value[] {
  return Array.isArray(v) ? v : need(name, v, "a list");
}

function map(name: string, v: Value): WfMap {
  return isMap(v) ? v : need(name, v, "a map");
}

function codePoints(s: string): string[] {
  return Array.from(s);
}

/** RE2 syntax, as far as JS regexes share it; `(?P<name>` is RE2's named group. */
function regex(name: string, pattern: Value, flags = ""): RegExp {
  const p = str(name, pattern).replace(/\(\?P</g, "(?<");
  try {
    return new RegExp(p, `u${flags}`);
  } catch (err) {
    throw wfError("ValueError", `${name}: invalid regular expression: ${(err as Error).message}`);
  }
}

function toInt(v: Value): Value {
  if (typeof v === "number") return v;
  if (v instanceof Double) {
    if (!Number.isFinite(v.v)) throw wfError("ValueError", `int(): cannot convert ${v.v}`);
    return Math.trunc(v.v);
  }
  if (typeof v === "string") {
    const s = v.trim();
    if (!/^[+-]?\d+$/.test(s)) throw wfError("ValueError", `int(): "${v}" is not an integer`);
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw wfError("ValueError", `int(): "${v}" is out of range`);
    return n;
  }
  return need("int", v, "a string, an integer or a double");
}

function toDouble(v: Value): Value {
  if (isNumber(v)) return new Double(num(v));
  if (typeof v === "string") {
    const s = v.trim();
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) && !/^[+-]?(inf|infinity|nan)$/i.test(s))
      throw wfError("ValueError", `double(): "${v}" is not a number`);
    const lower = s.toLowerCase();
    if (lower.endsWith("nan")) return new Double(Number.NaN);
    if (lower.includes("inf"))
      return new Double(s.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY);
    return new Double(Number(s));
  }
  return need("double", v, "a string, an integer or a double");
}

function toStr(v: Value): Value {
  if (typeof v === "string") return v;
  if (isNumber(v)) return formatNumber(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  return need("string", v, "a number, a boolean or a string");
}

function jsonText(v: Value, indent: Value | undefined): string {
  let space: number | undefined;
  if (indent === undefined || indent === null || indent === false) space = undefined;
  else if (indent === true) space = 2;
  else if (typeof indent === "number") space = indent;
  else if (isMap(indent)) space = typeof indent.prefix === "number" ? indent.prefix : 2;
  else need("json.encode indent", indent, "a boolean or an integer");
  return JSON.stringify(toJson(v), null, space);
}

function mergeNested(a: WfMap, b: WfMap): WfMap {
  const out = deepCopy(a) as WfMap;
  for (const k of Object.keys(b)) {
    const x = out[k];
    const y = b[k];
    setKey(out, k, isMap(x) && isMap(y) && hasKey(out, k) ? mergeNested(x, y) : deepCopy(y));
  }
  return out;
}

function tzOffsetMinutes(ms: number, timeZone: string): number {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  } catch {
    throw wfError("ValueError", `time.format: unknown time zone "${timeZone}"`);
  }
  const parts = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

function formatTime(seconds: Value, tz: Value | undefined): string {
  if (!isNumber(seconds)) need("time.format", seconds, "seconds since the epoch (a number)");
  const s = num(seconds as number | Double);
  const ms = s * 1000;
  // Always microseconds, as the platform prints them: "2024-07-12T12:50:33.000000Z".
  const micros = Math.min(999_999, Math.round((s - Math.floor(s)) * 1e6));
  const frac = `.${String(micros).padStart(6, "0")}`;
  const zone = tz === undefined || tz === null || tz === "" ? "UTC" : str("time.format timezone", tz);
  const offset = zone === "UTC" || zone === "Z" || zone === "Etc/UTC" ? 0 : tzOffsetMinutes(ms, zone);
  const local = new Date(Math.floor(s) * 1000 + offset * 60000).toISOString().slice(0, 19);
  if (offset === 0) return `${local}${frac}Z`;
  const sign = offset < 0 ? "-" : "+";
  const a = Math.abs(offset);
  return `${local}${frac}${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

function parseTime(v: Value): Value {
  const s = str("time.parse", v);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s))
    throw wfError("ValueError", `time.parse: "${s}" is not an RFC 3339 / ISO 8601 timestamp with a zone`);
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw wfError("ValueError", `time.parse: "${s}" is not a valid time`);
  const fracMatch = /\.(\d+)/.exec(s);
  const extra = fracMatch
    ? Number(`0.${fracMatch[1]}`) - Math.floor(Number(`0.${fracMatch[1]}`) * 1000) / 1000
    : 0;
  return new Double(ms / 1000 + extra);
}

function hashAlgo(v: Value): string {
  const a = str("hash algorithm", v).toUpperCase();
  const table: Record<string, string> = {
    MD5: "md5",
    SHA1: "sha1",
    SHA256: "sha256",
    SHA384: "sha384",
    SHA512: "sha512",
  };
  const algo = table[a];
  if (!algo)
    throw wfError(
      "ValueError",
      `unsupported hash algorithm "${v}" (use MD5, SHA1, SHA256, SHA384 or SHA512)`,
    );
  return algo;
}

function asBinary(name: string, v: Value): Uint8Array {
  if (typeof v === "string") return Buffer.from(v, "utf8");
  return bytes(name, v);
}

export function createLibrary(rt: LibraryRuntime): Library {
  const m = new Map<string, LibFn>();
  const def = (name: string, params: string[], min: number, fn: (a: Value[]) => Value) =>
    m.set(name, { params, min, fn });

  // expression helpers
  def("default", ["value", "default_value"], 2, ([v, d]) => (v === null ? d : v));
  def("if", ["condition", "if_true", "if_false"], 3, ([c, a, b]) => {
    if (typeof c !== "boolean" && c !== null) need("if", c, "a boolean condition");
    return c === true ? a : b;
  });
  def("int", ["value"], 1, ([v]) => toInt(v));
  def("double", ["value"], 1, ([v]) => toDouble(v));
  def("string", ["value"], 1, ([v]) => toStr(v));
  def("len", ["value"], 1, ([v]) => {
    if (typeof v === "string") return codePoints(v).length;
    if (Array.isArray(v)) return v.length;
    if (isMap(v)) return Object.keys(v).length;
    if (v instanceof Uint8Array) return v.length;
    return need("len", v, "a string, a list or a map");
  });
  def("keys", ["map"], 1, ([v]) => Object.keys(map("keys", v)));
  def("get_type", ["value"], 1, ([v]) => typeName(v));

  // base64
  def("base64.encode", ["data", "padding"], 1, ([d, pad]) => {
    const s = Buffer.from(bytes("base64.encode", d)).toString("base64");
    return pad === false ? s.replace(/=+$/, "") : s;
  });
  def("base64.decode", ["data", "padding"], 1, ([d]) => {
    const s = str("base64.decode", d);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s))
      throw wfError("ValueError", "base64.decode: input is not valid base64");
    return new Uint8Array(Buffer.from(s, "base64"));
  });

  // hash
  def(
    "hash.compute_checksum",
    ["data", "algorithm"],
    2,
    ([d, a]) => new Uint8Array(createHash(hashAlgo(a)).update(asBinary("hash.compute_checksum", d)).digest()),
  );
  def(
    "hash.compute_hmac",
    ["key", "data", "algorithm"],
    3,
    ([k, d, a]) =>
      new Uint8Array(
        createHmac(hashAlgo(a), asBinary("hash.compute_hmac key", k))
          .update(asBinary("hash.compute_hmac", d))
          .digest(),
      ),
  );

  // json
  def("json.encode", ["data", "indent"], 1, ([d, i]) => new Uint8Array(Buffer.from(jsonText(d, i), "utf8")));
  def("json.encode_to_string", ["data", "indent"], 1, ([d, i]) => jsonText(d, i));
  def("json.decode", ["data"], 1, ([d]) => {
    const text = d instanceof Uint8Array ? Buffer.from(d).toString("utf8") : str("json.decode", d);
    try {
      return parseJsonValue(text);
    } catch (err) {
      throw wfError("ValueError", `json.decode: ${(err as Error).message}`);
    }
  });

  // list
  def("list.concat", ["objs", "val"], 2, ([l, v]) => [
    ...(deepCopy(list("list.concat", l)) as Value[]),
    deepCopy(v),
  ]);
  def("list.prepend", ["objs", "val"], 2, ([l, v]) => [
    deepCopy(v),
    ...(deepCopy(list("list.prepend", l)) as Value[]),
  ]);

  // map
  def("map.get", ["map", "keys"], 2, ([mv, k]) => {
    const path = Array.isArray(k) ? k : [k];
    let cur: Value = mv;
    for (const key of path) {
      if (typeof key !== "string") need("map.get key", key, "a string");
      if (!isMap(cur) || !hasKey(cur, key as string)) return null;
      cur = cur[key as string];
    }
    return cur;
  });
  def("map.delete", ["map", "key"], 2, ([mv, k]) => {
    const out = deepCopy(map("map.delete", mv)) as WfMap;
    delete out[str("map.delete key", k)];
    return out;
  });
  def("map.merge", ["first", "second"], 2, ([a, b]) => {
    const out = deepCopy(map("map.merge", a)) as WfMap;
    const src = map("map.merge", b);
    for (const k of Object.keys(src)) setKey(out, k, deepCopy(src[k]));
    return out;
  });
  def("map.merge_nested", ["first", "second"], 2, ([a, b]) =>
    mergeNested(map("map.merge_nested", a), map("map.merge_nested", b)),
  );

  // math
  const numArg = (name: string, v: Value): number | Double => (isNumber(v) ? v : need(name, v, "a number"));
  def("math.abs", ["x"], 1, ([x]) => {
    const v = numArg("math.abs", x);
    return typeof v === "number" ? Math.abs(v) : new Double(Math.abs(v.v));
  });
  def("math.floor", ["x"], 1, ([x]) => {
    const v = numArg("math.floor", x);
    return typeof v === "number" ? v : Math.floor(v.v);
  });
  def("math.max", ["x", "y"], 2, ([x, y]) =>
    num(numArg("math.max", x)) >= num(numArg("math.max", y)) ? x : y,
  );
  def("math.min", ["x", "y"], 2, ([x, y]) =>
    num(numArg("math.min", x)) <= num(numArg("math.min", y)) ? x : y,
  );
  def("math.sqrt", ["x"], 1, ([x]) => {
    const v = num(numArg("math.sqrt", x));
    if (v < 0) throw wfError("ValueError", "math.sqrt of a negative number");
    return new Double(Math.sqrt(v));
  });

  // retry predicates
  def("retry.always", ["e"], 1, () => true);
  def("retry.never", ["e"], 1, () => false);
  def("http.default_retry_predicate", ["e"], 1, ([e]) => defaultRetryPredicate(e));
  def("http.default_retry_predicate_non_idempotent", ["e"], 1, ([e]) => nonIdempotentRetryPredicate(e));

  // sys
  def("sys.get_env", ["name", "default"], 1, ([n, d]) => {
    const v = rt.env(str("sys.get_env", n));
    return v === undefined ? (d === undefined ? null : d) : v;
  });
  def("sys.now", [], 0, () => new Double(rt.nowMs() / 1000));

  // text
  def("text.decode", ["data", "charset"], 1, ([d, c]) => {
    const cs = c === undefined || c === null ? "UTF-8" : str("text.decode charset", c);
    const enc =
      cs.toUpperCase().replace("-", "") === "UTF8"
        ? "utf8"
        : cs.toLowerCase() === "latin1" || cs.toUpperCase() === "ISO-8859-1"
          ? "latin1"
          : undefined;
    if (!enc) throw wfError("ValueError", `text.decode: unsupported charset "${cs}"`);
    return Buffer.from(bytes("text.decode", d)).toString(enc);
  });
  def("text.encode", ["text", "charset"], 1, ([t, c]) => {
    const cs = c === undefined || c === null ? "UTF-8" : str("text.encode charset", c);
    const enc =
      cs.toUpperCase().replace("-", "") === "UTF8"
        ? "utf8"
        : cs.toLowerCase() === "latin1" || cs.toUpperCase() === "ISO-8859-1"
          ? "latin1"
          : undefined;
    if (!enc) throw wfError("ValueError", `text.encode: unsupported charset "${cs}"`);
    return new Uint8Array(Buffer.from(str("text.encode", t), enc));
  });
  def("text.find_all", ["source", "substr"], 2, ([s, sub]) => {
    const src = str("text.find_all", s);
    const needle = str("text.find_all substr", sub);
    const out: Value[] = [];
    if (needle === "") return out;
    let i = src.indexOf(needle);
    while (i !== -1) {
      out.push({ index: i, match: needle });
      i = src.indexOf(needle, i + needle.length);
    }
    return out;
  });
  def("text.find_all_regex", ["source", "regex"], 2, ([s, r]) => {
    const src = str("text.find_all_regex", s);
    const re = regex("text.find_all_regex", r, "g");
    const out: Value[] = [];
    for (const hit of src.matchAll(re)) {
      if (hit[0] === "" && out.length > 10_000) break;
      out.push({ index: hit.index ?? 0, match: hit[0] });
    }
    return out;
  });
  def("text.match_regex", ["source", "regex"], 2, ([s, r]) =>
    regex("text.match_regex", r).test(str("text.match_regex", s)),
  );
  def("text.replace_all", ["source", "substr", "repl"], 3, ([s, a, b]) => {
    const needle = str("text.replace_all substr", a);
    if (needle === "") throw wfError("ValueError", "text.replace_all: substr must not be empty");
    return str("text.replace_all", s).split(needle).join(str("text.replace_all repl", b));
  });
  def("text.replace_all_regex", ["source", "regex", "repl"], 3, ([s, r, b]) => {
    // RE2 replacements name groups \1 .. \9 and \0 for the whole match; `$` is literal.
    const repl = str("text.replace_all_regex repl", b)
      .replace(/\$/g, "$$$$")
      .replace(/\\(\d)/g, (_m, d: string) => (d === "0" ? "$&" : `$${d}`));
    return str("text.replace_all_regex", s).replace(regex("text.replace_all_regex", r, "g"), repl);
  });
  def("text.split", ["source", "separator"], 2, ([s, sep]) => {
    const separator = str("text.split separator", sep);
    const src = str("text.split", s);
    if (separator === "") return codePoints(src);
    return src.split(separator);
  });
  def("text.substring", ["source", "start", "end"], 3, ([s, a, b]) => {
    const cps = codePoints(str("text.substring", s));
    const start = Math.max(0, Math.min(cps.length, int("text.substring start", a)));
    const end = Math.max(start, Math.min(cps.length, int("text.substring end", b)));
    return cps.slice(start, end).join("");
  });
  def("text.to_lower", ["source"], 1, ([s]) => str("text.to_lower", s).toLowerCase());
  def("text.to_upper", ["source"], 1, ([s]) => str("text.to_upper", s).toUpperCase());
  def("text.url_encode", ["source"], 1, ([s]) =>
    encodeURIComponent(str("text.url_encode", s)).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    ),
  );
  def("text.url_encode_plus", ["source"], 1, ([s]) =>
    encodeURIComponent(str("text.url_encode_plus", s))
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, "+"),
  );
  def("text.url_decode", ["source"], 1, ([s]) => {
    try {
      return decodeURIComponent(str("text.url_decode", s).replace(/\+/g, " "));
    } catch {
      throw wfError("ValueError", "text.url_decode: malformed percent-encoding");
    }
  });

  // time
  def("time.format", ["seconds", "timezone"], 1, ([s, tz]) => formatTime(s, tz));
  def("time.parse", ["value"], 1, ([v]) => parseTime(v));

  // uuid
  def("uuid.generate", [], 0, () => randomUUID());

  return { expression: m };
}

const HTTP_ARGS = ["url", "method", "headers", "query", "body", "auth", "timeout", "private_service_name"];
const BLOCKING_PARAMS: Record<string, string[]> = {
  "sys.sleep": ["seconds"],
  "sys.sleep_until": ["time"],
  "sys.log": ["data", "severity", "text", "json", "timeout"],
  "http.get": HTTP_ARGS,
  "http.post": HTTP_ARGS,
  "http.put": HTTP_ARGS,
  "http.patch": HTTP_ARGS,
  "http.delete": HTTP_ARGS,
  "http.request": HTTP_ARGS,
};

/** Parameter names of every library function callable from a `call` step, for the validator. */
export const LIBRARY_PARAMS: ReadonlyMap<string, readonly string[]> = new Map([
  ...[...createLibrary({ env: () => undefined, nowMs: () => 0 }).expression.entries()].map(
    ([k, v]) => [k, v.params] as [string, string[]],
  ),
  ...Object.entries(BLOCKING_PARAMS),
]);

/** Every library function name, for the validator (expression functions plus blocking ones). */
export const LIBRARY_FUNCTIONS: ReadonlySet<string> = new Set([
  ...LIBRARY_PARAMS.keys(),
  ...BLOCKING_FUNCTIONS,
]);
