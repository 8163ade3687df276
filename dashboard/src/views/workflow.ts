// spec-workflow / spec-context: a spec's documents and tasks with toggles, and approvals.

import { api, type Approval, type Task } from "../api";
import { fill, h } from "../dom";
import { specJobs } from "./jobs";
import { renderMarkdown } from "../markdown";
import { progress, workflowStatus } from "./project";
import {
  askDialog,
  canEdit,
  conflictDialog,
  machineOf,
  offlineNote,
  projectHref,
  runWrite,
  touches,
  wantsQueue,
  type Ctx,
  type Target,
  type View,
} from "./shared";

const TASK_STATES: Task["status"][] = ["pending", "in-progress", "done", "blocked"];

function crumbs(ctx: Ctx, target: Target, last: string): HTMLElement {
  const m = machineOf(ctx, target);
  return h(
    "div",
    { class: "crumbs" },
    h("a", { href: "#/" }, "Machines"),
    " / ",
    h("a", { href: projectHref(target) }, `${m?.name ?? target.machine}: ${target.project}`),
    " / ",
    last,
  );
}

export async function renderWorkflowSpec(ctx: Ctx, target: Target, name: string): Promise<View> {
  const el = h("div", { class: "wf-spec" });
  let shown = "tasks";
  const load = async () => {
    const model = await api.model(target.machine, target.project);
    const spec = model.workflow?.specs.find((s) => s.name === name);
    if (!spec) {
      fill(el, crumbs(ctx, target, name), h("p", {}, "This spec is no longer on the machine."));
      return;
    }
    const doc = spec.documents.find((d) => d.name === shown) ?? spec.documents[0];
    const tabs = h(
      "div",
      { class: "tabs", role: "tablist" },
      spec.documents.map((d) =>
        h("button", { role: "tab", class: d === doc ? "active" : "", onclick: () => ((shown = d.name), void load()) }, d.name),
      ),
    );
    let body: HTMLElement = h("p", { class: "muted" }, "No documents yet.");
    if (doc && doc.name === "tasks") {
      const t = await api.tasks(target.machine, target.project, name);
      const editable = canEdit(ctx, target);
      body = h(
        "ul",
        { class: "tasks" },
        t.tasks.map((task) => {
          const box = h("input", { type: "checkbox", checked: task.status === "done", disabled: !editable, "aria-label": `Task ${task.id} done` });
          const select = h(
            "select",
            { disabled: !editable, "aria-label": `Task ${task.id} status` },
            TASK_STATES.map((s) => h("option", { value: s, selected: s === task.status }, s)),
          );
          const send = (status: string, base: string, reason?: string): Promise<void> =>
            runWrite(
              ctx,
              target,
              () => api.setTask(target.machine, target.project, name, task.id, status, base, wantsQueue(ctx, target), reason),
              (theirs, theirHash) =>
                conflictDialog({
                  what: t.path,
                  mine: `task ${task.id}: ${status}`,
                  mineLabel: "Your change",
                  theirs,
                  onReload: () => void load(),
                  onOverwrite: () => void send(status, theirHash ?? base, reason).then(() => load()),
                  overwriteLabel: "Apply my change to their version",
                }),
            ).then(() => load());
          box.addEventListener("change", () => void send(box.checked ? "done" : "pending", t.hash));
          select.addEventListener("change", () => {
            if (select.value !== "blocked") return void send(select.value, t.hash);
            // spec-workflow writes the reason as a `_Blocked: <reason>_` line under the task.
            void askDialog({
              title: `Block task ${task.id}`,
              message: "The reason is written under the task in tasks.md, where the agent reads it.",
              input: { label: "Reason (optional)", placeholder: "waiting for the API key" },
              confirmLabel: "Mark blocked",
            }).then((reason) => (reason === null ? load() : send("blocked", t.hash, reason)));
          });
          return h(
            "li",
            { class: `task task-${task.status}`, style: `margin-left:${Math.min(task.indent, 8) * 0.5}rem`, "data-task": task.id },
            h("label", {}, box, h("span", { class: "task-id" }, task.id), " ", task.title),
            select,
            task.blockedReason ? h("div", { class: "muted small blocked-reason", "data-blocked-reason": "" }, `Blocked: ${task.blockedReason}`) : null,
          );
        }),
      );
    } else if (doc) {
      const file = await api.content(target.machine, target.project, doc.path);
      body = renderMarkdown(file.content);
    }
    fill(el, 
      crumbs(ctx, target, spec.displayName),
      offlineNote(ctx, target),
      h("div", { class: "spec-head" }, h("h1", {}, spec.displayName), workflowStatus(spec.status), progress(spec.taskProgress)),
      specJobs(ctx, target.machine, target.project, name),
      tabs,
      doc ? h("p", {}, h("a", { class: "small", href: projectHref(target, canEdit(ctx, target) ? "edit" : "doc", doc.path) }, canEdit(ctx, target) ? `Edit ${doc.name}.md` : `${doc.name}.md`)) : null,
      body,
    );
  };
  await load();
  return { el, update: (event) => (touches(event, target, ctx) ? void load() : undefined) };
}

export async function renderApprovals(ctx: Ctx, target: Target): Promise<View> {
  const el = h("div", { class: "approvals" });
  const load = async () => {
    const model = await api.model(target.machine, target.project);
    const approvals = model.workflow?.approvals ?? [];
    const legacy = model.workflow?.legacyApprovals ?? [];
    const editable = canEdit(ctx, target);
    fill(el, 
      crumbs(ctx, target, "Approvals"),
      offlineNote(ctx, target),
      h("h1", {}, "Approvals"),
      approvals.length === 0 ? h("p", { class: "muted" }, "No approval requests.") : null,
      approvals.map(({ path, approval }) => {
        const comment = h("textarea", { rows: 2, placeholder: "Comment (needed for a revision request)", disabled: !editable });
        const act = (action: string) =>
          void runWrite(
            ctx,
            target,
            () => api.answerApproval(target.machine, target.project, approval.id, action, comment.value, wantsQueue(ctx, target)),
            (theirs) =>
              conflictDialog({
                what: path,
                mine: `${action}: ${comment.value}`,
                mineLabel: "Your answer",
                theirs,
                onReload: () => void load(),
                onOverwrite: () => act(action),
                overwriteLabel: "Answer again",
              }),
          ).then(() => load());
        return h(
          "section",
          { class: `approval approval-${approval.status}`, "data-approval": approval.id },
          h("div", { class: "approval-head" }, h("h2", {}, approval.title), h("span", { class: `pill status-${approval.status}` }, approval.status)),
          h("p", { class: "muted small" }, `${approval.type} · ${approval.filePath} · ${approval.createdAt}`),
          approval.filePath ? h("a", { href: projectHref(target, "doc", approval.filePath) }, "Open the document") : null,
          approval.response ? h("blockquote", {}, approval.response) : null,
          (approval.comments ?? []).length ? h("ul", {}, (approval.comments ?? []).map((c) => h("li", {}, c.comment))) : null,
          approval.status === "pending"
            ? h(
                "div",
                { class: "approval-actions" },
                comment,
                h(
                  "div",
                  { class: "actions" },
                  h("button", { disabled: !editable, onclick: () => act("approve") }, "Approve"),
                  h("button", { class: "secondary", disabled: !editable, onclick: () => act("needs-revision") }, "Request revision"),
                  h("button", { class: "danger", disabled: !editable, onclick: () => act("reject") }, "Reject"),
                ),
              )
            : null,
        );
      }),
      legacy.length ? legacyApprovals(target, legacy) : null,
    );
  };
  await load();
  return { el, update: (event) => (touches(event, target, ctx) ? void load() : undefined) };
}

/** Approvals in spec-workflow 0.x's nested folders: shown, never counted, never decided. */
function legacyApprovals(target: Target, legacy: { path: string; approval: Approval }[]): HTMLElement {
  return h(
    "section",
    { class: "legacy-approvals", "data-testid": "legacy-approvals" },
    h("h2", {}, "Old folder layout (read-only)"),
    h(
      "p",
      { class: "legacy-note", role: "note" },
      "Old folder layout: spec-workflow 2.x no longer reads this approval, so a decision here would never reach the agent. Ask the agent to request the approval again.",
    ),
    legacy.map(({ path, approval }) =>
      h(
        "section",
        { class: "approval approval-legacy", "data-legacy-approval": approval.id },
        h("div", { class: "approval-head" }, h("h3", {}, approval.title), h("span", { class: "pill" }, `${approval.status} (not read by spec-workflow)`)),
        h("p", { class: "muted small" }, `${path} · ${approval.createdAt}`),
        approval.filePath ? h("a", { href: projectHref(target, "doc", approval.filePath) }, "Open the document") : null,
      ),
    ),
  );
}
