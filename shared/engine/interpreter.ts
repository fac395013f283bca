import { type Compiled, type EvalContext, getIndex } from "./expression.ts";
import type {
  Block,
  CallStep,
  ForSpec,
  ParallelStep,
  Program,
  RetrySpec,
  Routine,
  Step,
  Target,
  TryStep,
} from "./program.ts";
import { Scope } from "./scope.ts";
import type { LibFn, Library } from "./stdlib.ts";
import {
  CancelledSignal,
  Double,
  deepCopy,
  FnRef,
  hasKey,
  isMap,
  isNumber,
  num,
  setKey,
  sizeOf,
  typeName,
  type Value,
  type WfMap,
  WorkflowError,
  wfError,
} from "./values.ts";

/**
 * The interpreter. It runs synchronously and only goes asynchronous when a step returns a promise (a blocking
 * call, a real sleep): every runner returns `Ctl | Promise<Ctl>` and continues with `.then` only on a promise.
 * Control flow travels as {@link Ctl} values; errors travel as thrown {@link WorkflowError}s.
 */

export type Ctl =
  | undefined
  | { t: 0; target: string }
  | { t: 1 }
  | { t: 2 }
  | { t: 3 }
  | { t: 4; value: Value };
const END = { t: 1 } as const;
const BREAK = { t: 2 } as const;
const CONTINUE = { t: 3 } as const;

export interface Limits {
  /** Steps per execution (ResourceLimitError past it). */
  maxSteps: number;
  /** Subworkflow call-stack depth (RecursionError past it). */
  maxCallDepth: number;
  /** Nested parallel steps (ParallelNestingError past it). */
  maxParallelNesting: number;
  /** Branches or iterations running at once in one parallel step. */
  maxConcurrentBranches: number;
  /** Failures listed in an UnhandledBranchError. */
  maxBranchErrors: number;
  /** Bytes of one variable value (ResourceLimitError past it). */
  maxVariableBytes: number;
  /** Characters of one string. */
  maxStringLength: number;
  /** Step history entries kept per execution (the count goes on). */
  maxHistory: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxSteps: 100_000,
  maxCallDepth: 20,
  maxParallelNesting: 2,
  maxConcurrentBranches: 20,
  maxBranchErrors: 100,
  maxVariableBytes: 512 * 1024,
  maxStringLength: 256 * 1024,
  maxHistory: 10_000,
};

export interface HistoryEntry {
  step: string;
  routine: string;
  line: number;
  /** ISO time the step started. */
  at: string;
}

/** What the interpreter asks of the world: calls it does not run itself, sleeping, cancellation. */
export interface RunHost {
  /** A blocking or external call (`sys.sleep`, `sys.log`, `http.*`, connectors). */
  call(name: string, args: WfMap, stepName: string): Value | Promise<Value>;
  /** Sleep on the execution's clock; resolves at once (or returns undefined) under a virtual clock. */
  sleep(seconds: number): undefined | Promise<void>;
  nowMs(): number;
}

function isPromise<T>(x: unknown): x is Promise<T> {
  return x instanceof Promise;
}

function then<T, R>(x: T | Promise<T>, f: (v: T) => R | Promise<R>): R | Promise<R> {
  return isPromise<T>(x) ? x.then(f) : f(x);
}

/** One (sub)workflow activation: its scope, the call depth and the parallel nesting. */
export class Frame implements EvalContext {
  readonly scope: Scope;
  readonly run: Interpreter;
  readonly routine: string;
  readonly depth: number;
  readonly pdepth: number;
  readonly lib: Library;
  constructor(run: Interpreter, scope: Scope, routine: string, depth: number, pdepth: number) {
    this.run = run;
    this.scope = scope;
    this.routine = routine;
    this.depth = depth;
    this.pdepth = pdepth;
    this.lib = run.lib;
  }
  with(scope: Scope, pdepth = this.pdepth): Frame {
    return new Frame(this.run, scope, this.routine, this.depth, pdepth);
  }
  callFunction(name: string, args: Value[]): Value {
    const r = this.run.routines.get(name);
    if (r === undefined) throw wfError("TypeError", `unknown function "${name}"`);
    if (this.run.program.blocking.has(name))
      throw wfError(
        "TypeError",
        `subworkflow "${name}" blocks and cannot be called inside an expression; use a call step`,
      );
    if (args.length > r.params.length)
      throw wfError("TypeError", `${name}() takes ${r.params.length} arguments, got ${args.length}`);
    const named: WfMap = {};
    for (let i = 0; i < args.length; i++) named[r.params[i].name] = args[i];
    const out = this.run.callRoutine(r, named, this);
    if (isPromise(out)) {
      // The blocked remainder still settles later; nothing waits for it.
      out.catch(() => undefined);
      throw wfError(
        "TypeError",
        `subworkflow "${name}" blocks (it sleeps or calls out) and cannot be called inside an expression; use a call step`,
      );
    }
    return out;
  }
  hasRoutine(name: string): boolean {
    return this.run.routines.has(name);
  }
}

function toWorkflowError(e: unknown): WorkflowError {
  if (e instanceof WorkflowError) return e;
  if (e instanceof RangeError && /call stack/i.test(e.message))
    return wfError("RecursionError", "maximum recursion depth exceeded");
  return wfError("SystemError", e instanceof Error ? e.message : String(e));
}

export class Interpreter {
  readonly program: Program;
  readonly routines: Map<string, Routine>;
  readonly lib: Library;
  readonly limits: Limits;
  readonly host: RunHost;
  steps = 0;
  cancelled = false;
  readonly history: HistoryEntry[] = [];

  constructor(program: Program, lib: Library, host: RunHost, limits: Partial<Limits> = {}) {
    this.program = program;
    this.routines = program.routines;
    this.lib = lib;
    this.host = host;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Run `main` with the execution argument; resolves to the returned value (null without a return). */
  runMain(argument: Value): Value | Promise<Value> {
    const main = this.program.main;
    const scope = new Scope();
    if (main.params.length === 1)
      scope.define(
        main.params[0].name,
        argument === null && main.params[0].hasDefault ? deepCopy(main.params[0].default) : argument,
      );
    const frame = new Frame(this, scope, "main", 1, 0);
    return then(this.runBlock(main.body, frame, 0), (c) => this.routineResult(c, main));
  }

  private routineResult(c: Ctl, r: Routine): Value {
    if (c === undefined || c.t === 1) return null;
    if (c.t === 4) return c.value;
    if (c.t === 0) throw wfError("SystemError", `next: ${c.target} names no step of ${r.name}`);
    throw wfError("SystemError", `next: ${c.t === 2 ? "break" : "continue"} outside a for loop in ${r.name}`);
  }

  callRoutine(r: Routine, args: WfMap, caller: Frame): Value | Promise<Value> {
    const depth = caller.depth + 1;
    if (depth > this.limits.maxCallDepth)
      throw wfError(
        "RecursionError",
        `maximum call stack depth ${this.limits.maxCallDepth} exceeded calling ${r.name}`,
      );
    const scope = new Scope();
    for (const k of Object.keys(args))
      if (!r.params.some((p) => p.name === k))
        throw wfError("TypeError", `subworkflow ${r.name} has no parameter "${k}"`);
    for (const p of r.params) {
      if (hasKey(args, p.name)) scope.define(p.name, deepCopy(args[p.name]));
      else if (p.hasDefault) scope.define(p.name, deepCopy(p.default));
      else throw wfError("TypeError", `subworkflow ${r.name} needs argument "${p.name}"`);
    }
    const frame = new Frame(this, scope, r.name, depth, caller.pdepth);
    return then(this.runBlock(r.body, frame, 0), (c) => this.routineResult(c, r));
  }

  private enter(st: Step, fr: Frame): void {
    if (++this.steps > this.limits.maxSteps)
      throw wfError("ResourceLimitError", `the execution ran more than ${this.limits.maxSteps} steps`);
    if (this.cancelled) throw new CancelledSignal();
    if (this.history.length < this.limits.maxHistory)
      this.history.push({
        step: st.name,
        routine: fr.routine,
        line: st.line,
        at: new Date(this.host.nowMs()).toISOString(),
      });
  }

  runBlock(block: Block, fr: Frame, start: number): Ctl | Promise<Ctl> {
    const steps = block.steps;
    let i = start;
    while (i < steps.length) {
      const st = steps[i];
      this.enter(st, fr);
      let c = this.exec(st, fr);
      if (isPromise<Ctl>(c)) {
        const at = i;
        return c.then((c2) => this.afterStep(block, fr, at, c2));
      }
      if (c === undefined) {
        if (st.next === undefined) {
          i++;
          continue;
        }
        c = this.jump(st.next);
      }
      if (c !== undefined && c.t === 0) {
        const j = block.index.get(c.target);
        if (j !== undefined) {
          i = j;
          continue;
        }
      }
      return c;
    }
    return undefined;
  }

  private afterStep(block: Block, fr: Frame, i: number, c: Ctl): Ctl | Promise<Ctl> {
    const st = block.steps[i];
    if (c === undefined) {
      if (st.next === undefined) return this.runBlock(block, fr, i + 1);
      c = this.jump(st.next);
    }
    if (c !== undefined && c.t === 0) {
      const j = block.index.get(c.target);
      if (j !== undefined) return this.runBlock(block, fr, j);
    }
    return c;
  }

  private readonly jumps = new Map<string, Ctl>();
  private jump(target: string): Ctl {
    if (target === "end") return END;
    if (target === "break") return BREAK;
    if (target === "continue") return CONTINUE;
    let c = this.jumps.get(target);
    if (c === undefined) {
      c = { t: 0, target };
      this.jumps.set(target, c);
    }
    return c;
  }

  private exec(st: Step, fr: Frame): Ctl | Promise<Ctl> {
    switch (st.kind) {
      case "assign": {
        const items = st.items;
        for (let k = 0; k < items.length; k++) {
          const it = items[k];
          const v = it.value(fr);
          this.assign(it.target, it.value.fresh === true ? v : deepCopy(v), fr);
        }
        return undefined;
      }
      case "next":
        return undefined;
      case "call":
        return this.execCall(st, fr);
      case "switch": {
        for (const c of st.cases) {
          const ok = c.condition(fr);
          if (typeof ok !== "boolean")
            throw wfError(
              "TypeError",
              `switch condition in step "${st.name}" (line ${c.line}) gave ${typeName(ok)}, not a boolean`,
            );
          if (!ok) continue;
          if (c.body === undefined) return c.next !== undefined ? this.jump(c.next) : undefined;
          const inner = c.body;
          return then(this.exec(inner, fr), (r) => {
            if (r !== undefined) return r;
            if (inner.next !== undefined) return this.jump(inner.next);
            return c.next !== undefined ? this.jump(c.next) : undefined;
          });
        }
        return undefined;
      }
      case "for":
        return this.execFor(st.loop, fr, st.name);
      case "parallel":
        return this.execParallel(st, fr);
      case "try":
        return this.execTry(st, fr, 0);
      case "raise": {
        const v = st.value(fr);
        throw new WorkflowError(st.value.fresh === true ? v : deepCopy(v));
      }
      case "return": {
        const v = st.value(fr);
        return { t: 4, value: st.value.fresh === true ? v : deepCopy(v) };
      }
      case "steps":
        return this.runBlock(st.body, fr, 0);
    }
  }

  assign(target: Target, v: Value, fr: Frame): void {
    if (typeof v === "string" && v.length > this.limits.maxStringLength)
      throw wfError(
        "ResourceLimitError",
        `string assigned to ${target.text} is ${v.length} characters; the limit is ${this.limits.maxStringLength}`,
      );
    const path = target.path;
    if (path.length === 0) {
      fr.scope.set(target.root, v);
      return;
    }
    let cur = fr.scope.get(target.root);
    if (cur === undefined)
      throw wfError(
        "KeyError",
        `variable not defined: ${target.root} (assign ${target.root} a map or list before ${target.text})`,
      );
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      const key: Value = "key" in seg ? seg.key : seg.idx(fr);
      if (Array.isArray(cur)) {
        if (typeof key !== "number")
          throw wfError("TypeError", `list index in ${target.text} must be an integer, got ${typeName(key)}`);
        if (key < 0 || key >= cur.length)
          throw wfError(
            "IndexError",
            `list index ${key} out of range (length ${cur.length}) in ${target.text}`,
          );
        if (last) cur[key] = v;
        else cur = cur[key];
      } else if (isMap(cur)) {
        if (typeof key !== "string")
          throw wfError("TypeError", `map key in ${target.text} must be a string, got ${typeName(key)}`);
        if (last) setKey(cur, key, v);
        else {
          let nxt: Value | undefined = cur[key];
          if (nxt === undefined || (nxt === null && !hasKey(cur, key))) {
            nxt = {};
            setKey(cur, key, nxt);
          }
          cur = nxt;
        }
      } else throw wfError("TypeError", `cannot assign into ${typeName(cur)} in ${target.text}`);
    }
  }

  private execCall(st: CallStep, fr: Frame): Ctl | Promise<Ctl> {
    const args = st.args === undefined ? {} : (st.args(fr) as WfMap);
    if (!isMap(args)) throw wfError("TypeError", `args of step "${st.name}" must be a map`);
    let out: Value | Promise<Value>;
    const r = this.routines.get(st.fn);
    if (r !== undefined) out = this.callRoutine(r, args, fr);
    else {
      const fn = this.lib.expression.get(st.fn);
      // Library results may alias their arguments (`default(m, x)` returns m): copy before storing.
      out = fn !== undefined ? deepCopy(callLib(fn, st.fn, args)) : this.host.call(st.fn, args, st.name);
    }
    const result = st.result;
    if (result === undefined) return isPromise(out) ? out.then(() => undefined) : undefined;
    return then(out, (v) => {
      this.checkSize(v, result.text);
      this.assign(result, v, fr);
      return undefined;
    });
  }

  private checkSize(v: Value, where: string): void {
    if (v !== null && typeof v === "object" && !(v instanceof Double)) {
      const n = sizeOf(v);
      if (n > this.limits.maxVariableBytes)
        throw wfError(
          "ResourceLimitError",
          `value stored in ${where} is ${n} bytes; a variable may hold ${this.limits.maxVariableBytes}`,
        );
    }
  }

  private iterationItems(loop: ForSpec, fr: Frame, name: string): Value[] {
    if (loop.range !== undefined) {
      const a = loop.range[0](fr);
      const b = loop.range[1](fr);
      if (!isNumber(a) || !isNumber(b))
        throw wfError("TypeError", `range of "${name}" needs numbers, got ${typeName(a)} and ${typeName(b)}`);
      const out: Value[] = [];
      const bothInt = typeof a === "number" && typeof b === "number";
      for (let x = num(a); x <= num(b); x++) out.push(bothInt ? x : new Double(x));
      return out;
    }
    const v = (loop.in as Compiled)(fr);
    if (Array.isArray(v)) return loop.in?.fresh === true ? v : (deepCopy(v) as Value[]);
    if (isMap(v)) return Object.keys(v);
    throw wfError("TypeError", `for "${name}" iterates over a list (or map keys), got ${typeName(v)}`);
  }

  private execFor(loop: ForSpec, fr: Frame, name: string): Ctl | Promise<Ctl> {
    if (loop.range !== undefined && loop.index === undefined) return this.execRange(loop, fr, name);
    const items = this.iterationItems(loop, fr, name);
    const lf = fr.with(new Scope(fr.scope));
    return this.loopFrom(loop, lf, items, 0);
  }

  /** `range` loops without an index count without materialising the list. */
  private execRange(loop: ForSpec, fr: Frame, name: string): Ctl | Promise<Ctl> {
    const range = loop.range as [Compiled, Compiled];
    const a = range[0](fr);
    const b = range[1](fr);
    if (!isNumber(a) || !isNumber(b))
      throw wfError("TypeError", `range of "${name}" needs numbers, got ${typeName(a)} and ${typeName(b)}`);
    const bothInt = typeof a === "number" && typeof b === "number";
    const lf = fr.with(new Scope(fr.scope));
    const end = num(b);
    const run = (x: number): Ctl | Promise<Ctl> => {
      const vars = lf.scope.vars;
      for (; x <= end; x++) {
        vars.set(loop.value, bothInt ? x : new Double(x));
        const c = this.runBlock(loop.body, lf, 0);
        if (isPromise<Ctl>(c)) {
          const at = x;
          return c.then((c2) => {
            const r = loopCtl(c2);
            return r === CONTINUE ? run(at + 1) : r;
          });
        }
        if (c !== undefined) {
          const r = loopCtl(c);
          if (r !== CONTINUE) return r;
        }
      }
      return undefined;
    };
    return run(num(a));
  }

  private loopFrom(loop: ForSpec, lf: Frame, items: Value[], k: number): Ctl | Promise<Ctl> {
    const vars = lf.scope.vars;
    for (; k < items.length; k++) {
      vars.set(loop.value, items[k]);
      if (loop.index !== undefined) vars.set(loop.index, k);
      const c = this.runBlock(loop.body, lf, 0);
      if (isPromise<Ctl>(c)) {
        const at = k;
        return c.then((c2) => {
          const r = loopCtl(c2);
          return r === CONTINUE ? this.loopFrom(loop, lf, items, at + 1) : r;
        });
      }
      if (c !== undefined) {
        const r = loopCtl(c);
        if (r !== CONTINUE) return r;
      }
    }
    return undefined;
  }

  private execParallel(st: ParallelStep, fr: Frame): Ctl | Promise<Ctl> {
    const pdepth = fr.pdepth + 1;
    if (pdepth > this.limits.maxParallelNesting)
      throw wfError(
        "ParallelNestingError",
        `parallel step "${st.name}" nests deeper than ${this.limits.maxParallelNesting} levels`,
      );
    const shared = new Set(st.shared);
    for (const s of shared)
      if (!fr.scope.has(s))
        throw wfError(
          "KeyError",
          `shared variable "${s}" of parallel step "${st.name}" must be assigned before the step`,
        );
    let limit = this.limits.maxConcurrentBranches;
    if (st.concurrencyLimit !== undefined) {
      const l = st.concurrencyLimit(fr);
      if (typeof l !== "number" || l < 1)
        throw wfError("ValueError", `concurrency_limit of "${st.name}" must be a positive integer`);
      limit = Math.min(limit, l);
    }
    let count: number;
    let runOne: (i: number) => Ctl | Promise<Ctl>;
    let idOf: (i: number) => string;
    if (st.branches !== undefined) {
      const branches = st.branches;
      count = branches.length;
      idOf = (i) => branches[i].name;
      runOne = (i) => this.runBlock(branches[i].body, fr.with(new Scope(fr.scope, shared), pdepth), 0);
    } else {
      const loop = st.loop as ForSpec;
      const items = this.iterationItems(loop, fr, st.name);
      count = items.length;
      idOf = (i) => String(i);
      runOne = (i) => {
        const scope = new Scope(fr.scope, shared);
        scope.define(loop.value, items[i]);
        if (loop.index !== undefined) scope.define(loop.index, i);
        return this.runBlock(loop.body, fr.with(scope, pdepth), 0);
      };
    }
    const errors: { index: number; id: string; error: Value }[] = [];
    let stop = false;
    let fatal: unknown;
    const settle = (_i: number, c: Ctl) => {
      if (c !== undefined && c.t === 2) stop = true;
    };
    const fail = (i: number, e: unknown) => {
      if (e instanceof CancelledSignal) {
        fatal = e;
        stop = true;
        return;
      }
      errors.push({ index: i, id: idOf(i), error: toWorkflowError(e).value });
    };
    const finish = (): Ctl => {
      if (fatal !== undefined) throw fatal;
      if (errors.length > 0) {
        errors.sort((a, b) => a.index - b.index);
        const listed = errors
          .slice(0, this.limits.maxBranchErrors)
          .map((e) => ({ id: e.id, error: e.error }));
        throw wfError(
          "UnhandledBranchError",
          `UnhandledBranchError: ${errors.length} of ${count} ${st.branches ? "branches" : "iterations"} of "${st.name}" raised an unhandled error`,
          {
            branches: listed,
            truncated: errors.length > listed.length,
          },
        );
      }
      return undefined;
    };
    let next = 0;
    const inflight = new Set<Promise<void>>();
    const start = (i: number) => {
      let r: Ctl | Promise<Ctl>;
      try {
        r = runOne(i);
      } catch (e) {
        fail(i, e);
        return;
      }
      if (isPromise<Ctl>(r)) {
        const p: Promise<void> = r.then(
          (c) => settle(i, c),
          (e) => fail(i, e),
        );
        inflight.add(p);
        p.finally(() => inflight.delete(p));
      } else settle(i, r);
    };
    while (next < count && !stop && inflight.size < limit) start(next++);
    if (inflight.size === 0 && (next >= count || stop)) return finish();
    const drain = async (): Promise<Ctl> => {
      for (;;) {
        while (next < count && !stop && inflight.size < limit) start(next++);
        if (inflight.size === 0) {
          if (next >= count || stop) break;
          continue;
        }
        await Promise.race(inflight);
      }
      return finish();
    };
    return drain();
  }

  private execTry(st: TryStep, fr: Frame, attempt: number): Ctl | Promise<Ctl> {
    let r: Ctl | Promise<Ctl>;
    try {
      r = this.runBlock(st.body, fr, 0);
    } catch (e) {
      return this.onTryError(st, fr, attempt, e);
    }
    if (isPromise<Ctl>(r)) return r.then(undefined, (e) => this.onTryError(st, fr, attempt, e));
    return r;
  }

  private onTryError(st: TryStep, fr: Frame, attempt: number, e: unknown): Ctl | Promise<Ctl> {
    if (e instanceof CancelledSignal) throw e;
    const err = toWorkflowError(e);
    if (st.retry !== undefined) {
      const policy = this.retryPolicy(st.retry, fr, st.name);
      if (attempt < policy.maxRetries) {
        return then(this.callPredicate(policy.predicate, err.value, fr), (ok) => {
          if (typeof ok !== "boolean")
            throw wfError(
              "TypeError",
              `retry predicate of "${st.name}" returned ${typeName(ok)}, not a boolean`,
            );
          if (!ok) return this.except(st, fr, err);
          const delay = Math.min(policy.initialDelay * policy.multiplier ** attempt, policy.maxDelay);
          return then(this.host.sleep(delay), () => this.execTry(st, fr, attempt + 1));
        });
      }
    }
    return this.except(st, fr, err);
  }

  private except(st: TryStep, fr: Frame, err: WorkflowError): Ctl | Promise<Ctl> {
    if (st.except === undefined) throw err;
    if (st.except.as !== undefined) fr.scope.set(st.except.as, err.value);
    return this.runBlock(st.except.body, fr, 0);
  }

  private retryPolicy(
    spec: RetrySpec,
    fr: Frame,
    name: string,
  ): { predicate: Value; maxRetries: number; initialDelay: number; maxDelay: number; multiplier: number } {
    let base: WfMap = {};
    if (spec.policy !== undefined) {
      const p = spec.policy(fr);
      if (!isMap(p))
        throw wfError(
          "TypeError",
          `retry policy of "${name}" must be a map such as \${http.default_retry}, got ${typeName(p)}`,
        );
      base = p;
    }
    const predicate = spec.predicate !== undefined ? spec.predicate(fr) : (base.predicate ?? null);
    const maxRetries = spec.maxRetries !== undefined ? spec.maxRetries(fr) : (base.max_retries ?? 0);
    const backoff =
      spec.backoff !== undefined
        ? spec.backoff(fr)
        : (base.backoff ?? { initial_delay: 1, max_delay: 60, multiplier: new Double(1.25) });
    if (typeof maxRetries !== "number" || maxRetries < 0)
      throw wfError("ValueError", `max_retries of "${name}" must be a non-negative integer`);
    if (!isMap(backoff))
      throw wfError("TypeError", `backoff of "${name}" must be a map {initial_delay, max_delay, multiplier}`);
    const field = (k: string, d: number): number => {
      const v = backoff[k];
      if (v === undefined || v === null) return d;
      if (!isNumber(v) || num(v) < 0)
        throw wfError("ValueError", `backoff.${k} of "${name}" must be a non-negative number`);
      return num(v);
    };
    return {
      predicate,
      maxRetries,
      initialDelay: field("initial_delay", 1),
      maxDelay: field("max_delay", 60),
      multiplier: field("multiplier", 1.25),
    };
  }

  private callPredicate(pred: Value, error: Value, fr: Frame): Value | Promise<Value> {
    if (pred instanceof FnRef || typeof pred === "string") {
      const name = pred instanceof FnRef ? pred.name : pred;
      const r = this.routines.get(name);
      if (r !== undefined) {
        if (r.params.length !== 1)
          throw wfError("TypeError", `retry predicate ${name} must take exactly one parameter`);
        return this.callRoutine(r, { [r.params[0].name]: error }, fr);
      }
      const fn = this.lib.expression.get(name);
      if (fn !== undefined) return fn.fn([error]);
      throw wfError(
        "TypeError",
        `retry predicate "${name}" is neither a subworkflow nor a library predicate`,
      );
    }
    throw wfError(
      "TypeError",
      `retry predicate must be a subworkflow or library predicate, got ${typeName(pred)}`,
    );
  }
}

function loopCtl(c: Ctl): Ctl {
  if (c === undefined || c.t === 3) return CONTINUE;
  if (c.t === 2) return undefined;
  return c;
}

/** A library function called from a `call` step: named `args` onto its parameters. */
export function callLib(fn: LibFn, name: string, args: WfMap): Value {
  const values: Value[] = [];
  for (const k of Object.keys(args))
    if (!fn.params.includes(k))
      throw wfError(
        "TypeError",
        `${name} has no argument "${k}" (it takes ${fn.params.join(", ") || "none"})`,
      );
  let last = -1;
  fn.params.forEach((p, i) => {
    if (hasKey(args, p)) last = i;
  });
  for (let i = 0; i <= last; i++) values.push(hasKey(args, fn.params[i]) ? args[fn.params[i]] : null);
  if (values.length < fn.min)
    throw wfError("TypeError", `${name} needs argument "${fn.params[values.length]}"`);
  return fn.fn(values);
}

export { getIndex };
