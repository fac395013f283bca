import { api } from "../api.ts";
import { h } from "../dom.ts";

type MountWorkbench = (
  root: HTMLElement,
  subpath: string,
  api: (path: string, init?: RequestInit) => Promise<unknown>,
) => unknown;

/**
 * `#/mmm` and `#/mmm/<sub>`: the MMM workbench (functions/console/workbench/page.ts), loaded on demand as its
 * own chunk so that the first page stays small. Its API calls go to `/api/mmm/...`.
 */
export async function mmmPage(root: HTMLElement, subpath: string): Promise<void> {
  const host = h("div", { class: "workbench" });
  root.append(host);
  const module = (await import("../../workbench/page.ts")) as { mountWorkbench: MountWorkbench };
  await module.mountWorkbench(host, subpath, (path: string, init?: RequestInit) =>
    api(`/mmm${path.startsWith("/") ? path : `/${path}`}`, init),
  );
  if (!root.querySelector("h1")) root.prepend(h("h1", null, "MMM workbench"));
}
