/**
 * Workflow values. Ints are JS numbers holding safe integers; doubles are boxed in {@link Double} so that
 * `4 / 2` stays a double (2.0) and `get_type` and `//` can tell the two apart. Bytes are Uint8Array, lists are
 * arrays, maps are plain objects, and {@link FnRef} is a function used as a value (`${http.default_retry_predicate}`).
 */

export class Double {
  readonly v: number;
  constructor(v: number) {
    this.v = v;
  }
}

export class FnRef {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

export type WfMap = { [key: string]: Value };
export type Value = null | boolean | number | string | Double | Uint8Array | Value[] | WfMap | FnRef;

/** A raised workflow error: `value` is exactly what `except: as:` binds (a map, or a string for `raise: "text"`). */
export class WorkflowError extends Error {
  readonly value: Value;
  constructor(value: Value) {
    super(typeof value === "string" ? value : messageOf(value));
    this.name = "WorkflowError";
    this.value = value;
  }
}

/** Thrown through the interpreter when an execution is cancelled; `try`/`except` never catches it. */
export class CancelledSignal extends Error {
  constructor() {
    super("execution cancelled");
    this.name = "CancelledSignal";
  }
}

function messageOf(value: Value): string {
  if (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  ) {
    const m = (value as WfMap).message;
    if (typeof m === "string") return m;
  }
  try {
    return JSON.stringify(toJson(value));
  } catch {
    return String(value);
  }
}

/** A tagged error map, as the platform raises them: `{message, tags: [tag], ...extra}`. */
export function wfError(tag: string, message: string, extra?: WfMap): WorkflowError {
  return new WorkflowError({ message, tags: [tag], ...extra });
}

export function isMap(v: Value | undefined): v is WfMap {
  return (
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    !(v instanceof Double) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof FnRef)
  );
}

export function isNumber(v: Value): v is number | Double {
  return typeof v === "number" || v instanceof Double;
}

export function num(v: number | Double): number {
  return typeof v === "number" ? v : v.v;
}

/** The names `get_type` returns. */
export function typeName(v: Value | undefined): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "boolean":
      return "boolean";
    case "number":
      return "integer";
    case "string":
      return "string";
  }
  if (Array.isArray(v)) return "list";
  if (v instanceof Double) return "double";
  if (v instanceof Uint8Array) return "bytes";
  if (v instanceof FnRef) return "function";
  return "map";
}

export function setKey(m: WfMap, key: string, v: Value): void {
  if (key === "__proto__")
    Object.defineProperty(m, key, { value: v, enumerable: true, writable: true, configurable: true });
  else m[key] = v;
}

export function hasKey(m: WfMap, key: string): boolean {
  return Object.hasOwn(m, key);
}

/** Assignment copies ("passing by value"). Primitives and boxed doubles are immutable and shared. */
export function deepCopy(v: Value): Value {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) {
    const out: Value[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = deepCopy(v[i]);
    return out;
  }
  if (v instanceof Double || v instanceof FnRef) return v;
  if (v instanceof Uint8Array) return v.slice();
  const out: WfMap = {};
  for (const k in v) setKey(out, k, deepCopy(v[k]));
  return out;
}

export function valuesEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (isNumber(a) && isNumber(b)) return num(a) === num(b);
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valuesEqual(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  if (a instanceof FnRef) return b instanceof FnRef && a.name === b.name;
  if (!isMap(a) || !isMap(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!hasKey(b, k) || !valuesEqual(a[k], b[k])) return false;
  return true;
}

/** Plain JSON out. Bytes are not JSON: a TypeError, as when a workflow returns bytes. */
export function toJson(v: Value): unknown {
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Double) return Number.isFinite(v.v) ? v.v : String(v.v);
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Uint8Array)
    throw wfError(
      "TypeError",
      "bytes cannot be converted to JSON; encode them first (base64.encode or text.decode)",
    );
  if (v instanceof FnRef) return `<function ${v.name}>`;
  const out: Record<string, unknown> = {};
  for (const k in v) {
    const x = toJson(v[k]);
    if (k === "__proto__")
      Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out;
}

/** A host value in: integral numbers become ints, others doubles; Buffers stay bytes. */
export function fromPlain(x: unknown): Value {
  if (x === null || x === undefined) return null;
  switch (typeof x) {
    case "boolean":
    case "string":
      return x;
    case "number":
      return Number.isSafeInteger(x) ? x : new Double(x);
    case "bigint":
      return Number(x);
    case "object": {
      if (x instanceof Double || x instanceof FnRef) return x;
      if (x instanceof Uint8Array) return x;
      if (Array.isArray(x)) return x.map(fromPlain);
      if (x instanceof Date) return x.toISOString();
      const out: WfMap = {};
      for (const k of Object.keys(x)) setKey(out, k, fromPlain((x as Record<string, unknown>)[k]));
      return out;
    }
    default:
      return String(x);
  }
}

/** JSON text in, keeping `1.0` a double as Workflows does (the reviver sees each number's source text). */
export function parseJsonValue(text: string): Value {
  const parsed = JSON.parse(text, function (
    this: unknown,
    _key: string,
    value: unknown,
    context?: { source?: string },
  ) {
    if (typeof value === "number") {
      const src = context?.source;
      const isDouble =
        src !== undefined ? /[.eE]/.test(src) || !Number.isSafeInteger(value) : !Number.isSafeInteger(value);
      return isDouble ? new Double(value) : value;
    }
    return value;
  } as (key: string, value: unknown) => unknown);
  return fromPlain(parsed);
}

/** Rough memory size of a value, as the platform counts it against the 512 KB variable cap. */
export function sizeOf(v: Value): number {
  if (v === null || typeof v === "boolean" || typeof v === "number") return 8;
  if (typeof v === "string") return 8 + v.length;
  if (v instanceof Double || v instanceof FnRef) return 8;
  if (v instanceof Uint8Array) return 8 + v.length;
  let n = 8;
  if (Array.isArray(v)) for (const x of v) n += sizeOf(x);
  else for (const k in v) n += 8 + k.length + sizeOf(v[k]);
  return n;
}

/** `string()` of a number: ints plainly, doubles always with a fraction or exponent. */
export function formatNumber(v: number | Double): string {
  if (typeof v === "number") return String(v);
  const x = v.v;
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return `${x}.0`;
  return String(x);
}
