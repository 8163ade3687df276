// A project: the LeanSpec board grouped by status, or the spec-workflow overview.

import { api, type ProjectModel, type SpecView, type TaskProgress, type WorkflowStatus } from "../api";
import { fill, h } from "../dom";
import {
  canEdit,
  conflictDialog,
  offlineNote,
  projectHref,
  runWrite,
  statusBadge,
  touches,
  wantsQueue,
  type Ctx,
  type Target,
  type View,
} from "./shared";

export const STATUSES = ["draft", "planned", "in-progress", "complete", "archived"] as const;

export function statusSelect(ctx: Ctx, target: Target, spec: SpecView, onDone: () => void): HTMLSelectElement {
  const select = h(
    "select",
    { "aria-label": `Status of ${spec.name}`, "data-spec-status": spec.name, disabled: !canEdit(ctx, target) },
    STATUSES.map((s) => h("option", { value: s, selected: s === spec.status }, s)),
  );
  if (!spec.status) select.prepend(h("option", { value: "", selected: true, disabled: true }, "(none)"));
  select.addEventListener("change", () => {
    const status = select.value;
    const set = (base: string | null, force: boolean) =>
      api.setFrontmatter(target.machine, target.project, spec.name, { status }, base, wantsQueue(ctx, target), force);
    // LeanSpec's guard may ask first ("2 items are unchecked — complete anyway?"); a yes resends with force.
    const send = (base: string | null): Promise<unknown> =>
      runWrite(
        ctx,
        target,
        () => set(base, false),
        (theirs, theirHash) =>
          conflictDialog({
            what: spec.path,
            mine: `status: ${status}`,
            mineLabel: "Your change",
            theirs,
            onReload: onDone,
            onOverwrite: () => void send(theirHash).then(onDone),
            overwriteLabel: "Apply my change to their version",
          }),
        () => set(base, true),
      );
    select.disabled = true;
    void send(spec.hash).then(onDone);
  });
  return select;
}

export const PRIORITIES = ["low", "medium", "high", "critical"] as const;

/** The priority control of a spec's page. */
export function prioritySelect(ctx: Ctx, target: Target, spec: SpecView, onDone: () => void): HTMLSelectElement {
  const select = h(
    "select",
    { "aria-label": `Priority of ${spec.name}`, disabled: !canEdit(ctx, target) },
    PRIORITIES.map((p) => h("option", { value: p, selected: p === spec.priority }, p)),
  );
  if (!spec.priority) select.prepend(h("option", { value: "", selected: true, disabled: true }, "(none)"));
  select.addEventListener("change", () => {
    select.disabled = true;
    const priority = select.value;
    void runWrite(
      ctx,
      target,
      () => api.setFrontmatter(target.machine, target.project, spec.name, { priority }, spec.hash, wantsQueue(ctx, target)),
      (theirs) =>
        conflictDialog({
          what: spec.path,
          mine: `priority: ${priority}`,
          mineLabel: "Your change",
          theirs,
          onReload: onDone,
          onOverwrite: () =>
            void runWrite(ctx, target, () =>
              api.setFrontmatter(target.machine, target.project, spec.name, { priority }, null, wantsQueue(ctx, target)),
            ).then(onDone),
          overwriteLabel: "Apply my change to their version",
        }),
    ).then(onDone);
  });
  return select;
}

export function progress(p: TaskProgress | null | undefined, label = "tasks"): HTMLElement | null {
  if (!p || p.total === 0) return null;
  const pct = Math.round((p.done / p.total) * 100);
  return h(
    "div",
    { class: "progress", title: `${p.done} of ${p.total} ${label} done` },
    h("div", { class: "bar" }, h("div", { class: "fill", style: `width:${pct}%` })),
    h("span", { class: "muted" }, `${p.done}/${p.total}`),
  );
}

function board(ctx: Ctx, target: Target, model: ProjectModel, reload: () => void): HTMLElement {
  const columns = STATUSES.map((status) => {
    const specs = model.specs.filter((s) => s.status === status);
    return h(
      "section",
      { class: `column status-${status}`, "data-status": status },
      h("h2", {}, status, h("span", { class: "count" }, String(specs.length))),
      specs.map((spec) =>
        h(
          "article",
          { class: "card", "data-spec": spec.name },
          h("a", { class: "card-title", href: projectHref(target, "spec", spec.name) }, spec.title ?? spec.name),
          h("div", { class: "muted small" }, spec.name),
          h(
            "div",
            { class: "card-meta" },
            spec.priority ? h("span", { class: `pill prio-${spec.priority}` }, spec.priority) : null,
            spec.tags.map((t) => h("span", { class: "pill tag" }, t)),
          ),
          progress(spec.checklist, "checklist items"),
          statusSelect(ctx, target, spec, reload),
        ),
      ),
    );
  });
  const unknown = model.specs.filter((s) => !s.status);
  return h(
    "div",
    {},
    h("div", { class: "board" }, columns),
    unknown.length ? h("p", { class: "muted" }, `${unknown.length} spec(s) without a known status: `, unknown.map((s) => s.name).join(", ")) : null,
  );
}

/** A spec-workflow spec's status, in the words of spec-workflow's own `spec-status` tool. */
export function workflowStatus(status: WorkflowStatus): HTMLElement {
  return h("span", { class: `pill wf-status-${status}`, "data-wf-status": status }, status);
}

function workflowOverview(target: Target, model: ProjectModel): HTMLElement {
  const wf = model.workflow;
  if (!wf) return h("p", {}, "No spec-workflow data.");
  const pending = wf.approvals.filter((a) => a.approval.status === "pending").length;
  return h(
    "div",
    { class: "workflow" },
    h("h2", {}, "Specs"),
    h(
      "ul",
      { class: "spec-list" },
      wf.specs.map((s) =>
        h(
          "li",
          { "data-wf-spec": s.name },
          h("a", { href: projectHref(target, "wf", s.name) }, s.displayName),
          " ",
          workflowStatus(s.status),
          progress(s.taskProgress),
        ),
      ),
      wf.specs.length === 0 ? h("li", { class: "muted" }, "no specs yet") : null,
    ),
    h("h2", {}, "Approvals"),
    h(
      "p",
      {},
      h("a", { href: projectHref(target, "approvals") }, `${pending} pending of ${wf.approvals.length}`),
      wf.legacyApprovals.length ? h("span", { class: "muted small" }, ` · ${wf.legacyApprovals.length} in the old folder layout (read-only)`) : null,
    ),
    h("h2", {}, "Steering documents"),
    h(
      "ul",
      {},
      wf.steering.map((d) =>
        h("li", {}, d.exists ? h("a", { href: projectHref(target, "doc", d.path) }, d.name) : h("span", { class: "muted" }, `${d.name} (missing)`)),
      ),
    ),
    wf.archivedSpecs.length ? h("p", { class: "muted" }, `${wf.archivedSpecs.length} archived spec(s)`) : null,
  );
}

export async function renderProject(ctx: Ctx, target: Target): Promise<View> {
  const el = h("div", { class: "project" });
  const load = async () => {
    const model = await api.model(target.machine, target.project);
    const machine = ctx.live.machine(target.machine) ?? model.machine;
    fill(el, 
      h(
        "div",
        { class: "crumbs" },
        h("a", { href: "#/" }, "Machines"),
        " / ",
        machine.name,
        " ",
        statusBadge({ ...machine, projects: [] }),
      ),
      h("h1", {}, model.project.name, h("span", { class: "muted small" }, ` ${model.project.layout}`)),
      offlineNote(ctx, target),
      model.workflow ? workflowOverview(target, model) : board(ctx, target, model, () => void load()),
      model.problems.length ? h("details", {}, h("summary", {}, `${model.problems.length} file(s) could not be read`), h("ul", {}, model.problems.map((p) => h("li", {}, p)))) : null,
    );
  };
  await load();
  return { el, update: (event) => (touches(event, target, ctx) ? void load() : undefined) };
}
