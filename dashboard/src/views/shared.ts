// What views share: the context, the offline note, write handling and the conflict dialog.

import { ApiFailure, type ErrorBody, type MachineView, type WriteAnswer } from "../api";
import { ago, h, toast } from "../dom";
import type { Live, LiveEvent } from "../live";

export interface Ctx {
  live: Live;
  rerender: () => void;
}

/** A rendered page; `update` sees every live event while it is shown. */
export interface View {
  el: HTMLElement;
  update?: (event: LiveEvent) => void;
  dispose?: () => void;
}

export interface Target {
  machine: string;
  project: string;
}

/** Machines whose user chose to queue edits while they are offline. */
const queueing = new Set<string>();

export function machineOf(ctx: Ctx, target: Target): MachineView | undefined {
  return ctx.live.machine(target.machine);
}

/** Whether edits may be made now: the machine is online, or the user opted into the queue. */
export function canEdit(ctx: Ctx, target: Target): boolean {
  const m = machineOf(ctx, target);
  return !!m && (m.online || queueing.has(m.id));
}

export function wantsQueue(ctx: Ctx, target: Target): boolean {
  const m = machineOf(ctx, target);
  return !!m && !m.online && queueing.has(m.id);
}

export function projectHref(t: Target, ...rest: string[]): string {
  return `#/m/${encodeURIComponent(t.machine)}/p/${encodeURIComponent(t.project)}${rest.map((r) => "/" + encodeURIComponent(r)).join("")}`;
}

export function statusBadge(m: MachineView): HTMLElement {
  return m.online
    ? h("span", { class: "badge badge-online" }, "online")
    : h("span", { class: "badge badge-offline", title: `last seen ${new Date(m.last_seen_ms).toLocaleString()}` }, "offline");
}

/** The note shown on every page of an offline machine, with the queue opt-in. */
export function offlineNote(ctx: Ctx, target: Target): HTMLElement | null {
  const m = machineOf(ctx, target);
  if (!m || m.online) return null;
  const box = h("input", { type: "checkbox", id: "queue-opt-in", checked: queueing.has(m.id) });
  box.addEventListener("change", () => {
    if (box.checked) queueing.add(m.id);
    else queueing.delete(m.id);
    ctx.rerender();
  });
  return h(
    "div",
    { class: "offline-note", role: "note", "data-testid": "offline-note" },
    h("strong", {}, `${m.name} is offline`),
    ` (last seen ${ago(m.last_seen_ms)}). You are looking at its last-known files, read-only: edits need the machine to apply them.`,
    h("label", { class: "queue-opt" }, box, " Queue my edits and apply them when it reconnects"),
  );
}

/** The question LeanSpec's status guard asks, for an `open_items` or `skips_planned` refusal. */
export function guardQuestion(body: ErrorBody): string | null {
  if (body.code === "open_items") {
    const n = body.details?.open_items ?? 0;
    return `${n} ${n === 1 ? "item is" : "items are"} unchecked — complete anyway?`;
  }
  if (body.code === "skips_planned") return `Move straight from draft to ${body.details?.to ?? "this status"}?`;
  return null;
}

/**
 * Reports a write's answer; a conflict goes to `onConflict`. A refusal by LeanSpec's status
 * guard asks the user and, if they agree, runs `forced` (the same write with `force`).
 * Returns the answer, or null when nothing happened.
 */
export async function runWrite(
  ctx: Ctx,
  target: Target,
  write: () => Promise<WriteAnswer>,
  onConflict?: (current: string, currentHash: string | null) => void,
  forced?: () => Promise<WriteAnswer>,
): Promise<WriteAnswer | null> {
  const name = machineOf(ctx, target)?.name ?? target.machine;
  try {
    const answer = await write();
    if (answer.state === "queued") toast(`Queued: applies when ${name} reconnects`, "info");
    else toast(`Saved on ${name}`, "ok");
    return answer;
  } catch (err) {
    if (err instanceof ApiFailure && err.body.code === "conflict" && onConflict) {
      const content = err.body.details?.current_content;
      const text = content ? (content.encoding === "utf8" ? content.data : atob(content.data)) : "";
      onConflict(text, err.body.details?.current_hash ?? null);
      return null;
    }
    const question = err instanceof ApiFailure ? guardQuestion(err.body) : null;
    if (question && forced) {
      const yes = await askDialog({ title: question, message: err instanceof ApiFailure ? err.body.message : "", confirmLabel: "Yes, go ahead" });
      return yes === null ? null : runWrite(ctx, target, forced, onConflict);
    }
    const hint = err instanceof ApiFailure && err.body.hint ? ` ${err.body.hint}` : "";
    toast(`Not saved: ${(err as Error).message}.${hint}`, "error");
    return null;
  }
}

/** For each line of `a` and `b`, whether it is absent from the other side (a line LCS). */
export function changedLines(a: string[], b: string[]): [boolean[], boolean[]] {
  const n = a.length;
  const m = b.length;
  if (n * m > 4_000_000) return [a.map((l, i) => l !== b[i]), b.map((l, i) => l !== a[i])];
  const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const ca = a.map(() => true);
  const cb = b.map(() => true);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ca[i++] = false;
      cb[j++] = false;
    } else if (dp[i + 1][j] >= dp[i][j + 1]) i++;
    else j++;
  }
  return [ca, cb];
}

function versionPre(cls: string, lines: string[], changed: boolean[]): HTMLElement {
  return h(
    "pre",
    { class: cls },
    lines.map((line, i) => h("span", { class: changed[i] ? "line changed" : "line" }, line === "" ? " " : line)),
  );
}

/** Both versions side by side; the user reloads theirs or knowingly overwrites with theirs as base. */
export function conflictDialog(opts: {
  what: string;
  mine: string;
  mineLabel?: string;
  theirs: string;
  onReload: () => void;
  onOverwrite: () => void;
  overwriteLabel?: string;
}): void {
  const mine = opts.mine.split("\n");
  const theirs = opts.theirs.split("\n");
  const [changedMine, changedTheirs] = changedLines(mine, theirs);
  const dialog = h(
    "dialog",
    { class: "conflict", "data-testid": "conflict-dialog", "aria-labelledby": "conflict-title" },
    h("h2", { id: "conflict-title" }, "This file changed on the machine"),
    h(
      "p",
      {},
      `${opts.what} was edited on the machine after you loaded it. Nothing was overwritten. Changed lines are highlighted. Take their version (your edit is dropped) or overwrite it knowingly.`,
    ),
    h(
      "div",
      { class: "versions" },
      h("section", {}, h("h3", {}, opts.mineLabel ?? "Your version"), versionPre("mine", mine, changedMine)),
      h("section", {}, h("h3", {}, "Version on the machine"), versionPre("theirs", theirs, changedTheirs)),
    ),
  );
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  dialog.append(
    h(
      "div",
      { class: "actions" },
      h("button", { class: "secondary", onclick: close }, "Cancel"),
      h("button", { onclick: () => (close(), opts.onReload()) }, "Reload their version"),
      h("button", { class: "danger", onclick: () => (close(), opts.onOverwrite()) }, opts.overwriteLabel ?? "Overwrite with mine"),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
  // Bring the first difference into view on both sides.
  for (const pre of dialog.querySelectorAll<HTMLElement>(".versions pre")) {
    const first = pre.querySelector<HTMLElement>(".changed");
    if (first) pre.scrollTop = Math.max(0, first.offsetTop - 40); // the pre is the offset parent
  }
}

/** Whether an event says files of this project changed (optionally one of `paths`). */
export function touches(event: LiveEvent, target: Target, ctx: Ctx, paths?: string[]): boolean {
  const m = machineOf(ctx, target);
  if (!m) return false;
  if (event.type === "machine") return event.machine.id === m.id;
  if (event.type !== "file_changed" || event.machine !== m.id || event.project !== target.project) return false;
  return !paths || event.paths.some((p) => paths.includes(p));
}

/**
 * A small modal question. With `input`, it also asks for a line of text (optional). Resolves to
 * the text ("" without input) when confirmed, or null when cancelled.
 */
export function askDialog(opts: {
  title: string;
  message?: string;
  input?: { label: string; placeholder?: string };
  confirmLabel: string;
}): Promise<string | null> {
  return new Promise((resolve) => {
    const field = opts.input ? h("input", { type: "text", "aria-label": opts.input.label, placeholder: opts.input.placeholder ?? "" }) : null;
    const dialog = h(
      "dialog",
      { class: "ask", "data-testid": "ask-dialog", "aria-labelledby": "ask-title" },
      h("h2", { id: "ask-title" }, opts.title),
      opts.message ? h("p", { class: "muted small" }, opts.message) : null,
      field ? h("label", {}, opts.input?.label ?? "", " ", field) : null,
    );
    const finish = (value: string | null) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.append(
      h(
        "div",
        { class: "actions" },
        h("button", { class: "secondary", onclick: () => finish(null) }, "Cancel"),
        h("button", { "data-testid": "ask-confirm", onclick: () => finish(field ? field.value.trim() : "") }, opts.confirmLabel),
      ),
    );
    // Escape closes the dialog: that is a cancel.
    dialog.addEventListener("cancel", () => finish(null));
    document.body.append(dialog);
    dialog.showModal();
    field?.focus();
  });
}
