import { readFileSync } from "node:fs";
import { walkNodes } from "./expression.ts";
import { ParseError } from "./parse.ts";
import { type Block, compileProgram, type Finding, type Program, type Step } from "./program.ts";

/**
 * What deployment would reject, with file and line: everything the compiler reports (shape, unknown `next`
 * targets, duplicate steps, unknown functions and subworkflow parameters, malformed expressions, limits) plus the
 * whole-program checks below (writes to non-`shared` variables in `parallel`, `return` of bytes, jumps).
 */

const BYTES_FUNCTIONS = new Set([
  "base64.decode",
  "text.encode",
  "json.encode",
  "hash.compute_checksum",
  "hash.compute_hmac",
]);

export function validateSource(text: string, file: string): Finding[] {
  let program: Program;
  try {
    program = compileProgram(text, file);
  } catch (err) {
    if (err instanceof ParseError)
      return [{ file, line: err.line, message: err.message.replace(`${file}:${err.line}: `, "") }];
    throw err;
  }
  return validateProgram(program);
}

export function validateFile(file: string): Finding[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return [{ file, line: 0, message: `cannot read: ${(err as Error).message}` }];
  }
  return validateSource(text, file);
}

function children(st: Step): Block[] {
  switch (st.kind) {
    case "steps":
      return [st.body];
    case "for":
      return [st.loop.body];
    case "try":
      return st.except ? [st.body, st.except.body] : [st.body];
    case "parallel":
      return st.branches ? st.branches.map((b) => b.body) : st.loop ? [st.loop.body] : [];
    case "switch":
      return st.cases.flatMap((c) => (c.body ? [{ steps: [c.body], index: new Map() }] : []));
    default:
      return [];
  }
}

/** Variables a step writes directly (assign roots, call results, except `as`, loop variables). */
function writes(st: Step): string[] {
  switch (st.kind) {
    case "assign":
      return st.items.map((i) => i.target.root);
    case "call":
      return st.result ? [st.result.root] : [];
    case "try":
      return st.except?.as ? [st.except.as] : [];
    case "for":
      return [st.loop.value, ...(st.loop.index ? [st.loop.index] : [])];
    default:
      return [];
  }
}

export function validateProgram(program: Program): Finding[] {
  const findings = [...program.findings];
  const add = (line: number, message: string) => findings.push({ file: program.file, line, message });
  for (const routine of program.routines.values()) {
    const params = new Set(routine.params.map((p) => p.name));
    // Variables assigned before a parallel step (in source order), which its branches may read but not write.
    // Loop bodies count too, so that a parallel step inside a loop sees the loop's variables.
    const before = (skip: Step): Set<string> => {
      const names = new Set(params);
      const visit = (b: Block) => {
        for (const st of b.steps) {
          if (st === skip || st.line >= skip.line) continue;
          for (const w of writes(st)) names.add(w);
          if (st.kind === "parallel") continue;
          for (const c of children(st)) visit(c);
        }
      };
      visit(routine.body);
      return names;
    };
    const checkBlock = (b: Block, enclosing: Block[], inFor: boolean, pdepth: number) => {
      for (const st of b.steps) {
        const scopes = [b, ...enclosing];
        const targets: string[] = [];
        if (st.next) targets.push(st.next);
        if (st.kind === "switch") for (const c of st.cases) if (c.next) targets.push(c.next);
        for (const t of targets) {
          if (t === "end") continue;
          if (t === "break" || t === "continue") {
            if (!inFor) add(st.line, `step "${st.name}": next: ${t} is only allowed inside a for loop`);
            continue;
          }
          if (!scopes.some((s) => s.index.has(t)))
            add(
              st.line,
              `step "${st.name}": next target "${t}" is not a step of this or an enclosing steps list in ${routine.name}`,
            );
        }
        if (st.kind === "return" && st.node) {
          const n = st.node;
          if (n.k === "call" && BYTES_FUNCTIONS.has(n.name))
            add(
              st.line,
              `step "${st.name}" returns bytes (${n.name}): bytes cannot be returned; encode them (base64.encode or text.decode)`,
            );
        }
        if (st.kind === "return") {
          // a return inside any expression is fine; only the top-level value type matters
        }
        if (st.kind === "parallel") {
          if (pdepth + 1 > 2)
            add(st.line, `parallel step "${st.name}" nests deeper than 2 levels (ParallelNestingError)`);
          const parentVars = before(st);
          for (const s of st.shared)
            if (!parentVars.has(s))
              add(
                st.line,
                `parallel step "${st.name}": shared variable "${s}" must be assigned before the parallel step`,
              );
          const shared = new Set(st.shared);
          const local = new Set<string>(
            st.loop ? [st.loop.value, ...(st.loop.index ? [st.loop.index] : [])] : [],
          );
          const scan = (blk: Block) => {
            for (const inner of blk.steps) {
              for (const w of writes(inner)) {
                if (parentVars.has(w) && !shared.has(w) && !local.has(w))
                  add(
                    inner.line,
                    `step "${inner.name}" writes "${w}", a variable of the enclosing scope, inside parallel step "${st.name}": list it in shared`,
                  );
              }
              if (inner.kind === "parallel") continue;
              for (const c of children(inner)) scan(c);
            }
          };
          for (const c of children(st)) scan(c);
          for (const c of children(st)) checkBlock(c, [], st.loop !== undefined, pdepth + 1);
          continue;
        }
        if (st.kind === "for") {
          checkBlock(st.loop.body, scopes, true, pdepth);
          continue;
        }
        for (const c of children(st)) checkBlock(c, scopes, inFor, pdepth);
      }
    };
    checkBlock(routine.body, [], false, 0);
  }
  findings.sort((a, b) => a.line - b.line);
  return dedupe(findings);
}

function dedupe(fs: Finding[]): Finding[] {
  const seen = new Set<string>();
  return fs.filter((f) => {
    const k = `${f.file}:${f.line}:${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export { walkNodes };
