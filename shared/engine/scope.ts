import type { Value } from "./values.ts";

/**
 * Variable scopes. A (sub)workflow call starts a root scope; a `for` loop opens a child scope (loop variables and
 * variables first created in the body vanish after the loop, existing ones are updated in place); a parallel
 * branch or iteration opens a child scope whose writes reach the parent only for the `shared` names.
 */
export class Scope {
  readonly vars = new Map<string, Value>();
  readonly parent: Scope | null;
  /** Set on a parallel branch scope: the parent variables it may write. */
  readonly shared: ReadonlySet<string> | null;
  constructor(parent: Scope | null = null, shared: ReadonlySet<string> | null = null) {
    this.parent = parent;
    this.shared = shared;
  }

  /** The value, or undefined when no visible scope defines the name. */
  get(name: string): Value | undefined {
    let s: Scope | null = this;
    do {
      const v = s.vars.get(name);
      if (v !== undefined || s.vars.has(name)) return v;
      s = s.parent;
    } while (s !== null);
    return undefined;
  }

  has(name: string): boolean {
    let s: Scope | null = this;
    do {
      if (s.vars.has(name)) return true;
      s = s.parent;
    } while (s !== null);
    return false;
  }

  /** The scope that owns a write to `name`: the nearest defining scope reachable without crossing a non-shared barrier. */
  owner(name: string): Scope {
    let s: Scope = this;
    for (;;) {
      if (s.vars.has(name)) return s;
      const p = s.parent;
      if (p === null) return this;
      if (s.shared !== null && !s.shared.has(name)) return this;
      s = p;
    }
  }

  set(name: string, v: Value): void {
    if (this.vars.has(name)) this.vars.set(name, v);
    else this.owner(name).vars.set(name, v);
  }

  define(name: string, v: Value): void {
    this.vars.set(name, v);
  }
}
