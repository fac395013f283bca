import { api, post, qs } from "../api.ts";
import { errorBox, field, h, href, progressBar, select, stateBadge, table, when } from "../dom.ts";
import type { Live } from "../main.ts";
import { act, paramsHint, parseParams, pipelines, status } from "./runs.ts";

interface Progress {
  done: number;
  total: number;
  counts: Record<string, number>;
}
interface BackfillRow {
  backfillId: string;
  pipeline: string;
  state: string;
  reason?: string;
  createdAt: string;
  updated: string;
  progress?: Progress;
}
interface PlanEntry {
  partition: string;
  weekday?: string;
  state: string;
  action: string;
  reason?: string;
}
interface Plan {
  backfillId: string;
  pipeline: string;
  requestId: string;
  reprocess: string;
  order: string;
  maxConcurrent: number;
  params: Record<string, unknown>;
  entries: PlanEntry[];
  counts: Record<string, number>;
}
interface Detail {
  backfillId: string;
  pipeline: string;
  state: string;
  reason?: string;
  createdAt?: string;
  counts: Record<string, number>;
  partitions: { partition: string; state: string; attempt?: number; reason?: string; action?: string }[];
  driver?: { name: string; state: string };
  request?: unknown;
  plan?: Plan;
  progress: Progress;
}

const BACKFILL_STATES = ["planned", "running", "succeeded", "failed", "cancelled"];

function countLine(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
}

/** `#/backfills`: every backfill, newest first, with progress for the ones still going. */
export async function backfillsPage(root: HTMLElement, params: URLSearchParams, live: Live): Promise<void> {
  root.append(
    h("h1", null, "Backfills"),
    h(
      "p",
      null,
      h(
        "a",
        {
          class: "btn btn-primary",
          href: href("/backfill/new", { pipeline: params.get("pipeline") ?? undefined }),
        },
        "New backfill",
      ),
    ),
  );
  const all = await pipelines();
  const pipeline = params.get("pipeline") ?? "";
  const state = params.get("state") ?? "";
  const form = h(
    "form",
    { class: "card filters", "aria-label": "Filter backfills" },
    h(
      "div",
      { class: "form-grid" },
      field(
        "Pipeline",
        select(
          "pipeline",
          [["", "every pipeline"], ...all.map((p): [string, string] => [p.id, p.id])],
          pipeline,
        ),
      ),
      field(
        "State",
        select("state", [["", "any state"], ...BACKFILL_STATES.map((s): [string, string] => [s, s])], state),
      ),
    ),
    h("div", { class: "form-actions" }, h("button", { class: "btn", type: "submit" }, "Apply filters")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const d = new FormData(form);
    location.hash = href("/backfills", {
      pipeline: String(d.get("pipeline") ?? ""),
      state: String(d.get("state") ?? ""),
    });
  });
  const body = h("div");
  root.append(form, body);
  const draw = async (): Promise<boolean> => {
    const rows = await api<BackfillRow[]>(`/backfills${qs({ pipeline, state })}`);
    if (!live.active()) return false;
    body.replaceChildren(
      table(
        "Backfills",
        ["backfill", "pipeline", "state", "progress", "created", "reason"],
        rows.map((b) => [
          h("a", { href: href("/backfill", { id: b.backfillId }) }, b.backfillId),
          b.pipeline,
          stateBadge(b.state),
          b.progress ? progressBar(b.progress.done, b.progress.total, `progress of ${b.backfillId}`) : "",
          when(b.createdAt),
          b.reason ?? "",
        ]),
      ),
    );
    return rows.some((b) => b.state === "running" || b.state === "planned");
  };
  if (await draw()) live.every(2000, draw);
}

/** `#/backfill?id`: progress (refreshed while it runs), actions, the plan joined with each partition's state. */
export async function backfillPage(root: HTMLElement, params: URLSearchParams, live: Live): Promise<void> {
  const id = params.get("id") ?? "";
  root.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/backfills" }, "Backfills")),
    h("h1", null, `Backfill ${id}`),
  );
  const body = h("div");
  const msg = status();
  root.append(body, msg);
  const draw = async (): Promise<boolean> => {
    const d = await api<Detail>(`/backfill${qs({ id })}`);
    if (!live.active()) return false;
    const actions = h("div", { class: "form-actions" });
    if (d.state === "running" || d.state === "planned")
      actions.append(
        h(
          "button",
          {
            class: "btn",
            type: "button",
            onclick: () => act(msg, `cancel ${id}`, () => post("/cancel", { backfillId: id })),
          },
          "Cancel backfill",
        ),
      );
    if ((d.counts.failed ?? 0) + (d.counts.cancelled ?? 0) > 0 && d.state !== "running")
      actions.append(
        h(
          "button",
          {
            class: "btn btn-primary",
            type: "button",
            onclick: async () => {
              msg.replaceChildren("Starting a backfill of the failed partitions...");
              try {
                const out = await post<{ backfillId: string }>("/backfill/rerun-failed", { backfillId: id });
                location.hash = href("/backfill", { id: out.backfillId });
              } catch (err) {
                msg.replaceChildren(errorBox(err));
              }
            },
          },
          "Rerun failed partitions",
        ),
      );
    const p = d.progress;
    body.replaceChildren(
      h(
        "section",
        { class: "card", "aria-label": "Progress" },
        h(
          "p",
          null,
          "Pipeline ",
          h("a", { href: href("/runs", { pipeline: d.pipeline }) }, d.pipeline),
          ", state ",
          stateBadge(d.state),
          d.driver ? ` (driver ${d.driver.state})` : "",
          d.createdAt ? `, created ${when(d.createdAt)}` : "",
        ),
        d.reason ? h("p", { class: d.state === "failed" ? "error" : "muted" }, d.reason) : null,
        h(
          "div",
          { class: "backfill-progress", role: "status", "aria-live": "polite" },
          progressBar(p.done, p.total, `progress of ${id}`),
          h(
            "p",
            { class: "progress-text" },
            `${p.done}/${p.total} done: ${countLine(p.counts) || "nothing to run"}`,
          ),
        ),
        actions,
      ),
      table(
        "Partitions (the plan, with each partition's state now)",
        ["partition", "action", "state", "attempt", "reason"],
        d.partitions.map((x) => [
          x.action === "skip"
            ? x.partition
            : h("a", { href: href("/run", { pipeline: d.pipeline, partition: x.partition }) }, x.partition),
          x.action ?? "",
          stateBadge(x.state),
          x.attempt === undefined ? "" : String(x.attempt),
          x.reason ?? "",
        ]),
      ),
      h("details", null, h("summary", null, "Request"), h("pre", null, JSON.stringify(d.request, null, 2))),
    );
    return d.state === "running" || d.state === "planned" || d.driver?.state === "ACTIVE";
  };
  if (await draw()) live.every(1000, draw);
}

const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/** `#/backfill/new`: the form; "Plan" shows the dry-run plan, "Start" confirms exactly that request. */
export async function newBackfillPage(root: HTMLElement, params: URLSearchParams, live: Live): Promise<void> {
  root.append(h("h1", null, "New backfill"));
  const all = await pipelines();
  if (!live.active()) return;
  if (all.length === 0) {
    root.append(h("p", { class: "muted" }, "No pipelines are registered."));
    return;
  }
  const pipelineSel = select(
    "pipeline",
    all.map((p) => [p.id, `${p.id} (${p.partitionKind})`]),
    params.get("pipeline") ?? all[0].id,
  );
  const from = h("input", {
    name: "from",
    placeholder: "2024-06-01",
    size: 12,
    value: params.get("from") ?? "",
  });
  const to = h("input", { name: "to", placeholder: "2024-06-30", size: 12, value: params.get("to") ?? "" });
  const dates = h("textarea", { name: "dates", rows: 3, cols: 30 });
  const weekdays = h(
    "fieldset",
    { class: "weekdays" },
    h("legend", null, "Only these weekdays (none: every day)"),
    WEEKDAYS.map((d) =>
      h(
        "label",
        { class: "inline" },
        h("input", { type: "checkbox", name: "weekday", value: d }),
        ` ${d.slice(0, 3)}`,
      ),
    ),
  );
  const reprocess = select("reprocess", [
    ["missing", "missing: only partitions that never ran"],
    ["failed", "failed: also failed and cancelled ones"],
    ["all", "all: everything not running now"],
  ]);
  const maxConcurrent = h("input", { name: "maxConcurrent", type: "number", min: 1, max: 100, value: 4 });
  const order = select("order", [
    ["asc", "oldest first"],
    ["desc", "newest first"],
  ]);
  const paramsText = h("textarea", { name: "params", rows: 3, cols: 40 }, "{}");
  const paramsRow = field("Parameters", paramsText, paramsHint(all.find((p) => p.id === pipelineSel.value)));
  pipelineSel.addEventListener("change", () => {
    const hint = paramsRow.querySelector("small");
    if (hint) hint.textContent = paramsHint(all.find((p) => p.id === pipelineSel.value));
  });
  const planBox = h("div", { class: "plan", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-label": "Backfill request" },
    h(
      "div",
      { class: "form-grid" },
      field("Pipeline", pipelineSel),
      field("From", from, "first partition, included"),
      field("To", to, "last partition, included (default: from)"),
      field("Max at once", maxConcurrent, "1 to 100"),
      field("Order", order),
      field("Reprocess", reprocess),
    ),
    weekdays,
    field("Extra partitions", dates, "one per line; the only way for key partitions such as model/run"),
    paramsRow,
    h(
      "div",
      { class: "form-actions" },
      h("button", { class: "btn btn-primary", type: "submit" }, "Plan (dry run)"),
    ),
  );
  root.append(
    h(
      "p",
      { class: "muted" },
      "Plan first: nothing is recorded or started until you confirm the plan below.",
    ),
    form,
    planBox,
  );
  const request = (): Record<string, unknown> => {
    const d = new FormData(form);
    const ds = String(d.get("dates") ?? "")
      .split(/\s+/)
      .filter(Boolean);
    const wd = d.getAll("weekday").map(String);
    return {
      pipeline: pipelineSel.value,
      ...(from.value ? { from: from.value, to: to.value || from.value } : {}),
      ...(ds.length ? { dates: ds } : {}),
      ...(wd.length ? { weekdays: wd } : {}),
      reprocess: reprocess.value,
      maxConcurrent: Number(maxConcurrent.value),
      order: order.value,
      params: parseParams(paramsText.value),
    };
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    planBox.replaceChildren(h("p", null, "Planning..."));
    try {
      const body = request();
      const out = await post<{ requestId: string; plan: Plan }>("/backfill/plan", body);
      showPlan(planBox, { ...body, requestId: out.requestId }, out.plan);
    } catch (err) {
      planBox.replaceChildren(errorBox(err));
    }
  });
}

function showPlan(box: HTMLElement, request: Record<string, unknown>, plan: Plan): void {
  const msg = status();
  const start = h("button", { class: "btn btn-primary", type: "button" }, "Start this backfill");
  start.addEventListener("click", async () => {
    start.disabled = true;
    msg.replaceChildren("Starting...");
    try {
      const out = await post<{ backfillId: string; action: string }>("/backfill", request);
      location.hash = href("/backfill", { id: out.backfillId });
    } catch (err) {
      start.disabled = false;
      msg.replaceChildren(errorBox(err));
    }
  });
  const toRun = (plan.counts.run ?? 0) + (plan.counts.rerun ?? 0);
  box.replaceChildren(
    h(
      "section",
      { class: "card", "aria-labelledby": "plan-h" },
      h("h2", { id: "plan-h", tabindex: -1 }, "Plan"),
      h(
        "p",
        { class: "plan-summary" },
        `${plan.backfillId}: ${plan.counts.run ?? 0} to run, ${plan.counts.rerun ?? 0} to rerun, ${plan.counts.skip ?? 0} skipped `,
        `(reprocess ${plan.reprocess}, at most ${plan.maxConcurrent} at once, ${plan.order === "asc" ? "oldest" : "newest"} first).`,
      ),
      table(
        "Planned partitions",
        ["partition", "weekday", "state now", "action", "why"],
        plan.entries.map((e) => [
          e.partition,
          e.weekday ?? "",
          stateBadge(e.state),
          e.action,
          e.reason ?? "",
        ]),
      ),
      h(
        "div",
        { class: "form-actions" },
        toRun > 0 ? start : h("p", { class: "muted" }, "Nothing to run: every partition is skipped."),
      ),
      msg,
    ),
  );
  (box.querySelector("#plan-h") as HTMLElement | null)?.focus();
}
