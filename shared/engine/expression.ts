import type { Scope } from "./scope.ts";
import { type Library, libraryValue } from "./stdlib.ts";
import {
  Double,
  FnRef,
  formatNumber,
  hasKey,
  isMap,
  isNumber,
  num,
  typeName,
  type Value,
  valuesEqual,
  wfError,
} from "./values.ts";

/**
 * `${...}` expressions: a tokenizer, a precedence-climbing parser and a compiler to closures. Each distinct source
 * text is parsed and compiled once (see {@link compileExpression}'s cache).
 *
 * Precedence, highest first (Workflows' documented order): `()`, `.`, `[]`, `not`, unary `-`, `* / // %`, `+ -`,
 * `< <= > >= == != in`, `and`, `or`; binary operators are left-associative. `not` binding tighter than `==` is a
 * documented pitfall: `not a == b` is `(not a) == b`.
 */

export type Node =
  | { k: "lit"; v: Value }
  | { k: "var"; name: string }
  | { k: "member"; obj: Node; name: string }
  | { k: "index"; obj: Node; idx: Node }
  | { k: "call"; name: string; args: Node[] }
  | { k: "ref"; name: string }
  | { k: "un"; op: "not" | "-"; e: Node }
  | { k: "bin"; op: string; l: Node; r: Node }
  | { k: "list"; items: Node[] }
  | { k: "map"; entries: [Node, Node][] };

/** What compiled expressions read at run time. */
export interface EvalContext {
  scope: Scope;
  /** A function the library does not define: a subworkflow called from an expression. */
  callFunction(name: string, args: Value[]): Value;
  hasRoutine(name: string): boolean;
  lib: Library;
}

export type Compiled = ((c: EvalContext) => Value) & { fresh?: boolean };

export class ExpressionSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExpressionSyntaxError";
  }
}

/** The longest `${...}` expression the platform accepts. */
export const MAX_EXPRESSION_LENGTH = 1000;

type Tok = { t: "num" | "str" | "id" | "op" | "end"; v: string; dbl?: boolean; pos: number };

const KEYWORDS: Record<string, string> = {
  and: "and",
  AND: "and",
  or: "or",
  OR: "or",
  not: "not",
  NOT: "not",
  in: "in",
  IN: "in",
};
const LITERALS: Record<string, Value> = {
  true: true,
  True: true,
  TRUE: true,
  false: false,
  False: false,
  FALSE: false,
  null: null,
};

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const ch = src[i];
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") {
      i++;
      continue;
    }
    const start = i;
    if ((ch >= "0" && ch <= "9") || (ch === "." && src[i + 1] >= "0" && src[i + 1] <= "9")) {
      let dbl = false;
      while (i < n && src[i] >= "0" && src[i] <= "9") i++;
      if (src[i] === "." && src[i + 1] >= "0" && src[i + 1] <= "9") {
        dbl = true;
        i++;
        while (i < n && src[i] >= "0" && src[i] <= "9") i++;
      } else if (src[i] === "." && !/[A-Za-z_]/.test(src[i + 1] ?? "")) {
        dbl = true;
        i++;
      }
      if (src[i] === "e" || src[i] === "E") {
        let j = i + 1;
        if (src[j] === "+" || src[j] === "-") j++;
        if (src[j] >= "0" && src[j] <= "9") {
          dbl = true;
          i = j;
          while (i < n && src[i] >= "0" && src[i] <= "9") i++;
        }
      }
      out.push({ t: "num", v: src.slice(start, i), dbl, pos: start });
      continue;
    }
    if (ch === '"' || ch === "'") {
      i++;
      let s = "";
      for (;;) {
        if (i >= n) throw new ExpressionSyntaxError(`unterminated string starting at ${start + 1}`);
        const c = src[i];
        if (c === ch) {
          i++;
          break;
        }
        if (c === "\\") {
          const e = src[i + 1];
          i += 2;
          switch (e) {
            case "n":
              s += "\n";
              break;
            case "t":
              s += "\t";
              break;
            case "r":
              s += "\r";
              break;
            case "u": {
              const hex = src.slice(i, i + 4);
              if (!/^[0-9a-fA-F]{4}$/.test(hex))
                throw new ExpressionSyntaxError(`bad \\u escape at ${i - 1}`);
              s += String.fromCharCode(Number.parseInt(hex, 16));
              i += 4;
              break;
            }
            case undefined:
              throw new ExpressionSyntaxError("unterminated escape");
            default:
              s += e;
          }
          continue;
        }
        s += c;
        i++;
      }
      out.push({ t: "str", v: s, pos: start });
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      while (i < n && /[A-Za-z0-9_]/.test(src[i])) i++;
      out.push({ t: "id", v: src.slice(start, i), pos: start });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === "//" || two === "==" || two === "!=" || two === "<=" || two === ">=") {
      out.push({ t: "op", v: two, pos: start });
      i += 2;
      continue;
    }
    if ("+-*/%<>()[]{},.:".includes(ch)) {
      out.push({ t: "op", v: ch, pos: start });
      i++;
      continue;
    }
    throw new ExpressionSyntaxError(`unexpected character "${ch}" at position ${i + 1}`);
  }
  out.push({ t: "end", v: "", pos: n });
  return out;
}

const BINARY: Record<string, number> = {
  or: 1,
  and: 2,
  "<": 3,
  "<=": 3,
  ">": 3,
  ">=": 3,
  "==": 3,
  "!=": 3,
  in: 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "//": 5,
  "%": 5,
};
const PREC_NEG = 6;
const PREC_NOT = 7;

class Parser {
  private readonly toks: Tok[];
  private p = 0;
  constructor(src: string) {
    this.toks = tokenize(src);
  }
  private peek(): Tok {
    return this.toks[this.p];
  }
  private opOf(t: Tok): string | undefined {
    if (t.t === "op") return t.v;
    if (t.t === "id") return KEYWORDS[t.v];
    return undefined;
  }
  private expect(v: string): void {
    const t = this.toks[this.p];
    if (t.t !== "op" || t.v !== v)
      throw new ExpressionSyntaxError(
        `expected "${v}" at position ${t.pos + 1}, found ${t.t === "end" ? "end of expression" : `"${t.v}"`}`,
      );
    this.p++;
  }
  parseAll(): Node {
    const e = this.parseExpr(0);
    const t = this.peek();
    if (t.t !== "end") throw new ExpressionSyntaxError(`unexpected "${t.v}" at position ${t.pos + 1}`);
    return e;
  }
  parseExpr(minPrec: number): Node {
    let left = this.parseUnary();
    for (;;) {
      const op = this.opOf(this.peek());
      if (op === undefined) break;
      const prec = BINARY[op];
      if (prec === undefined || prec <= minPrec) break;
      this.p++;
      const right = this.parseExpr(prec);
      left = { k: "bin", op, l: left, r: right };
    }
    return left;
  }
  private parseUnary(): Node {
    const t = this.peek();
    const op = this.opOf(t);
    if (op === "not") {
      this.p++;
      return { k: "un", op: "not", e: this.parseOperand(PREC_NOT) };
    }
    if (op === "-") {
      this.p++;
      const e = this.parseOperand(PREC_NEG);
      if (e.k === "lit" && typeof e.v === "number") return { k: "lit", v: -e.v };
      if (e.k === "lit" && e.v instanceof Double) return { k: "lit", v: new Double(-e.v.v) };
      return { k: "un", op: "-", e };
    }
    return this.parsePostfix();
  }
  /** The operand of a prefix operator: a prefix chain or a postfix expression, no binary operator above `prec`. */
  private parseOperand(prec: number): Node {
    const t = this.peek();
    const op = this.opOf(t);
    if (op === "not" || op === "-") {
      const inner = this.parseUnary();
      return prec === PREC_NOT && inner.k === "un" ? inner : inner;
    }
    return this.parsePostfix();
  }
  private parsePostfix(): Node {
    let e = this.parsePrimary();
    for (;;) {
      const t = this.peek();
      if (t.t !== "op") break;
      if (t.v === ".") {
        this.p++;
        const id = this.peek();
        if (id.t !== "id")
          throw new ExpressionSyntaxError(`expected a name after "." at position ${id.pos + 1}`);
        this.p++;
        e = { k: "member", obj: e, name: id.v };
      } else if (t.v === "[") {
        this.p++;
        const idx = this.parseExpr(0);
        this.expect("]");
        e = { k: "index", obj: e, idx };
      } else if (t.v === "(") {
        const name = dottedName(e);
        if (name === undefined)
          throw new ExpressionSyntaxError(`only named functions can be called (position ${t.pos + 1})`);
        this.p++;
        const args: Node[] = [];
        if (!(this.peek().t === "op" && this.peek().v === ")")) {
          for (;;) {
            args.push(this.parseExpr(0));
            if (this.peek().t === "op" && this.peek().v === ",") {
              this.p++;
              continue;
            }
            break;
          }
        }
        this.expect(")");
        e = { k: "call", name, args };
      } else break;
    }
    return e;
  }
  private parsePrimary(): Node {
    const t = this.peek();
    this.p++;
    switch (t.t) {
      case "num": {
        if (t.dbl) return { k: "lit", v: new Double(Number(t.v)) };
        const n = Number(t.v);
        if (n > INT_MAX) return { k: "lit", v: new Double(n) };
        return { k: "lit", v: n };
      }
      case "str":
        return { k: "lit", v: t.v };
      case "id": {
        if (t.v in LITERALS) return { k: "lit", v: LITERALS[t.v] };
        if (KEYWORDS[t.v]) throw new ExpressionSyntaxError(`unexpected "${t.v}" at position ${t.pos + 1}`);
        return { k: "var", name: t.v };
      }
      case "op":
        if (t.v === "(") {
          const e = this.parseExpr(0);
          this.expect(")");
          return e;
        }
        if (t.v === "[") {
          const items: Node[] = [];
          if (!(this.peek().t === "op" && this.peek().v === "]")) {
            for (;;) {
              items.push(this.parseExpr(0));
              if (this.peek().t === "op" && this.peek().v === ",") {
                this.p++;
                if (this.peek().t === "op" && this.peek().v === "]") break;
                continue;
              }
              break;
            }
          }
          this.expect("]");
          return { k: "list", items };
        }
        if (t.v === "{") {
          const entries: [Node, Node][] = [];
          if (!(this.peek().t === "op" && this.peek().v === "}")) {
            for (;;) {
              const key = this.parseExpr(0);
              this.expect(":");
              entries.push([key, this.parseExpr(0)]);
              if (this.peek().t === "op" && this.peek().v === ",") {
                this.p++;
                if (this.peek().t === "op" && this.peek().v === "}") break;
                continue;
              }
              break;
            }
          }
          this.expect("}");
          return { k: "map", entries };
        }
        break;
      case "end":
        throw new ExpressionSyntaxError("unexpected end of expression");
    }
    throw new ExpressionSyntaxError(`unexpected "${t.v}" at position ${t.pos + 1}`);
  }
}

function dottedName(e: Node): string | undefined {
  if (e.k === "var") return e.name;
  if (e.k === "member") {
    const base = dottedName(e.obj);
    return base === undefined ? undefined : `${base}.${e.name}`;
  }
  return undefined;
}

/** Parse expression text (the part inside `${}`), resolving library constants such as `http.default_retry`. */
export function parseExpression(src: string): Node {
  if (src.length > MAX_EXPRESSION_LENGTH)
    throw new ExpressionSyntaxError(
      `expression is ${src.length} characters; the limit is ${MAX_EXPRESSION_LENGTH}`,
    );
  return resolveRefs(new Parser(src).parseAll());
}

function resolveRefs(n: Node): Node {
  switch (n.k) {
    case "member": {
      const name = dottedName(n);
      if (name !== undefined && libraryValue(name) !== undefined) return { k: "ref", name };
      return { k: "member", obj: resolveRefs(n.obj), name: n.name };
    }
    case "index":
      return { k: "index", obj: resolveRefs(n.obj), idx: resolveRefs(n.idx) };
    case "call":
      return { k: "call", name: n.name, args: n.args.map(resolveRefs) };
    case "un":
      return { k: "un", op: n.op, e: resolveRefs(n.e) };
    case "bin":
      return { k: "bin", op: n.op, l: resolveRefs(n.l), r: resolveRefs(n.r) };
    case "list":
      return { k: "list", items: n.items.map(resolveRefs) };
    case "map":
      return {
        k: "map",
        entries: n.entries.map(([a, b]) => [resolveRefs(a), resolveRefs(b)] as [Node, Node]),
      };
    default:
      return n;
  }
}

/** Every node of a tree, depth first (for the validator). */
export function walkNodes(n: Node, visit: (n: Node) => void): void {
  visit(n);
  switch (n.k) {
    case "member":
      walkNodes(n.obj, visit);
      break;
    case "index":
      walkNodes(n.obj, visit);
      walkNodes(n.idx, visit);
      break;
    case "call":
      for (const a of n.args) walkNodes(a, visit);
      break;
    case "un":
      walkNodes(n.e, visit);
      break;
    case "bin":
      walkNodes(n.l, visit);
      walkNodes(n.r, visit);
      break;
    case "list":
      for (const a of n.items) walkNodes(a, visit);
      break;
    case "map":
      for (const [a, b] of n.entries) {
        walkNodes(a, visit);
        walkNodes(b, visit);
      }
      break;
  }
}

// ---------------------------------------------------------------- operators

/** 2^63: the first value past int64 (as a double; ints between 2^53 and 2^63 lose precision here). */
const INT_MAX = 2 ** 63;

function intResult(x: number, op: string): number | Double {
  if (Number.isSafeInteger(x)) return x;
  if (Math.abs(x) > INT_MAX) throw wfError("ValueError", `integer overflow in "${op}"`);
  return x;
}

function typeErr(op: string, a: Value, b?: Value): never {
  throw wfError(
    "TypeError",
    b === undefined
      ? `unsupported operand type for ${op}: ${typeName(a)}`
      : `unsupported operand types for ${op}: ${typeName(a)} and ${typeName(b)}`,
  );
}

export function add(a: Value, b: Value): Value {
  if (typeof a === "number" && typeof b === "number") return intResult(a + b, "+");
  if (typeof a === "string" && typeof b === "string") return a + b;
  if (isNumber(a) && isNumber(b)) return new Double(num(a) + num(b));
  return typeErr("+", a, b);
}

function arith(op: string, a: Value, b: Value): Value {
  if (!isNumber(a) || !isNumber(b)) return typeErr(op, a, b);
  const bothInt = typeof a === "number" && typeof b === "number";
  const x = num(a);
  const y = num(b);
  switch (op) {
    case "-":
      return bothInt ? intResult(x - y, op) : new Double(x - y);
    case "*":
      return bothInt ? intResult(x * y, op) : new Double(x * y);
    case "/":
      if (y === 0) throw wfError("ZeroDivisionError", "division by zero");
      return new Double(x / y);
    case "//": {
      if (y === 0) throw wfError("ZeroDivisionError", "integer division by zero");
      const q = Math.floor(x / y);
      return bothInt ? q : new Double(q);
    }
    case "%": {
      if (y === 0) throw wfError("ZeroDivisionError", "modulo by zero");
      const r = x - y * Math.floor(x / y);
      return bothInt ? r : new Double(r);
    }
  }
  return typeErr(op, a, b);
}

function compare(op: string, a: Value, b: Value): boolean {
  let c: number;
  if (isNumber(a) && isNumber(b)) {
    const x = num(a);
    const y = num(b);
    c = x < y ? -1 : x > y ? 1 : 0;
  } else if (typeof a === "string" && typeof b === "string") c = a < b ? -1 : a > b ? 1 : 0;
  else return typeErr(op, a, b);
  switch (op) {
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    default:
      return c >= 0;
  }
}

export function contains(container: Value, item: Value): boolean {
  if (Array.isArray(container)) {
    for (const x of container) if (valuesEqual(x, item)) return true;
    return false;
  }
  if (isMap(container)) {
    if (typeof item !== "string")
      throw wfError("TypeError", `map keys are strings; "in" got ${typeName(item)}`);
    return hasKey(container, item);
  }
  return typeErr("in", item, container);
}

function bool(v: Value, op: string): boolean {
  if (typeof v !== "boolean")
    throw wfError("TypeError", `"${op}" takes booleans, got ${typeName(v)} (there is no truthiness)`);
  return v;
}

export function getMember(obj: Value, key: string): Value {
  if (isMap(obj)) {
    const v = obj[key];
    if (v === undefined && !hasKey(obj, key)) throw wfError("KeyError", `key not found: ${key}`);
    return v;
  }
  throw wfError("TypeError", `cannot read key "${key}" of ${typeName(obj)}`);
}

export function getIndex(obj: Value, idx: Value): Value {
  if (Array.isArray(obj)) {
    if (typeof idx !== "number")
      throw wfError("TypeError", `list index must be an integer, got ${typeName(idx)}`);
    if (idx < 0 || idx >= obj.length)
      throw wfError("IndexError", `list index ${idx} out of range (length ${obj.length})`);
    return obj[idx];
  }
  if (isMap(obj)) {
    if (typeof idx !== "string") throw wfError("TypeError", `map key must be a string, got ${typeName(idx)}`);
    return getMember(obj, idx);
  }
  throw wfError("TypeError", `cannot index ${typeName(obj)}`);
}

// ---------------------------------------------------------------- compiler

const cache = new Map<string, Compiled>();

/** Compile the text inside `${}` once; later calls with the same text return the same closure. */
export function compileExpression(src: string): Compiled {
  let f = cache.get(src);
  if (f === undefined) {
    f = compileNode(parseExpression(src));
    cache.set(src, f);
  }
  return f;
}

function fresh(f: Compiled): Compiled {
  f.fresh = true;
  return f;
}

export function compileNode(n: Node): Compiled {
  switch (n.k) {
    case "lit": {
      const v = n.v;
      return fresh(() => v);
    }
    case "var": {
      const name = n.name;
      return (c) => {
        const v = c.scope.get(name);
        if (v !== undefined) return v;
        if (c.hasRoutine(name)) return new FnRef(name);
        throw wfError("KeyError", `variable not defined: ${name}`);
      };
    }
    case "ref": {
      const v = libraryValue(n.name);
      return () => v as Value;
    }
    case "member": {
      const obj = compileNode(n.obj);
      const key = n.name;
      return (c) => getMember(obj(c), key);
    }
    case "index": {
      const obj = compileNode(n.obj);
      const idx = compileNode(n.idx);
      return (c) => getIndex(obj(c), idx(c));
    }
    case "list": {
      const items = n.items.map(compileNode);
      return fresh((c) => items.map((f) => f(c)));
    }
    case "map": {
      const entries = n.entries.map(([k, v]) => [compileNode(k), compileNode(v)] as const);
      return fresh((c) => {
        const out: Record<string, Value> = {};
        for (const [k, v] of entries) {
          const key = k(c);
          if (typeof key !== "string")
            throw wfError("TypeError", `map keys must be strings, got ${typeName(key)}`);
          out[key] = v(c);
        }
        return out;
      });
    }
    case "un": {
      const e = compileNode(n.e);
      if (n.op === "not") return fresh((c) => !bool(e(c), "not"));
      return fresh((c) => {
        const v = e(c);
        if (typeof v === "number") return v === 0 ? 0 : -v;
        if (v instanceof Double) return new Double(-v.v);
        return typeErr("unary -", v);
      });
    }
    case "bin": {
      const l = compileNode(n.l);
      const r = compileNode(n.r);
      switch (n.op) {
        case "and":
          return fresh((c) => bool(l(c), "and") && bool(r(c), "and"));
        case "or":
          return fresh((c) => bool(l(c), "or") || bool(r(c), "or"));
        case "+":
          return fresh((c) => {
            const a = l(c);
            const b = r(c);
            if (typeof a === "number" && typeof b === "number") {
              const x = a + b;
              return Number.isSafeInteger(x) ? x : intResult(x, "+");
            }
            return add(a, b);
          });
        case "==":
          return fresh((c) => valuesEqual(l(c), r(c)));
        case "!=":
          return fresh((c) => !valuesEqual(l(c), r(c)));
        case "<":
        case "<=":
        case ">":
        case ">=": {
          const op = n.op;
          if (op === "<")
            return fresh((c) => {
              const a = l(c);
              const b = r(c);
              return typeof a === "number" && typeof b === "number" ? a < b : compare(op, a, b);
            });
          return fresh((c) => compare(op, l(c), r(c)));
        }
        case "in":
          return fresh((c) => contains(r(c), l(c)));
        default: {
          const op = n.op;
          return fresh((c) => arith(op, l(c), r(c)));
        }
      }
    }
    case "call":
      return compileCall(n.name, n.args.map(compileNode));
  }
}

function compileCall(name: string, args: Compiled[]): Compiled {
  return (c) => {
    const values = new Array<Value>(args.length);
    for (let i = 0; i < args.length; i++) values[i] = args[i](c);
    const fn = c.lib.expression.get(name);
    if (fn !== undefined) {
      if (values.length < fn.min || values.length > fn.params.length) {
        throw wfError(
          "TypeError",
          `${name}() takes ${fn.min === fn.params.length ? fn.min : `${fn.min} to ${fn.params.length}`} arguments (${fn.params.join(", ")}), got ${values.length}`,
        );
      }
      return fn.fn(values);
    }
    return c.callFunction(name, values);
  };
}

/** Is this YAML string a whole `${...}` expression? Returns the inner text. */
export function expressionText(s: string): string | undefined {
  if (
    s.length >= 3 &&
    s.charCodeAt(0) === 36 &&
    s.charCodeAt(1) === 123 &&
    s.charCodeAt(s.length - 1) === 125
  )
    return s.slice(2, -1);
  return undefined;
}

/** Render any value as `string()` does: ints and doubles formatted, booleans lower-case. */
export function toStringValue(v: Value): string {
  if (typeof v === "string") return v;
  if (isNumber(v)) return formatNumber(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  throw wfError("TypeError", `string() takes a number, a boolean or a string, got ${typeName(v)}`);
}
