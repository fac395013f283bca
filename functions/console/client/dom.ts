/** A tiny element builder: attributes, `on<event>` listeners, children (strings become text). */
export type Child = Node | string | number | null | undefined | false;
type Attr = string | number | boolean | null | undefined | ((e: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, Attr> | null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
}

/** A hash link: `#/path?key=value`. */
export function href(path: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}

export function stateBadge(state: string): HTMLElement {
  return h("span", { class: `state state-${state}` }, state);
}

export function when(iso: string | undefined): string {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** A table with a caption, a header row and body rows; wrapped so that it scrolls sideways at 200% zoom. */
export function table(caption: string, head: string[], rows: Child[][], cls = "data"): HTMLElement {
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: 0 },
    h(
      "table",
      { class: cls },
      h("caption", null, caption),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          head.map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        null,
        rows.length === 0
          ? h("tr", null, h("td", { colspan: head.length, class: "muted" }, "nothing here"))
          : rows.map((r) =>
              h(
                "tr",
                null,
                r.map((c) => h("td", null, c)),
              ),
            ),
      ),
    ),
  );
}

export function errorBox(err: unknown): HTMLElement {
  const e = err as { message?: string; field?: string; fix?: string };
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", null, "Error: "),
    e.message ?? String(err),
    e.field ? ` (field ${e.field})` : "",
    e.fix ? h("div", null, `Fix: ${e.fix}`) : null,
  );
}

export function progressBar(done: number, total: number, label: string): HTMLElement {
  return h(
    "div",
    { class: "progress" },
    h("progress", { value: done, max: Math.max(total, 1), "aria-label": label }),
    h("span", null, ` ${done}/${total} done`),
  );
}

export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  if (hint) control.setAttribute("aria-describedby", `${id}-hint`);
  return h(
    "div",
    { class: "form-row" },
    h("label", { for: id }, label),
    control,
    hint ? h("small", { id: `${id}-hint`, class: "muted" }, hint) : null,
  );
}

export function select(name: string, options: [string, string][], value?: string): HTMLSelectElement {
  return h(
    "select",
    { name },
    options.map(([v, t]) => h("option", { value: v, selected: v === (value ?? "") }, t)),
  );
}
