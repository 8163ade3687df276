// The specbridge web dashboard: a hash-routed single page over the hub's
// dashboard routes and the /ws/dashboard live feed.

import "./style.css";
import { api } from "./api";
import { h, toast } from "./dom";
import { Live, type LiveEvent } from "./live";
import { renderHome } from "./views/home";
import { renderJobs } from "./views/jobs";
import { renderLogin, renderPairing, renderQueue } from "./views/misc";
import { renderProject } from "./views/project";
import { renderDocument, renderEditor, renderSpec } from "./views/spec";
import { renderApprovals, renderWorkflowSpec } from "./views/workflow";
import type { Ctx, View } from "./views/shared";

const live = new Live();
const app = document.getElementById("app") as HTMLElement;
let current: View | null = null;
let renderSeq = 0;

const indicatorText: Record<string, string> = { live: "Live", connecting: "Connecting…", down: "Disconnected" };

function indicator(): HTMLElement {
  const el = h(
    "button",
    { class: `link-state link-${live.state}`, id: "link-state", title: "Connection to the hub; click to retry now" },
    h("span", { class: "dot" }),
    indicatorText[live.state],
  );
  el.addEventListener("click", () => live.retryNow());
  return el;
}

function shell(body: HTMLElement, loggedIn: boolean): HTMLElement {
  const queued = live.queue.length;
  return h(
    "div",
    { class: "shell" },
    h(
      "header",
      { class: "top" },
      h("a", { class: "brand", href: "#/" }, "specbridge"),
      loggedIn &&
        h(
          "nav",
          {},
          h("a", { href: "#/" }, "Machines"),
          h("a", { href: "#/queue" }, queued ? `Queue (${queued})` : "Queue"),
          h("a", { href: "#/pairing" }, "Pair"),
          h("button", { class: "linkish", onclick: () => void logout() }, "Log out"),
        ),
      loggedIn && indicator(),
    ),
    h("main", { id: "view" }, body),
  );
}

async function logout(): Promise<void> {
  await api.logout().catch(() => undefined);
  live.stop();
  location.hash = "#/login";
}

function parts(): string[] {
  return location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
}

async function route(): Promise<void> {
  const seq = ++renderSeq;
  const p = parts();
  current?.dispose?.();
  current = null;
  if (p[0] === "login") {
    app.replaceChildren(shell(renderLogin(() => start()), false));
    return;
  }
  const ctx: Ctx = { live, rerender: () => void route() };
  let view: View;
  try {
    if (p.length === 0) view = renderHome(ctx);
    else if (p[0] === "queue") view = renderQueue(ctx);
    else if (p[0] === "pairing") view = renderPairing();
    else if (p[0] === "m" && p[2] === "jobs") view = await renderJobs(ctx, p[1], p[3] && p[4] ? { project: p[3], job: p[4] } : undefined);
    else if (p[0] === "m" && p[2] === "p") {
      const [, m, , proj, kind, ...rest] = p;
      const target = { machine: m, project: proj };
      if (!kind) view = await renderProject(ctx, target);
      else if (kind === "spec") view = await renderSpec(ctx, target, rest[0]);
      else if (kind === "edit") view = await renderEditor(ctx, target, rest.join("/"));
      else if (kind === "doc") view = await renderDocument(ctx, target, rest.join("/"));
      else if (kind === "wf") view = await renderWorkflowSpec(ctx, target, rest[0]);
      else if (kind === "approvals") view = await renderApprovals(ctx, target);
      else view = { el: h("p", {}, "No such page.") };
    } else view = { el: h("p", {}, "No such page.") };
  } catch (err) {
    view = { el: h("div", { class: "error-box" }, h("strong", {}, "Could not load this page. "), String((err as Error).message)) };
  }
  if (seq !== renderSeq) return;
  current = view;
  app.replaceChildren(shell(view.el, true));
}

live.on((event: LiveEvent) => {
  if (event.type === "unauthorized") {
    live.stop();
    location.hash = "#/login";
    return;
  }
  if (event.type === "command_result" && event.result.deferred) {
    // Results of queued edits arrive whenever the machine returns: say what happened.
    const r = event.result;
    if (r.error) toast(`Queued edit not applied (${r.error.code}): ${r.summary}. ${r.error.hint ?? ""}`, "error");
    else toast(`Queued edit applied: ${r.summary}`, "ok");
  }
  if (event.type === "link") {
    document.getElementById("link-state")?.replaceWith(indicator());
  }
  current?.update?.(event);
});

let started = false;
async function start(): Promise<void> {
  try {
    await api.session();
  } catch {
    if (parts()[0] !== "login") location.hash = "#/login";
    else void route();
    return;
  }
  if (!started) {
    started = true;
    live.start();
  } else {
    live.retryNow();
  }
  if (parts()[0] === "login") location.hash = "#/";
  else void route();
}

window.addEventListener("hashchange", () => {
  if (parts()[0] === "login" || started) void route();
  else void start();
});
void start();
