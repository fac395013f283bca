import {
  type Compiled,
  compileNode,
  ExpressionSyntaxError,
  expressionText,
  type Node,
  parseExpression,
  walkNodes,
} from "./expression.ts";
import { parseSource, type SourceText } from "./parse.ts";
import { BLOCKING_FUNCTIONS, LIBRARY_FUNCTIONS, LIBRARY_PARAMS } from "./stdlib.ts";
import { deepCopy, isMap, type Value, type WfMap } from "./values.ts";

/**
 * A workflow source compiled to a tree of steps whose expressions are closures, plus the findings deployment
 * would reject. The interpreter (`interpreter.ts`) runs the tree; the validator (`validate.ts`) reads the findings.
 */

export interface Finding {
  file: string;
  line: number;
  message: string;
}

/** A value that may contain `${}` expressions anywhere inside (args, assign values, return values). */
export type Template = Compiled;

export type Target = { root: string; path: ({ key: string } | { idx: Compiled })[]; text: string };

export interface Block {
  steps: Step[];
  index: Map<string, number>;
}

export type NextTarget = string | undefined;

interface StepBase {
  name: string;
  line: number;
  next: NextTarget;
}

export interface AssignStep extends StepBase {
  kind: "assign";
  items: { target: Target; value: Template }[];
}
export interface CallStep extends StepBase {
  kind: "call";
  fn: string;
  args: Template | undefined;
  /** Literal arg names, for the validator. */
  argNames: string[] | undefined;
  result: Target | undefined;
}
export interface SwitchCase {
  line: number;
  condition: Compiled;
  /** The inline body, run when the condition is true (may be a plain `next`). */
  body: Step | undefined;
  next: NextTarget;
}
export interface SwitchStep extends StepBase {
  kind: "switch";
  cases: SwitchCase[];
}
export interface ForSpec {
  value: string;
  index: string | undefined;
  in: Template | undefined;
  range: [Template, Template] | undefined;
  body: Block;
}
export interface ForStep extends StepBase {
  kind: "for";
  loop: ForSpec;
}
export interface ParallelStep extends StepBase {
  kind: "parallel";
  shared: string[];
  concurrencyLimit: Template | undefined;
  branches: { name: string; line: number; body: Block }[] | undefined;
  loop: ForSpec | undefined;
}
export interface RetrySpec {
  policy: Template | undefined;
  predicate: Template | undefined;
  maxRetries: Template | undefined;
  backoff: Template | undefined;
}
export interface TryStep extends StepBase {
  kind: "try";
  body: Block;
  retry: RetrySpec | undefined;
  except: { as: string | undefined; body: Block } | undefined;
}
export interface RaiseStep extends StepBase {
  kind: "raise";
  value: Template;
}
export interface ReturnStep extends StepBase {
  kind: "return";
  value: Template;
  /** The return value's expression tree when it is a single `${}` (to spot a return of bytes). */
  node: Node | undefined;
}
export interface StepsStep extends StepBase {
  kind: "steps";
  body: Block;
}
export interface NextStep extends StepBase {
  kind: "next";
}

export type Step =
  | AssignStep
  | CallStep
  | SwitchStep
  | ForStep
  | ParallelStep
  | TryStep
  | RaiseStep
  | ReturnStep
  | StepsStep
  | NextStep;

export interface Param {
  name: string;
  hasDefault: boolean;
  default: Value;
}

export interface Routine {
  name: string;
  line: number;
  params: Param[];
  body: Block;
}

export interface Program {
  file: string;
  routines: Map<string, Routine>;
  main: Routine;
  findings: Finding[];
  /** Subworkflows that block (sleep, log, call out, run parallel steps), directly or through others: never callable inside `${}`. */
  blocking: ReadonlySet<string>;
}

export const LIMITS_STATIC = {
  assignmentsPerStep: 50,
  switchConditions: 50,
  branchesPerStep: 10,
  parallelNesting: 2,
};

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STEP_KEYS = new Set([
  "assign",
  "call",
  "args",
  "result",
  "switch",
  "for",
  "parallel",
  "try",
  "retry",
  "except",
  "raise",
  "return",
  "steps",
  "next",
]);
const CONNECTOR = /^googleapis\.[a-z0-9_]+\.v[0-9a-z]+\.[A-Za-z0-9_.]+$/;

interface Ctx {
  src: SourceText;
  findings: Finding[];
  routines: Map<string, { params: Param[]; line: number }>;
  routine: string;
  stepNames: Map<string, number>;
  /** Expression call sites: [function name, line]. */
  calls: { name: string; line: number; argc: number; routine: string }[];
}

function finding(ctx: Ctx, line: number, message: string): void {
  ctx.findings.push({ file: ctx.src.file, line, message });
}

const constant =
  (v: Value): Compiled =>
  () =>
    deepCopy(v);

/** Compile an expression string (the text inside `${}`), reporting syntax errors as findings. */
function compileExpr(ctx: Ctx, text: string, line: number): { fn: Compiled; node: Node | undefined } {
  try {
    const node = parseExpression(text);
    walkNodes(node, (n) => {
      if (n.k === "call") ctx.calls.push({ name: n.name, line, argc: n.args.length, routine: ctx.routine });
    });
    return { fn: compileNode(node), node };
  } catch (err) {
    if (!(err instanceof ExpressionSyntaxError)) throw err;
    finding(ctx, line, `malformed expression \${${text}}: ${err.message}`);
    return {
      fn: () => {
        throw new Error(`malformed expression \${${text}}`);
      },
      node: undefined,
    };
  }
}

/** A value with `${}` anywhere inside. Constants are deep-copied on each evaluation because assignment copies. */
function compileTemplate(ctx: Ctx, v: Value, line: number): Template {
  if (typeof v === "string") {
    const text = expressionText(v);
    if (text !== undefined) return compileExpr(ctx, text, line).fn;
    if (v.includes("${"))
      finding(
        ctx,
        line,
        `"${v.length > 60 ? `${v.slice(0, 57)}...` : v}" mixes text and \${}: a whole value must be one expression (use "\${"a" + b}")`,
      );
    return Object.assign(() => v, { fresh: true });
  }
  if (Array.isArray(v)) {
    const items = v.map((x, i) => compileTemplate(ctx, x, ctx.src.entryLine(v, i)));
    if (items.every((f) => f.fresh === true) && !hasExpression(v))
      return Object.assign(constant(v), { fresh: true });
    return Object.assign((c: Parameters<Compiled>[0]) => items.map((f) => f(c)), { fresh: true });
  }
  if (isMap(v)) {
    if (!hasExpression(v)) return Object.assign(constant(v), { fresh: true });
    const entries = Object.keys(v).map(
      (k) => [k, compileTemplate(ctx, v[k], ctx.src.entryLine(v, k))] as const,
    );
    return Object.assign(
      (c: Parameters<Compiled>[0]) => {
        const out: WfMap = {};
        for (const [k, f] of entries) out[k] = f(c);
        return out;
      },
      { fresh: true },
    );
  }
  return Object.assign(() => v, { fresh: true });
}

function hasExpression(v: Value): boolean {
  if (typeof v === "string") return v.includes("${");
  if (Array.isArray(v)) return v.some(hasExpression);
  if (isMap(v)) return Object.keys(v).some((k) => hasExpression(v[k]));
  return false;
}

/** `x`, `m.k`, `m["k"]`, `l[i]`, `l[expr][j].k` as a write target. */
export function parseTarget(text: string): Target {
  const node = parseExpression(text);
  const path: Target["path"] = [];
  let n: Node = node;
  for (;;) {
    if (n.k === "var") break;
    if (n.k === "member") {
      path.unshift({ key: n.name });
      n = n.obj;
    } else if (n.k === "index") {
      path.unshift(
        n.idx.k === "lit" && typeof n.idx.v === "string" ? { key: n.idx.v } : { idx: compileNode(n.idx) },
      );
      n = n.obj;
    } else if (n.k === "ref") {
      // `http.x: 1` is a variable named `http` with a key, not the library constant.
      const parts = n.name.split(".");
      for (let i = parts.length - 1; i > 0; i--) path.unshift({ key: parts[i] });
      return { root: parts[0], path, text };
    } else
      throw new ExpressionSyntaxError(`"${text}" is not an assignable name (use x, m.k, m["k"] or l[i])`);
  }
  return { root: n.name, path, text };
}

function compileTarget(ctx: Ctx, text: Value, line: number): Target | undefined {
  if (typeof text !== "string") {
    finding(ctx, line, `a variable name must be a string, got ${JSON.stringify(text)}`);
    return undefined;
  }
  try {
    const t = parseTarget(text.startsWith("${") && text.endsWith("}") ? text.slice(2, -1) : text);
    if (!NAME.test(t.root))
      finding(ctx, line, `invalid variable name "${t.root}": a letter or _, then letters, digits or _`);
    return t;
  } catch (err) {
    finding(ctx, line, `invalid assignment target "${text}": ${(err as Error).message}`);
    return undefined;
  }
}

function compileBlock(ctx: Ctx, steps: Value, line: number, where: string): Block {
  const block: Block = { steps: [], index: new Map() };
  if (!Array.isArray(steps)) {
    finding(ctx, line, `${where}: "steps" must be a list of steps`);
    return block;
  }
  if (steps.length === 0) finding(ctx, line, `${where}: "steps" is empty`);
  steps.forEach((entry, i) => {
    const l = ctx.src.entryLine(steps, i);
    if (!isMap(entry) || Object.keys(entry).length !== 1) {
      finding(
        ctx,
        l,
        `${where}: each step must be a map with exactly one key, the step name (- my_step: {...})`,
      );
      return;
    }
    const name = Object.keys(entry)[0];
    const body = entry[name];
    const prev = ctx.stepNames.get(name);
    if (prev !== undefined)
      finding(ctx, l, `duplicate step name "${name}" in ${ctx.routine} (first at line ${prev})`);
    else ctx.stepNames.set(name, l);
    if (["end", "break", "continue"].includes(name))
      finding(ctx, l, `"${name}" is reserved and cannot name a step`);
    const step = compileStep(ctx, name, body, l);
    if (step) {
      if (!block.index.has(name)) block.index.set(name, block.steps.length);
      block.steps.push(step);
    }
  });
  return block;
}

function compileNext(ctx: Ctx, v: Value, line: number): NextTarget {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !NAME.test(v)) {
    finding(ctx, line, `next must be a step name, end, break or continue; got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

function compileStep(ctx: Ctx, name: string, body: Value, line: number): Step | undefined {
  if (!isMap(body)) {
    finding(
      ctx,
      line,
      `step "${name}" must be a map (assign, call, switch, for, parallel, try, raise, return, steps or next)`,
    );
    return undefined;
  }
  for (const k of Object.keys(body))
    if (!STEP_KEYS.has(k)) finding(ctx, ctx.src.entryLine(body, k), `step "${name}": unknown key "${k}"`);
  const kinds = ["assign", "call", "switch", "for", "parallel", "try", "raise", "return", "steps"].filter(
    (k) => k in body,
  );
  const at = (k: string) => ctx.src.entryLine(body, k);
  const next = compileNext(ctx, body.next, at("next"));
  if (kinds.length > 1) {
    finding(ctx, line, `step "${name}" mixes ${kinds.join(" and ")}: one action per step`);
  }
  const kind = kinds[0];
  if (("args" in body || "result" in body) && kind !== "call")
    finding(ctx, line, `step "${name}": args/result need call`);
  if (("retry" in body || "except" in body) && kind !== "try")
    finding(ctx, line, `step "${name}": retry/except need try`);
  if (next !== undefined && (kind === "return" || kind === "raise"))
    finding(ctx, at("next"), `step "${name}": next after ${kind} is never reached`);
  const base = { name, line, next };
  switch (kind) {
    case undefined:
      if (next === undefined) {
        finding(
          ctx,
          line,
          `step "${name}" does nothing: give it assign, call, switch, for, parallel, try, raise, return, steps or next`,
        );
        return undefined;
      }
      return { ...base, kind: "next" };
    case "assign": {
      const list = body.assign;
      if (!Array.isArray(list) || list.length === 0) {
        finding(ctx, at("assign"), `step "${name}": assign must be a non-empty list of "- name: value"`);
        return undefined;
      }
      if (list.length > LIMITS_STATIC.assignmentsPerStep)
        finding(
          ctx,
          at("assign"),
          `step "${name}" has ${list.length} assignments; the limit is ${LIMITS_STATIC.assignmentsPerStep} per step`,
        );
      const items: AssignStep["items"] = [];
      list.forEach((a, i) => {
        const l = ctx.src.entryLine(list, i);
        if (!isMap(a) || Object.keys(a).length !== 1) {
          finding(ctx, l, `step "${name}": each assignment is a single "- name: value"`);
          return;
        }
        const key = Object.keys(a)[0];
        const target = compileTarget(ctx, key, l);
        if (target) items.push({ target, value: compileTemplate(ctx, a[key], l) });
      });
      return { ...base, kind: "assign", items };
    }
    case "call": {
      const fn = body.call;
      if (typeof fn !== "string" || fn === "") {
        finding(ctx, at("call"), `step "${name}": call needs a function name`);
        return undefined;
      }
      if (body.args !== undefined && !isMap(body.args))
        finding(ctx, at("args"), `step "${name}": args must be a map of named arguments`);
      const result = body.result === undefined ? undefined : compileTarget(ctx, body.result, at("result"));
      if (!ctx.routines.has(fn) && !LIBRARY_FUNCTIONS.has(fn) && !CONNECTOR.test(fn)) {
        finding(ctx, at("call"), `step "${name}": unknown function or subworkflow "${fn}"`);
      }
      const argNames = isMap(body.args) ? Object.keys(body.args) : undefined;
      const sub = ctx.routines.get(fn);
      const libParams = sub ? undefined : LIBRARY_PARAMS.get(fn);
      if (libParams)
        for (const a of argNames ?? [])
          if (!libParams.includes(a))
            finding(
              ctx,
              at("args"),
              `step "${name}": ${fn} has no argument "${a}" (it takes ${libParams.join(", ") || "none"})`,
            );
      if (sub) {
        for (const a of argNames ?? [])
          if (!sub.params.some((p) => p.name === a))
            finding(
              ctx,
              at("args"),
              `step "${name}": subworkflow "${fn}" has no parameter "${a}" (it takes ${sub.params.map((p) => p.name).join(", ") || "none"})`,
            );
        for (const p of sub.params)
          if (!p.hasDefault && !(argNames ?? []).includes(p.name))
            finding(ctx, at("call"), `step "${name}": subworkflow "${fn}" needs argument "${p.name}"`);
      }
      return {
        ...base,
        kind: "call",
        fn,
        args: body.args === undefined ? undefined : compileTemplate(ctx, body.args, at("args")),
        argNames,
        result,
      };
    }
    case "switch": {
      const list = body.switch;
      if (!Array.isArray(list) || list.length === 0) {
        finding(ctx, at("switch"), `step "${name}": switch must be a non-empty list of conditions`);
        return undefined;
      }
      if (list.length > LIMITS_STATIC.switchConditions)
        finding(
          ctx,
          at("switch"),
          `step "${name}" has ${list.length} switch conditions; the limit is ${LIMITS_STATIC.switchConditions}`,
        );
      const cases: SwitchCase[] = [];
      list.forEach((c, i) => {
        const l = ctx.src.entryLine(list, i);
        if (!isMap(c) || !("condition" in c)) {
          finding(ctx, l, `step "${name}": each switch entry needs a condition`);
          return;
        }
        const cond = c.condition;
        const condition =
          typeof cond === "string" && expressionText(cond) !== undefined
            ? compileExpr(ctx, expressionText(cond) as string, l).fn
            : typeof cond === "boolean"
              ? () => cond
              : undefined;
        if (!condition) {
          finding(ctx, l, `step "${name}": condition must be an expression \${...} or a boolean`);
          return;
        }
        const { condition: _c, next: n, ...rest } = c;
        const caseNext = compileNext(ctx, n, ctx.src.entryLine(c, "next"));
        const body =
          Object.keys(rest).length > 0 ? compileStep(ctx, `${name}[${i}]`, rest as WfMap, l) : undefined;
        cases.push({ line: l, condition, body, next: caseNext });
      });
      return { ...base, kind: "switch", cases };
    }
    case "for": {
      const loop = compileFor(ctx, body.for, at("for"), name);
      return loop ? { ...base, kind: "for", loop } : undefined;
    }
    case "parallel": {
      const p = body.parallel;
      if (!isMap(p)) {
        finding(ctx, at("parallel"), `step "${name}": parallel must be a map with branches or for`);
        return undefined;
      }
      for (const k of Object.keys(p))
        if (!["shared", "concurrency_limit", "exception_policy", "branches", "for"].includes(k))
          finding(ctx, ctx.src.entryLine(p, k), `step "${name}": unknown parallel key "${k}"`);
      const shared =
        p.shared === undefined
          ? []
          : Array.isArray(p.shared) && p.shared.every((s) => typeof s === "string")
            ? (p.shared as string[])
            : [];
      if (p.shared !== undefined && !Array.isArray(p.shared))
        finding(
          ctx,
          ctx.src.entryLine(p, "shared"),
          `step "${name}": shared must be a list of variable names`,
        );
      if (p.exception_policy !== undefined && p.exception_policy !== "continueAll")
        finding(
          ctx,
          ctx.src.entryLine(p, "exception_policy"),
          `step "${name}": exception_policy supports only continueAll`,
        );
      if ("branches" in p === "for" in p) {
        finding(ctx, at("parallel"), `step "${name}": parallel needs exactly one of branches or for`);
        return undefined;
      }
      const concurrencyLimit =
        p.concurrency_limit === undefined
          ? undefined
          : compileTemplate(ctx, p.concurrency_limit, ctx.src.entryLine(p, "concurrency_limit"));
      if ("for" in p) {
        const loop = compileFor(ctx, p.for, ctx.src.entryLine(p, "for"), name);
        return loop
          ? { ...base, kind: "parallel", shared, concurrencyLimit, branches: undefined, loop }
          : undefined;
      }
      const list = p.branches;
      if (!Array.isArray(list) || list.length === 0) {
        finding(ctx, ctx.src.entryLine(p, "branches"), `step "${name}": branches must be a non-empty list`);
        return undefined;
      }
      if (list.length > LIMITS_STATIC.branchesPerStep)
        finding(
          ctx,
          ctx.src.entryLine(p, "branches"),
          `step "${name}" has ${list.length} branches; the limit is ${LIMITS_STATIC.branchesPerStep} per parallel step`,
        );
      const branches: NonNullable<ParallelStep["branches"]> = [];
      list.forEach((b, i) => {
        const l = ctx.src.entryLine(list, i);
        if (
          !isMap(b) ||
          Object.keys(b).length !== 1 ||
          !isMap(b[Object.keys(b)[0]]) ||
          !("steps" in (b[Object.keys(b)[0]] as WfMap))
        ) {
          finding(ctx, l, `step "${name}": each branch is "- branch_name: {steps: [...]}"`);
          return;
        }
        const bname = Object.keys(b)[0];
        if (branches.some((x) => x.name === bname))
          finding(ctx, l, `step "${name}": duplicate branch name "${bname}"`);
        const prev = ctx.stepNames.get(bname);
        if (prev !== undefined)
          finding(ctx, l, `duplicate step name "${bname}" in ${ctx.routine} (first at line ${prev})`);
        else ctx.stepNames.set(bname, l);
        const bb = b[bname] as WfMap;
        branches.push({
          name: bname,
          line: l,
          body: compileBlock(ctx, bb.steps, ctx.src.entryLine(bb, "steps"), `branch "${bname}"`),
        });
      });
      return { ...base, kind: "parallel", shared, concurrencyLimit, branches, loop: undefined };
    }
    case "try": {
      const t = body.try;
      let block: Block;
      if (isMap(t) && "steps" in t && Object.keys(t).length === 1)
        block = compileBlock(ctx, t.steps, at("try"), `try of "${name}"`);
      else if (isMap(t)) {
        const inner = compileStep(ctx, `${name}`, t, at("try"));
        block = { steps: inner ? [inner] : [], index: new Map() };
      } else {
        finding(ctx, at("try"), `step "${name}": try must be {steps: [...]} or a single step body`);
        return undefined;
      }
      let retry: RetrySpec | undefined;
      if (body.retry !== undefined) {
        const r = body.retry;
        const l = at("retry");
        if (typeof r === "string")
          retry = {
            policy: compileTemplate(ctx, r, l),
            predicate: undefined,
            maxRetries: undefined,
            backoff: undefined,
          };
        else if (isMap(r)) {
          for (const k of Object.keys(r))
            if (!["predicate", "max_retries", "backoff", "policy"].includes(k))
              finding(ctx, ctx.src.entryLine(r, k), `step "${name}": unknown retry key "${k}"`);
          if (r.predicate === undefined && r.policy === undefined)
            finding(ctx, l, `step "${name}": a custom retry needs a predicate`);
          if (typeof r.predicate === "string" && expressionText(r.predicate) !== undefined) {
            const pname = (expressionText(r.predicate) as string).trim();
            const sub = ctx.routines.get(pname);
            if (sub && sub.params.length !== 1)
              finding(
                ctx,
                ctx.src.entryLine(r, "predicate"),
                `retry predicate "${pname}" must take exactly one parameter (the error)`,
              );
            if (!sub && NAME.test(pname))
              finding(
                ctx,
                ctx.src.entryLine(r, "predicate"),
                `retry predicate "${pname}" is not a subworkflow`,
              );
          }
          retry = {
            policy: r.policy === undefined ? undefined : compileTemplate(ctx, r.policy, l),
            predicate:
              r.predicate === undefined
                ? undefined
                : compileTemplate(ctx, r.predicate, ctx.src.entryLine(r, "predicate")),
            maxRetries:
              r.max_retries === undefined
                ? undefined
                : compileTemplate(ctx, r.max_retries, ctx.src.entryLine(r, "max_retries")),
            backoff:
              r.backoff === undefined
                ? undefined
                : compileTemplate(ctx, r.backoff, ctx.src.entryLine(r, "backoff")),
          };
        } else
          finding(
            ctx,
            l,
            `step "${name}": retry must be a policy \${...} or a map {predicate, max_retries, backoff}`,
          );
      }
      let except: TryStep["except"];
      if (body.except !== undefined) {
        const e = body.except;
        if (!isMap(e) || !("steps" in e))
          finding(ctx, at("except"), `step "${name}": except must be {as: e, steps: [...]}`);
        else {
          if (e.as !== undefined && (typeof e.as !== "string" || !NAME.test(e.as)))
            finding(ctx, ctx.src.entryLine(e, "as"), `step "${name}": except.as must be a variable name`);
          except = {
            as: typeof e.as === "string" ? e.as : undefined,
            body: compileBlock(ctx, e.steps, ctx.src.entryLine(e, "steps"), `except of "${name}"`),
          };
        }
      }
      if (!retry && !except) finding(ctx, line, `step "${name}": try needs retry or except`);
      return { ...base, kind: "try", body: block, retry, except };
    }
    case "raise":
      return { ...base, kind: "raise", value: compileTemplate(ctx, body.raise, at("raise")) };
    case "return": {
      const v = body.return;
      const text = typeof v === "string" ? expressionText(v) : undefined;
      let node: Node | undefined;
      if (text !== undefined) {
        try {
          node = parseExpression(text);
        } catch {
          node = undefined;
        }
      }
      return { ...base, kind: "return", value: compileTemplate(ctx, v, at("return")), node };
    }
    case "steps":
      return {
        ...base,
        kind: "steps",
        body: compileBlock(ctx, body.steps, at("steps"), `steps of "${name}"`),
      };
  }
  return undefined;
}

function compileFor(ctx: Ctx, f: Value, line: number, name: string): ForSpec | undefined {
  if (!isMap(f)) {
    finding(ctx, line, `step "${name}": for must be a map {value, in|range, steps}`);
    return undefined;
  }
  for (const k of Object.keys(f))
    if (!["value", "index", "in", "range", "steps"].includes(k))
      finding(ctx, ctx.src.entryLine(f, k), `step "${name}": unknown for key "${k}"`);
  if (typeof f.value !== "string" || !NAME.test(f.value))
    finding(ctx, line, `step "${name}": for needs value: <variable name>`);
  if (f.index !== undefined && (typeof f.index !== "string" || !NAME.test(f.index)))
    finding(ctx, line, `step "${name}": for.index must be a variable name`);
  if ("in" in f === "range" in f) finding(ctx, line, `step "${name}": for needs exactly one of in or range`);
  let range: [Template, Template] | undefined;
  if ("range" in f) {
    const r = f.range;
    const l = ctx.src.entryLine(f, "range");
    if (Array.isArray(r) && r.length === 2)
      range = [compileTemplate(ctx, r[0], l), compileTemplate(ctx, r[1], l)];
    else if (typeof r === "string") {
      const whole = compileTemplate(ctx, r, l);
      range = [(c) => (whole(c) as Value[])[0], (c) => (whole(c) as Value[])[1]];
    } else finding(ctx, l, `step "${name}": range must be [start, end] (both ends included)`);
  }
  return {
    value: typeof f.value === "string" ? f.value : "_",
    index: typeof f.index === "string" ? f.index : undefined,
    in: "in" in f ? compileTemplate(ctx, f.in, ctx.src.entryLine(f, "in")) : undefined,
    range,
    body: compileBlock(ctx, f.steps, ctx.src.entryLine(f, "steps"), `for of "${name}"`),
  };
}

function compileParams(ctx: Ctx, raw: Value, line: number, routine: string): Param[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    finding(ctx, line, `${routine}: params must be a list`);
    return [];
  }
  const out: Param[] = [];
  raw.forEach((p, i) => {
    const l = ctx.src.entryLine(raw, i);
    if (typeof p === "string") out.push({ name: p, hasDefault: false, default: null });
    else if (isMap(p) && Object.keys(p).length === 1) {
      const k = Object.keys(p)[0];
      out.push({ name: k, hasDefault: true, default: p[k] });
    } else finding(ctx, l, `${routine}: each param is a name or {name: default}`);
  });
  for (const p of out)
    if (!NAME.test(p.name)) finding(ctx, line, `${routine}: invalid parameter name "${p.name}"`);
  return out;
}

/** Parse and compile. Throws ParseError for unreadable YAML/JSON; everything else lands in `findings`. */
export function compileProgram(text: string, file: string): Program {
  const src = parseSource(text, file);
  const ctx: Ctx = {
    src,
    findings: [],
    routines: new Map(),
    routine: "main",
    stepNames: new Map(),
    calls: [],
  };
  const root = src.root;
  const defs: [string, WfMap | Value[], number][] = [];
  if (Array.isArray(root)) defs.push(["main", root, 1]);
  else if (isMap(root)) {
    if (!("main" in root))
      finding(
        ctx,
        1,
        `${file} has no main workflow: add "main: {params: [args], steps: [...]}" or make the file a list of steps`,
      );
    for (const k of Object.keys(root)) {
      const v = root[k];
      const l = src.entryLine(root, k);
      if (!isMap(v)) {
        finding(ctx, l, `"${k}" must be a (sub)workflow {params, steps}`);
        continue;
      }
      if (!NAME.test(k)) finding(ctx, l, `invalid subworkflow name "${k}"`);
      for (const key of Object.keys(v))
        if (key !== "params" && key !== "steps")
          finding(ctx, src.entryLine(v, key), `${k}: unknown key "${key}" (a workflow has params and steps)`);
      if (!("steps" in v)) finding(ctx, l, `${k}: steps is required`);
      defs.push([k, v, l]);
    }
  } else finding(ctx, 1, `${file}: a workflow is a list of steps or a map with main and subworkflows`);

  for (const [name, def, line] of defs) {
    ctx.routine = name;
    const params = Array.isArray(def)
      ? []
      : compileParams(ctx, def.params, src.entryLine(def, "params"), name);
    if (name === "main" && params.length > 1)
      finding(ctx, line, `main takes at most one parameter (the execution argument), got ${params.length}`);
    ctx.routines.set(name, { params, line });
  }
  const routines = new Map<string, Routine>();
  for (const [name, def, line] of defs) {
    ctx.routine = name;
    ctx.stepNames = new Map();
    const steps = Array.isArray(def) ? def : def.steps;
    const body = compileBlock(ctx, steps ?? [], line, name);
    routines.set(name, { name, line, params: ctx.routines.get(name)?.params ?? [], body });
  }
  const blocking = blockingRoutines(routines, ctx.calls);
  for (const c of ctx.calls) {
    if (BLOCKING_FUNCTIONS.has(c.name) || CONNECTOR.test(c.name))
      finding(ctx, c.line, `${c.name} blocks and is only allowed in a call step, not inside \${}`);
    else if (blocking.has(c.name))
      finding(
        ctx,
        c.line,
        `subworkflow ${c.name} blocks (it sleeps, logs, calls out or runs parallel steps) and is only allowed in a call step, not inside \${}`,
      );
    else if (!LIBRARY_FUNCTIONS.has(c.name) && !routines.has(c.name))
      finding(ctx, c.line, `unknown function "${c.name}" in expression`);
  }
  const main = routines.get("main") ?? {
    name: "main",
    line: 1,
    params: [],
    body: { steps: [], index: new Map() },
  };
  return { file, routines, main, findings: ctx.findings, blocking };
}

function blockingRoutines(
  routines: Map<string, Routine>,
  exprCalls: { name: string; routine: string }[],
): Set<string> {
  const direct = new Set<string>();
  const edges = new Map<string, Set<string>>();
  for (const r of routines.values()) edges.set(r.name, new Set());
  for (const c of exprCalls) if (routines.has(c.name)) edges.get(c.routine)?.add(c.name);
  const visit = (r: string, b: Block) => {
    for (const st of b.steps) {
      if (st.kind === "call") {
        if (routines.has(st.fn)) edges.get(r)?.add(st.fn);
        else if (BLOCKING_FUNCTIONS.has(st.fn) || CONNECTOR.test(st.fn) || !LIBRARY_FUNCTIONS.has(st.fn))
          direct.add(r);
      }
      if (st.kind === "parallel") direct.add(r);
      const inner: Block[] =
        st.kind === "steps"
          ? [st.body]
          : st.kind === "for"
            ? [st.loop.body]
            : st.kind === "try"
              ? [st.body, ...(st.except ? [st.except.body] : [])]
              : st.kind === "parallel"
                ? (st.branches?.map((x) => x.body) ?? (st.loop ? [st.loop.body] : []))
                : st.kind === "switch"
                  ? st.cases.flatMap((c) => (c.body ? [{ steps: [c.body], index: new Map() }] : []))
                  : [];
      for (const x of inner) visit(r, x);
    }
  };
  for (const r of routines.values()) visit(r.name, r.body);
  const out = new Set(direct);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [r, callees] of edges)
      if (!out.has(r) && [...callees].some((c) => out.has(c))) {
        out.add(r);
        changed = true;
      }
  }
  return out;
}
