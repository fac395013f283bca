import {
  Alias,
  type Document,
  isScalar,
  isSeq,
  isMap as isYamlMap,
  LineCounter,
  parseDocument,
  type Node as YamlNode,
} from "yaml";
import { Double, setKey, type Value, type WfMap } from "./values.ts";

/**
 * Workflow sources (YAML, or JSON, which the YAML parser reads too) to plain values that remember their lines:
 * every map and list knows the line it starts on and the line of each of its entries.
 */

export interface SourceText {
  file: string;
  root: Value;
  /** The line (1-based) where a map or list starts. */
  lineOf(obj: object): number;
  /** The line of entry `key` (a map key or a list index) inside `obj`, or the object's own line. */
  entryLine(obj: object, key: string | number): number;
}

export class ParseError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = "ParseError";
    this.file = file;
    this.line = line;
  }
}

const FLOAT_SOURCE =
  /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/;

export function parseSource(text: string, file: string): SourceText {
  const lc = new LineCounter();
  const doc: Document = parseDocument(text, {
    lineCounter: lc,
    uniqueKeys: true,
    prettyErrors: false,
    merge: false,
  });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw new ParseError(file, line, `invalid YAML/JSON: ${e.message.split("\n")[0]}`);
  }
  const objLines = new WeakMap<object, number>();
  const entryLines = new WeakMap<object, Map<string | number, number>>();
  const lineAt = (n: YamlNode | null | undefined): number => (n?.range ? lc.linePos(n.range[0]).line : 1);

  const convert = (node: unknown, depth: number): Value => {
    if (depth > 200) throw new ParseError(file, lineAt(node as YamlNode), "document nests too deeply");
    if (node === null || node === undefined) return null;
    if (node instanceof Alias) return convert(node.resolve(doc), depth + 1);
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === "number") {
        const src = node.range ? text.slice(node.range[0], node.range[1]).trim() : String(v);
        const isFloat = (FLOAT_SOURCE.test(src) && /[.eEnN]/.test(src)) || !Number.isSafeInteger(v);
        return isFloat ? new Double(v) : v;
      }
      if (typeof v === "bigint") return Number(v);
      if (v === null || typeof v === "string" || typeof v === "boolean") return v;
      return String(v);
    }
    if (isYamlMap(node)) {
      const out: WfMap = {};
      const lines = new Map<string | number, number>();
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(convert(keyNode, depth + 1));
        setKey(out, key, convert(pair.value, depth + 1));
        lines.set(key, lineAt(keyNode));
      }
      objLines.set(out, lineAt(node));
      entryLines.set(out, lines);
      return out;
    }
    if (isSeq(node)) {
      const out: Value[] = [];
      const lines = new Map<string | number, number>();
      node.items.forEach((item, i) => {
        out.push(convert(item, depth + 1));
        lines.set(i, lineAt(item as YamlNode));
      });
      objLines.set(out, lineAt(node));
      entryLines.set(out, lines);
      return out;
    }
    throw new ParseError(file, lineAt(node as YamlNode), "unsupported YAML node");
  };

  const root = convert(doc.contents, 0);
  return {
    file,
    root,
    lineOf: (obj) => objLines.get(obj) ?? 1,
    entryLine: (obj, key) => entryLines.get(obj)?.get(key) ?? objLines.get(obj) ?? 1,
  };
}
