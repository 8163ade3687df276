// A LeanSpec spec (rendered, with status and priority controls), any document
// rendered, and the document editor with its conflict dialog.

import { api, type FileContent } from "../api";
import { fill, h, toast } from "../dom";
import { renderMarkdown, splitFrontmatter } from "../markdown";
import { specJobs } from "./jobs";
import { prioritySelect, statusSelect } from "./project";
import {
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

function crumbs(ctx: Ctx, target: Target, ...rest: (HTMLElement | string)[]): HTMLElement {
  const m = machineOf(ctx, target);
  return h(
    "div",
    { class: "crumbs" },
    h("a", { href: "#/" }, "Machines"),
    " / ",
    h("a", { href: projectHref(target) }, `${m?.name ?? target.machine}: ${target.project}`),
    rest.flatMap((r) => [" / ", r]),
  );
}

function frontmatterTable(frontmatter: string): HTMLElement {
  return h("pre", { class: "frontmatter", "aria-label": "Frontmatter" }, frontmatter);
}

export async function renderSpec(ctx: Ctx, target: Target, name: string): Promise<View> {
  const el = h("div", { class: "spec" });
  let paths: string[] = [];
  const load = async () => {
    const model = await api.model(target.machine, target.project);
    const spec = model.specs.find((s) => s.name === name);
    if (!spec) {
      fill(el, crumbs(ctx, target, name), h("p", {}, "This spec is no longer on the machine."));
      return;
    }
    const file = await api.content(target.machine, target.project, spec.path);
    const others = model.files.filter((f) => f.path.startsWith(`specs/${name}/`) && f.path !== spec.path);
    paths = [spec.path, ...others.map((f) => f.path)];
    const { frontmatter, body: full } = splitFrontmatter(file.content);
    // The title is the page's heading already: do not show it twice.
    const body = spec.title ? full.replace(/^\s*# .*\r?\n/, "") : full;
    const editable = canEdit(ctx, target);
    fill(el, 
      crumbs(ctx, target, name),
      offlineNote(ctx, target),
      h(
        "div",
        { class: "spec-head" },
        h("h1", {}, spec.title ?? name),
        h(
          "div",
          { class: "controls" },
          h("label", {}, "Status ", statusSelect(ctx, target, spec, () => void load())),
          h("label", {}, "Priority ", prioritySelect(ctx, target, spec, () => void load())),
          editable
            ? h("a", { class: "button", href: projectHref(target, "edit", spec.path), "data-testid": "edit-spec" }, "Edit")
            : h("button", { disabled: true, title: "The machine is offline", "data-testid": "edit-spec" }, "Edit"),
        ),
      ),
      specJobs(ctx, target.machine, target.project, name),
      frontmatter ? frontmatterTable(frontmatter) : null,
      h("article", { "data-testid": "spec-body" }, renderMarkdown(body)),
      others.length
        ? h(
            "div",
            { class: "other-docs" },
            h("h2", {}, "Other documents"),
            h("ul", {}, others.map((f) => h("li", {}, h("a", { href: projectHref(target, "doc", f.path) }, f.path.split("/").pop() ?? f.path)))),
          )
        : null,
    );
  };
  await load();
  return { el, update: (event) => (touches(event, target, ctx, event.type === "file_changed" ? paths : undefined) ? void load() : undefined) };
}

export async function renderDocument(ctx: Ctx, target: Target, path: string): Promise<View> {
  const el = h("div", { class: "document" });
  const load = async () => {
    const file = await api.content(target.machine, target.project, path);
    const { frontmatter, body } = splitFrontmatter(file.content);
    fill(el, 
      crumbs(ctx, target, path),
      offlineNote(ctx, target),
      h(
        "div",
        { class: "spec-head" },
        h("h1", {}, path.split("/").pop() ?? path),
        canEdit(ctx, target)
          ? h("a", { class: "button", href: projectHref(target, "edit", path) }, "Edit")
          : h("button", { disabled: true, title: "The machine is offline" }, "Edit"),
      ),
      frontmatter ? frontmatterTable(frontmatter) : null,
      renderMarkdown(body),
    );
  };
  await load();
  return { el, update: (event) => (touches(event, target, ctx, event.type === "file_changed" ? [path] : undefined) ? void load() : undefined) };
}

export async function renderEditor(ctx: Ctx, target: Target, path: string): Promise<View> {
  const el = h("div", { class: "editor" });
  let file: FileContent = await api.content(target.machine, target.project, path);
  let baseHash = file.hash;
  const area = h("textarea", { id: "editor", spellcheck: false, "aria-label": `Contents of ${path}` });
  area.value = file.content;
  const notice = h("div", { class: "notice", role: "status", "data-testid": "editor-notice" });
  const save = h("button", { "data-testid": "save" }, "Save");
  const dirty = () => area.value !== file.content;
  const back = () => history.back();

  const setLoaded = (content: string, hash: string) => {
    file = { ...file, content, hash };
    baseHash = hash;
    area.value = content;
    notice.textContent = "";
  };

  const doSave = async (base: string) => {
    save.disabled = true;
    const mine = area.value;
    const answer = await runWrite(
      ctx,
      target,
      () => api.writeDocument(target.machine, target.project, path, mine, base, wantsQueue(ctx, target)),
      (theirs, theirHash) =>
        conflictDialog({
          what: path,
          mine,
          theirs,
          onReload: () => setLoaded(theirs, theirHash ?? baseHash),
          onOverwrite: () => void doSave(theirHash ?? base),
        }),
    );
    save.disabled = !canEdit(ctx, target);
    if (answer) {
      file = { ...file, content: mine };
      if (answer.state === "applied" && answer.result?.hash) baseHash = answer.result.hash;
      notice.textContent = "";
    }
  };
  save.addEventListener("click", () => void doSave(baseHash));

  const draw = () => {
    const editable = canEdit(ctx, target);
    area.readOnly = !editable;
    save.disabled = !editable;
    fill(el, 
      crumbs(ctx, target, h("a", { href: projectHref(target, "doc", path) }, path), "edit"),
      offlineNote(ctx, target),
      h("h1", {}, `Edit ${path.split("/").pop()}`),
      h("p", { class: "muted small" }, "Frontmatter and document. Saving sends your version with the version you started from; if the file changed on the machine meanwhile, you choose what happens."),
      notice,
      area,
      h("div", { class: "actions" }, h("button", { class: "secondary", onclick: back }, "Back"), save),
    );
  };
  draw();

  return {
    el,
    update: (event) => {
      if (event.type === "machine" || event.type === "state") {
        if (touches(event, target, ctx) || event.type === "state") draw();
        return;
      }
      if (!touches(event, target, ctx, [path])) return;
      void api.content(target.machine, target.project, path).then((fresh) => {
        if (fresh.hash === baseHash) return;
        if (!dirty()) {
          setLoaded(fresh.content, fresh.hash);
          toast("Updated from the machine", "info");
        } else {
          notice.textContent = "This file changed on the machine since you opened it. Saving will show both versions.";
        }
      });
    },
  };
}
