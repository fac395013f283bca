import { api, post, qs } from "../api.ts";
import { errorBox, field, h, href, select, stateBadge, table, when } from "../dom.ts";
import type { Live } from "../main.ts";

export interface Pipeline {
  id: string;
  title: string;
  description: string;
  partitionKind: string;
  maxBackfill?: number;
  latest?: string;
  defaultPartition?: string;
  params?: { properties?: Record<string, { type?: string; description?: string }> };
}

interface Row {
  partition: string;
  state: string;
  attempt: number;
  updated: string;
  runId?: string;
  reason?: string;
  backfillId?: string;
}

interface Overview {
  pipeline: string;
  title: string;
  counts: Record<string, number>;
  total: number;
  latest?: Row;
  activeBackfills: number;
}

export const STATES = ["running", "interrupted", "succeeded", "failed", "cancelled"];
const PAGE = 50;

let pipelinesCache: Promise<Pipeline[]> | undefined;
export function pipelines(): Promise<Pipeline[]> {
  pipelinesCache ??= api<Pipeline[]>("/pipelines");
  pipelinesCache.catch(() => {
    pipelinesCache = undefined;
  });
  return pipelinesCache;
}

function counts(c: Record<string, number>, pipeline: string): HTMLElement {
  const items = STATES.filter((s) => c[s]).map((s) =>
    h("li", null, h("a", { href: href("/runs", { pipeline, state: s }) }, stateBadge(s), ` ${c[s]}`)),
  );
  return items.length
    ? h("ul", { class: "counts" }, items)
    : h("span", { class: "muted" }, "nothing ran yet");
}

/** A message line under an action, announced to screen readers. */
export function status(): HTMLElement {
  return h("p", { class: "status", role: "status", "aria-live": "polite" });
}

export function paramsHint(p: Pipeline | undefined): string {
  const props = Object.entries(p?.params?.properties ?? {});
  return props.length
    ? `JSON object; parameters: ${props.map(([k, v]) => `${k}${v.type ? ` (${v.type})` : ""}`).join(", ")}`
    : "JSON object; this pipeline takes no parameters";
}

export function parseParams(text: string): Record<string, unknown> {
  const t = text.trim();
  if (!t) return {};
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (err) {
    throw Object.assign(new Error(`parameters are not JSON: ${(err as Error).message}`), {
      field: "params",
      fix: 'write a JSON object such as {"testingMode": true}',
    });
  }
  if (!v || typeof v !== "object" || Array.isArray(v))
    throw Object.assign(new Error("parameters must be a JSON object"), { field: "params" });
  return v as Record<string, unknown>;
}

/** `#/runs`: every pipeline's counts, then one pipeline's partitions by state with filters and actions. */
export async function runsPage(root: HTMLElement, params: URLSearchParams, live: Live): Promise<void> {
  root.append(h("h1", null, "Runs"));
  const [all, ov] = await Promise.all([pipelines(), api<Overview[]>("/overview")]);
  if (!live.active()) return;
  const overviewBox = h("div");
  root.append(overviewBox);
  const drawOverview = (ov: Overview[]) =>
    overviewBox.replaceChildren(
      table(
        "Pipelines",
        ["pipeline", "partitions by state", "newest partition", "active backfills"],
        ov.map((o) => [
          h("a", { href: href("/runs", { pipeline: o.pipeline }) }, o.pipeline),
          counts(o.counts, o.pipeline),
          o.latest
            ? h(
                "span",
                null,
                h(
                  "a",
                  { href: href("/run", { pipeline: o.pipeline, partition: o.latest.partition }) },
                  o.latest.partition,
                ),
                " ",
                stateBadge(o.latest.state),
              )
            : "",
          o.activeBackfills
            ? h("a", { href: href("/backfills", { pipeline: o.pipeline }) }, String(o.activeBackfills))
            : "0",
        ]),
      ),
    );
  drawOverview(ov);
  if (all.length === 0) {
    root.append(h("p", { class: "muted" }, "No pipelines are registered."));
    return;
  }
  const pipeline = params.get("pipeline") || all[0].id;
  const def = all.find((p) => p.id === pipeline);
  const filter = {
    pipeline,
    state: params.get("state") ?? "",
    from: params.get("from") ?? "",
    to: params.get("to") ?? "",
    q: params.get("q") ?? "",
  };
  const offset = Number(params.get("offset") ?? 0) || 0;

  const form = h(
    "form",
    { class: "card filters", "aria-label": "Filter partitions" },
    h("h2", null, "Partitions"),
    h(
      "div",
      { class: "form-grid" },
      field(
        "Pipeline",
        select(
          "pipeline",
          all.map((p) => [p.id, p.id]),
          pipeline,
        ),
      ),
      field(
        "State",
        select("state", [["", "any state"], ...STATES.map((s): [string, string] => [s, s])], filter.state),
      ),
      field(
        "From",
        h("input", { name: "from", value: filter.from, placeholder: "2024-01-01", size: 12 }),
        "partition, included",
      ),
      field(
        "To",
        h("input", { name: "to", value: filter.to, placeholder: "2024-12-31", size: 12 }),
        "partition, included",
      ),
      field(
        "Search",
        h("input", { name: "q", value: filter.q, type: "search", size: 16 }),
        "in partition or reason",
      ),
    ),
    h(
      "div",
      { class: "form-actions" },
      h("button", { class: "btn btn-primary", type: "submit" }, "Apply filters"),
      " ",
      h("a", { class: "btn", href: href("/runs", { pipeline }) }, "Clear"),
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    location.hash = href("/runs", Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v)])));
  });
  root.append(form);

  const msg = status();
  const listBox = h("div");
  root.append(listBox, msg, runForm(def, msg));
  // Redrawn every few seconds while something runs, unless the keyboard is inside the list.
  const draw = async (first: boolean): Promise<boolean> => {
    const [page, overviewNow] = await Promise.all([
      api<{ counts: Record<string, number>; total: number; rows: Row[] }>(
        `/partitions${qs({ ...filter, limit: PAGE, offset })}`,
      ),
      first ? Promise.resolve(ov) : api<Overview[]>("/overview"),
    ]);
    if (!live.active()) return false;
    const busy =
      page.rows.some((r) => r.state === "running") ||
      overviewNow.some((o) => o.activeBackfills > 0 || (o.counts.running ?? 0) > 0);
    if (!first && (listBox.contains(document.activeElement) || overviewBox.contains(document.activeElement)))
      return busy;
    if (!first) drawOverview(overviewNow);
    const pager = h("nav", { class: "pager", "aria-label": "Pages" });
    if (offset > 0)
      pager.append(
        h(
          "a",
          { class: "btn", href: href("/runs", { ...filter, offset: Math.max(0, offset - PAGE) }) },
          "Newer",
        ),
      );
    if (offset + PAGE < page.total)
      pager.append(
        h("a", { class: "btn", href: href("/runs", { ...filter, offset: offset + PAGE }) }, "Older"),
      );
    listBox.replaceChildren(
      h("p", null, `${page.total} partition(s) match. `, counts(page.counts, pipeline)),
      table(
        `Partitions of ${pipeline}`,
        ["partition", "state", "attempt", "updated", "reason", "backfill", "actions"],
        page.rows.map((r) => [
          h("a", { href: href("/run", { pipeline, partition: r.partition }) }, r.partition),
          stateBadge(r.state),
          String(r.attempt),
          when(r.updated),
          r.reason ? h("span", { class: "reason", title: r.reason }, r.reason.slice(0, 160)) : "",
          r.backfillId ? h("a", { href: href("/backfill", { id: r.backfillId }) }, r.backfillId) : "",
          rowActions(pipeline, r, msg),
        ]),
      ),
      pager,
    );
    return busy;
  };
  if (await draw(true)) live.every(3000, () => draw(false));
}

function rowActions(pipeline: string, r: Row, msg: HTMLElement): HTMLElement {
  const box = h("span", { class: "actions" });
  if (r.state === "running" && r.runId) {
    box.append(
      h(
        "button",
        {
          class: "btn",
          type: "button",
          "aria-label": `Cancel ${r.partition}`,
          onclick: () => act(msg, `cancel ${r.partition}`, () => post("/cancel", { runId: r.runId })),
        },
        "Cancel",
      ),
    );
  } else if (r.state !== "running") {
    box.append(
      h(
        "button",
        {
          class: "btn",
          type: "button",
          "aria-label": `Run ${r.partition} again`,
          onclick: () =>
            act(msg, `run ${r.partition}`, () =>
              post("/run", { pipeline, partition: r.partition, force: r.state === "succeeded" }),
            ),
        },
        r.state === "succeeded" ? "Rerun" : "Run again",
      ),
    );
  }
  return box;
}

/** Run an action, report it in `msg`, and re-render the page so it shows the new state. */
export async function act(msg: HTMLElement, what: string, fn: () => Promise<unknown>): Promise<void> {
  msg.replaceChildren(`Working: ${what}...`);
  try {
    const out = (await fn()) as { execution?: string; backfillId?: string } | undefined;
    msg.replaceChildren(`Done: ${what}${out?.execution ? ` (${out.execution.split("/").pop()})` : ""}.`);
    setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), 400);
  } catch (err) {
    msg.replaceChildren(errorBox(err));
  }
}

function runForm(def: Pipeline | undefined, msg: HTMLElement): HTMLElement {
  if (!def) return h("p");
  const partition = h("input", {
    name: "partition",
    value: def.defaultPartition ?? "",
    required: def.partitionKind === "key",
    size: 24,
  });
  const paramsText = h("textarea", { name: "params", rows: 3, cols: 40 }, "{}");
  const force = h("input", { type: "checkbox", name: "force", id: "run-force" });
  const form = h(
    "form",
    { class: "card", "aria-label": `Run a partition of ${def.id}` },
    h("h2", null, `Run a partition of ${def.id}`),
    field(
      "Partition",
      partition,
      def.partitionKind === "key" ? "model_id/run_id" : `${def.partitionKind} partition`,
    ),
    field("Parameters", paramsText, paramsHint(def)),
    h(
      "div",
      { class: "form-row checkbox" },
      force,
      h("label", { for: "run-force" }, "Force: rerun even if it succeeded"),
    ),
    h("div", { class: "form-actions" }, h("button", { class: "btn btn-primary", type: "submit" }, "Run")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void act(msg, `run ${def.id} ${partition.value}`, async () =>
      post("/run", {
        pipeline: def.id,
        partition: partition.value || undefined,
        params: parseParams(paramsText.value),
        force: force.checked,
      }),
    );
  });
  return form;
}

// ---------------------------------------------------------------- a run's timeline

interface Step {
  step: string;
  routine: string;
  line: number;
  at: string;
  entry: number;
}
interface Task {
  index: number;
  attempt: number;
  state: string;
  exitCode?: number;
  logTail?: string;
}
interface Job {
  name: string;
  job: string;
  state: string;
  startTime: string;
  completionTime?: string;
  taskCount: number;
  failureReason?: string;
  tasks: Task[];
}
interface Execution {
  name: string;
  workflow: string;
  state: string;
  startTime: string;
  endTime?: string;
  error?: unknown;
  steps: Step[];
  stepCount?: number;
  logs: { time: string; severity: string; text?: string; json?: unknown; step: string }[];
  jobs: Job[];
}
interface Attempt {
  attempt: number;
  state: string;
  reason?: string;
  claimedAt: string;
  startedAt?: string;
  updated: string;
  backfillId?: string;
  runId?: string;
  force: boolean;
  params?: Record<string, unknown>;
  events: { at: string; type: string; message?: string }[];
  executions: Execution[];
}
interface Timeline {
  pipeline: string;
  partition: string;
  state: string;
  reason?: string;
  attempts: Attempt[];
}

function text(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v, null, 2);
}

/** `#/run?pipeline&partition`: the failure reason first, then every attempt's executions, steps, jobs, logs. */
export async function runPage(root: HTMLElement, params: URLSearchParams, live: Live): Promise<void> {
  const pipeline = params.get("pipeline") ?? "";
  const partition = params.get("partition") ?? "";
  root.append(
    h("p", { class: "crumbs" }, h("a", { href: href("/runs", { pipeline }) }, `Runs of ${pipeline}`)),
    h("h1", null, `${pipeline} ${partition}`),
  );
  const body = h("div");
  root.append(body);
  const draw = async (): Promise<boolean> => {
    const t = await api<Timeline>(`/run${qs({ pipeline, partition })}`);
    if (!live.active()) return false;
    body.replaceChildren(...timeline(t));
    return t.state === "running";
  };
  if (await draw()) live.every(1500, draw);
}

function timeline(t: Timeline): Node[] {
  const msg = status();
  const out: Node[] = [];
  const latest = t.attempts[0];
  out.push(
    h(
      "p",
      null,
      "State: ",
      stateBadge(t.state),
      ` (attempt ${latest?.attempt ?? "-"}, `,
      latest ? `updated ${when(latest.updated)})` : ")",
    ),
  );
  if (t.reason)
    out.push(
      h(
        "section",
        { class: "error failure", "aria-labelledby": "reason-h" },
        h("h2", { id: "reason-h" }, "Failure reason"),
        h("pre", { class: "reason-text" }, t.reason),
      ),
    );
  const actions = h("div", { class: "form-actions" });
  if (t.state === "running" && latest?.runId)
    actions.append(
      h(
        "button",
        {
          class: "btn",
          type: "button",
          onclick: () => act(msg, "cancel", () => post("/cancel", { runId: latest.runId })),
        },
        "Cancel this run",
      ),
    );
  else
    actions.append(
      h(
        "button",
        {
          class: "btn btn-primary",
          type: "button",
          onclick: () =>
            act(msg, `run ${t.partition}`, () =>
              post("/run", {
                pipeline: t.pipeline,
                partition: t.partition,
                params: latest?.params ?? {},
                force: t.state === "succeeded",
              }),
            ),
        },
        t.state === "succeeded" ? "Rerun (force)" : "Run again",
      ),
    );
  out.push(actions, msg);
  for (const a of t.attempts) out.push(attemptCard(a));
  return out;
}

function attemptCard(a: Attempt): HTMLElement {
  const card = h(
    "section",
    { class: "card attempt", "aria-label": `Attempt ${a.attempt}` },
    h("h2", null, `Attempt ${a.attempt} `, stateBadge(a.state)),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "claimed"),
      h("dd", null, when(a.claimedAt)),
      h("dt", null, "started"),
      h("dd", null, when(a.startedAt) || "-"),
      h("dt", null, "updated"),
      h("dd", null, when(a.updated)),
      h("dt", null, "run id"),
      h("dd", null, a.runId ?? "-"),
      h("dt", null, "backfill"),
      h(
        "dd",
        null,
        a.backfillId ? h("a", { href: href("/backfill", { id: a.backfillId }) }, a.backfillId) : "-",
      ),
      h("dt", null, "forced"),
      h("dd", null, a.force ? "yes" : "no"),
      h("dt", null, "parameters"),
      h("dd", null, h("code", null, JSON.stringify(a.params ?? {}))),
    ),
  );
  if (a.reason) card.append(h("p", { class: "error" }, h("strong", null, "Reason: "), a.reason));
  for (const e of a.executions) card.append(executionBlock(e));
  if (a.events.length)
    card.append(
      table(
        `Ledger events of attempt ${a.attempt}`,
        ["at", "type", "message"],
        a.events.map((e) => [when(e.at), e.type, e.message ?? ""]),
      ),
    );
  return card;
}

/** An execution's error as one line (`[tags] message`), the whole value kept for a details box. */
function errorLine(error: unknown): string {
  if (error && typeof error === "object" && typeof (error as { message?: unknown }).message === "string") {
    const e = error as { message: string; tags?: unknown };
    return `${Array.isArray(e.tags) ? `[${e.tags.join(", ")}] ` : ""}${e.message}`;
  }
  return text(error);
}

function executionBlock(e: Execution): HTMLElement {
  const retried = e.steps.filter((s) => s.entry > 1).length;
  const box = h(
    "div",
    { class: "execution" },
    h("h3", null, `Workflow execution ${e.name.split("/").pop()} `, stateBadge(e.state.toLowerCase())),
    h("p", { class: "muted" }, `${e.workflow} · ${when(e.startTime)} → ${when(e.endTime) || "running"}`),
  );
  if (e.error) box.append(h("pre", { class: "error" }, errorLine(e.error)));
  if (e.error && typeof e.error === "object")
    box.append(
      h("details", null, h("summary", null, "Error details"), h("pre", { class: "log" }, text(e.error))),
    );
  const perJob = new Map<string, number>();
  for (const j of e.jobs) perJob.set(j.job, (perJob.get(j.job) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const j of e.jobs) {
    const k = (seen.get(j.job) ?? 0) + 1;
    seen.set(j.job, k);
    box.append(jobBlock(j, k, perJob.get(j.job) ?? 1));
  }
  if (e.steps.length)
    box.append(
      h(
        "details",
        null,
        h(
          "summary",
          null,
          `Steps (${e.stepCount ?? e.steps.length}${retried ? `, ${retried} repeated: retries or loops` : ""})`,
        ),
        table(
          "Workflow steps",
          ["at", "step", "routine", "line", "entry"],
          e.steps.map((s) => [
            when(s.at),
            s.step,
            s.routine,
            String(s.line),
            s.entry > 1 ? h("strong", null, `#${s.entry}`) : "1",
          ]),
        ),
      ),
    );
  if (e.logs.length)
    box.append(
      h(
        "details",
        null,
        h("summary", null, `Logs (${e.logs.length})`),
        h(
          "pre",
          { class: "log" },
          e.logs
            .map((l) => `${l.time} ${l.severity} [${l.step}] ${l.text ?? JSON.stringify(l.json)}`)
            .join("\n"),
        ),
      ),
    );
  return box;
}

function jobBlock(j: Job, run: number, runs: number): HTMLElement {
  const retries = j.tasks.reduce((n, t) => n + Math.max(0, t.attempt), 0);
  const logBox = h("div", { class: "task-log" });
  return h(
    "div",
    { class: "job" },
    h(
      "h4",
      null,
      `Job ${j.job} `,
      stateBadge(j.state.toLowerCase()),
      runs > 1 ? ` run ${run} of ${runs}${run > 1 ? " (retried by the workflow)" : ""}` : "",
      retries ? `, ${retries} task retr${retries === 1 ? "y" : "ies"}` : "",
    ),
    h(
      "p",
      { class: "muted" },
      `${j.name.split("/").pop()} · ${when(j.startTime)} → ${when(j.completionTime) || "running"}`,
    ),
    j.failureReason ? h("pre", { class: "error" }, j.failureReason) : null,
    table(
      `Tasks of ${j.job}`,
      ["task", "attempt", "state", "exit code", "log"],
      j.tasks.map((t) => [
        String(t.index),
        String(t.attempt),
        stateBadge(t.state.toLowerCase()),
        t.exitCode === undefined ? "" : String(t.exitCode),
        h(
          "button",
          {
            class: "btn",
            type: "button",
            "aria-label": `Show the log of task ${t.index} attempt ${t.attempt}`,
            onclick: async () => {
              try {
                const log = await api<string>(
                  `/task-log${qs({ execution: j.name, task: t.index, attempt: t.attempt })}`,
                );
                logBox.replaceChildren(
                  h("h5", null, `Task ${t.index}, attempt ${t.attempt}`),
                  h("pre", { class: "log", tabindex: 0 }, log || "(empty)"),
                );
              } catch (err) {
                logBox.replaceChildren(errorBox(err));
              }
            },
          },
          "Log",
        ),
      ]),
    ),
    logBox,
  );
}
