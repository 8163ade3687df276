// The tray app's window: a five-step onboarding wizard (hub -> pair -> name ->
// folders -> start at login), then settings with recent activity. State comes
// from the app as a Snapshot (on every change), never from local guesses.
import { api, isAppError, type AppError, type Snapshot, type Layout, type TrayState } from "./api";
// The tray's own icons (icons/tray), so the window and the tray never disagree.
import synced from "../../icons/tray/synced.png";
import syncing from "../../icons/tray/syncing.png";
import offline from "../../icons/tray/offline.png";
import attention from "../../icons/tray/attention.png";
import paused from "../../icons/tray/paused.png";
import signedOut from "../../icons/tray/signed-out.png";

const ICONS: Record<TrayState, string> = {
  synced, syncing, offline, attention, paused, "signed-out": signedOut,
};

type Step = "hub" | "pair" | "name" | "folders" | "login" | "done";
const STEPS: Step[] = ["hub", "pair", "name", "folders", "login"];

const root = document.getElementById("app") as HTMLElement;
let snap: Snapshot | null = null;
let step: Step = "hub";
let error: AppError | null = null;
let notice = "";
let autostart = false;
// The last manual check found nothing newer (shown in the Version card, not as
// a notice on top, which would push the card's button away under the pointer).
let upToDate = false;

const LAYOUT_NAMES: Record<Layout, string> = {
  leanspec: "LeanSpec",
  "spec-workflow": "spec-workflow",
  "spec-context": "spec-context",
  generic: "Markdown folder",
};

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function act(f: () => Promise<unknown>): Promise<boolean> {
  error = null;
  notice = "";
  try {
    const out = await f();
    if (out && typeof out === "object" && "status_line" in out) snap = out as Snapshot;
    render();
    return true;
  } catch (e) {
    error = isAppError(e) ? e : { code: "internal", message: String(e) };
    render();
    return false;
  }
}

function errorBox(): string {
  if (!error) return "";
  const hint = error.hint ? `<p class="hint">${esc(error.hint)}</p>` : "";
  return `<div class="error" role="alert" data-code="${esc(error.code)}"><strong>${esc(error.message)}</strong>${hint}</div>`;
}

function stateBadge(s: Snapshot): string {
  return `<p class="status state-${s.state}" id="status-line" data-state="${s.state}">
    <img src="${ICONS[s.state]}" alt="" width="20" height="20"> ${esc(s.status_line)}</p>`;
}

function projectRows(s: Snapshot, editable: boolean): string {
  if (s.projects.length === 0) return `<p class="muted">No folders yet.</p>`;
  return `<ul class="projects">${s.projects
    .map(
      (p) => `<li data-project="${esc(p.id)}">
      <div><strong>${esc(p.name)}</strong> <span class="tag">${LAYOUT_NAMES[p.layout]}</span>
      <span class="files" data-files="${p.files}">${p.files === 1 ? "1 file" : `${p.files} files`}</span>${p.paused ? ' <span class="tag">paused</span>' : ""}
      <div class="muted path">${esc(p.path)}</div></div>
      ${
        editable
          ? `<div class="row">
        <label class="switch"><input type="checkbox" data-readonly="${esc(p.id)}" ${p.read_only ? "checked" : ""}> Read-only</label>
        <button data-pause="${esc(p.id)}" data-paused="${p.paused}">${p.paused ? "Resume" : "Pause"}</button>
        <button data-open="${esc(p.id)}">Open</button>
        <button class="danger" data-remove="${esc(p.id)}">Remove</button></div>`
          : ""
      }</li>`,
    )
    .join("")}</ul>`;
}

function folderPicker(): string {
  return `<div class="row">
    <button id="pick">Choose folder…</button>
    <input id="folder-path" placeholder="or type a path, e.g. ~/code/app" aria-label="Folder path">
    <label class="switch"><input type="checkbox" id="folder-ro"> Read-only</label>
    <button id="add-folder">Add</button></div>`;
}

function wizard(s: Snapshot): string {
  const dots = STEPS.map((x) => `<li class="${x === step ? "on" : ""}">${x}</li>`).join("");
  let body = "";
  if (step === "hub") {
    body = `<h2>Where is your hub?</h2>
      <p>The hub keeps the last-known state of your spec folders and serves the dashboard.</p>
      <button class="primary" id="use-local">Use this computer as the hub</button>
      <p class="muted">Runs the hub inside this app. No account anywhere; the dashboard opens on localhost.</p>
      <hr><label>Hub address<input id="hub-url" placeholder="https://hub.example.com" value="${esc(s.pairing?.hub_url ?? "")}"></label>
      <button id="pair-remote">Pair with this hub</button>`;
  } else if (step === "pair") {
    const p = s.pairing;
    if (s.signed_in) {
      body = `<h2>Paired</h2><p id="paired">This computer is paired with ${esc(s.hub?.label ?? "the hub")}.</p>
        <button class="primary" id="next">Next</button>`;
    } else if (p) {
      const st = p.state.state === "failed" ? `Failed: ${esc(p.state.message)}` : p.state.state;
      body = `<h2>Confirm this code on the hub</h2>
        <p class="code" id="user-code">${esc(p.user_code)}</p>
        <p>Open <a href="#" id="verify" data-url="${esc(p.verification_url)}">${esc(p.verification_url)}</a>, sign in and enter the code.</p>
        <p class="muted">Status: ${st}</p><button id="pair-cancel">Cancel</button>
        <details><summary>Paste a token instead</summary>
        <input id="paste-token" type="password" placeholder="sbt_…" aria-label="Machine token">
        <button id="paste-go">Use this token</button></details>`;
    } else {
      step = "hub";
      return wizard(s);
    }
  } else if (step === "name") {
    body = `<h2>Name this computer</h2><p>This is how it shows on the dashboard.</p>
      <input id="machine-name" value="${esc(s.machine.name || s.machine.suggested_name)}" aria-label="Machine name">
      <button class="primary" id="save-name">Next</button>`;
  } else if (step === "folders") {
    body = `<h2>Choose spec folders</h2>
      <p>LeanSpec, spec-workflow and spec-context folders are detected; any markdown folder works.</p>
      ${folderPicker()}${projectRows(s, false)}
      <button class="primary" id="next" ${s.projects.length ? "" : "disabled"}>Next</button>`;
  } else if (step === "login") {
    body = `<h2>Start at login?</h2>
      <label class="switch"><input type="checkbox" id="autostart" ${autostart ? "checked" : ""}> Start specbridge when I log in</label>
      <button class="primary" id="finish">Finish</button>`;
  }
  return `<header><h1>Set up specbridge</h1>${stateBadge(s)}</header>
    <ol class="steps">${dots}</ol>${errorBox()}<section class="card" data-step="${step}">${body}</section>`;
}

function settings(s: Snapshot): string {
  const hub = s.hub
    ? `<p>Hub: <strong>${esc(s.hub.url)}</strong>${s.hub.embedded ? " (this computer)" : ""}</p>
       <div class="row"><button id="dashboard">Open dashboard</button><button class="danger" id="unpair">Unpair</button></div>`
    : `<p>Not paired.</p><button id="setup">Set up a hub</button>`;
  const activity = s.activity.length
    ? `<ul class="activity">${s.activity
        .map((a) => `<li class="k-${a.kind}"><time>${new Date(a.at_ms).toLocaleTimeString()}</time> ${esc(a.text)}</li>`)
        .join("")}</ul>`
    : `<p class="muted">Nothing yet.</p>`;
  return `<header><h1>specbridge</h1>${stateBadge(s)}
      <div class="row">${s.state === "offline" ? '<button id="retry">Retry now</button>' : ""}
      <button id="pause-all">${s.paused_all ? "Resume all" : "Pause all"}</button></div></header>
    ${errorBox()}${notice ? `<p class="notice">${esc(notice)}</p>` : ""}
    <section class="card"><h2>Hub</h2>${hub}
      <p class="muted">Token kept in: ${s.vault === "keychain" ? "the OS keychain" : s.vault === "file" ? "a file only you can read" : "SPECBRIDGE_TOKEN"}
      ${error?.code === "keychain_unavailable" ? '<button id="use-file-vault">Keep the token in a file only you can read</button>' : ""}</p></section>
    <section class="card"><h2>This computer</h2><div class="row">
      <input id="machine-name" value="${esc(s.machine.name)}" aria-label="Machine name"><button id="save-name">Rename</button></div></section>
    <section class="card"><h2>Folders</h2>${projectRows(s, true)}${folderPicker()}</section>
    <section class="card"><h2>Start at login</h2><label class="switch"><input type="checkbox" id="autostart" ${autostart ? "checked" : ""}> Start specbridge when I log in</label></section>
    <section class="card" id="version"><h2>Version</h2><p>specbridge ${esc(s.version)}${s.update
      ? ` · <strong>${esc(s.update)} is available</strong>`
      : upToDate ? ' · <span class="notice" id="update-note">up to date</span>' : ""}</p>
      <div class="row">${s.update
        ? '<button id="install-update">Install and restart</button>'
        : `<button id="check-update" ${s.hub ? "" : "disabled"}>Check for updates</button>`}</div></section>
    <section class="card"><h2>Recent activity</h2>${activity}</section>`;
}

function render(): void {
  if (!snap) return;
  // Snapshots arrive at any time: keep what the user typed across a repaint.
  const typed = new Map<string, string>();
  root.querySelectorAll<HTMLInputElement>("input[id][data-dirty]").forEach((i) => typed.set(i.id, i.value));
  root.innerHTML = step === "done" ? settings(snap) : wizard(snap);
  typed.forEach((value, id) => {
    const input = document.getElementById(id) as HTMLInputElement | null;
    if (input) {
      input.value = value;
      input.dataset.dirty = "1";
    }
  });
  root.dataset.view = step === "done" ? "settings" : "onboarding";
  wire();
}

function on(id: string, f: () => void): void {
  document.getElementById(id)?.addEventListener("click", f);
}
function val(id: string): string {
  return (document.getElementById(id) as HTMLInputElement | null)?.value ?? "";
}

async function addFolder(): Promise<void> {
  const typed = val("folder-path").trim();
  const readOnly = (document.getElementById("folder-ro") as HTMLInputElement).checked;
  if (!typed) return;
  const added = await act(async () => {
    const info = await api.inspectFolder(typed);
    return api.addProject(info.path, readOnly);
  });
  const input = document.getElementById("folder-path") as HTMLInputElement | null;
  if (added && input) {
    input.value = "";
    delete input.dataset.dirty;
  }
}

function wire(): void {
  root.querySelectorAll<HTMLInputElement>("input[id]").forEach((i) =>
    i.addEventListener("input", () => (i.dataset.dirty = "1")));
  on("use-local", () => act(async () => {
    const s = await api.useThisComputer();
    step = "name";
    return s;
  }));
  on("pair-remote", () => act(async () => {
    const s = await api.pairStart(val("hub-url"));
    step = "pair";
    return s;
  }));
  on("pair-cancel", () => act(async () => { step = "hub"; return api.pairCancel(); }));
  on("paste-go", () => act(async () => {
    const s = await api.pairWithToken(snap?.pairing?.hub_url ?? val("hub-url"), val("paste-token"));
    step = "name";
    return s;
  }));
  on("verify", () => {
    const url = document.getElementById("verify")?.dataset.url;
    if (url) window.open(url, "_blank");
  });
  on("next", () => {
    step = STEPS[STEPS.indexOf(step) + 1] ?? "done";
    render();
  });
  on("save-name", () => act(async () => {
    const s = await api.renameMachine(val("machine-name"));
    if (step === "name") step = "folders";
    else notice = "Renamed.";
    return s;
  }));
  on("pick", () => act(async () => {
    const info = await api.pickFolder();
    if (info) {
      (document.getElementById("folder-path") as HTMLInputElement).value = info.path;
      notice = `${LAYOUT_NAMES[info.layout]} folder`;
    }
    return null;
  }));
  on("add-folder", () => void addFolder());
  on("finish", () => act(async () => {
    const wanted = (document.getElementById("autostart") as HTMLInputElement).checked;
    if (wanted !== autostart) autostart = await api.setAutostart(wanted).catch(() => autostart);
    const s = await api.finishOnboarding();
    step = "done";
    if (s.hub?.embedded) api.openDashboard().catch(() => undefined);
    return s;
  }));
  on("retry", () => act(() => api.retryNow()));
  on("check-update", () => act(async () => {
    upToDate = (await api.checkUpdate()) === null;
    return api.snapshot();
  }));
  // Waits for edits and jobs from the hub to finish, then restarts into the new version.
  on("install-update", () => act(() => api.installUpdate()));
  on("pause-all", () => act(() => api.setPausedAll(!snap?.paused_all)));
  on("dashboard", () => act(() => api.openDashboard()));
  on("setup", () => { step = "hub"; render(); });
  on("use-file-vault", () => act(() => api.setVault("file")));
  on("unpair", () => act(async () => {
    const r = await api.unpair();
    notice = r.warning ?? "Unpaired: the token was revoked and deleted.";
    return r.snapshot;
  }));
  document.getElementById("autostart")?.addEventListener("change", (e) => {
    if (step !== "done") return;
    act(async () => { autostart = await api.setAutostart((e.target as HTMLInputElement).checked); return null; });
  });
  document.querySelectorAll<HTMLInputElement>("[data-readonly]").forEach((box) =>
    box.addEventListener("change", () => act(() => api.setReadOnly(box.dataset.readonly!, box.checked))));
  document.querySelectorAll<HTMLButtonElement>("[data-pause]").forEach((b) =>
    b.addEventListener("click", () => act(() => api.setProjectPaused(b.dataset.pause!, b.dataset.paused !== "true"))));
  document.querySelectorAll<HTMLButtonElement>("[data-open]").forEach((b) =>
    b.addEventListener("click", () => act(() => api.openFolder(b.dataset.open!))));
  document.querySelectorAll<HTMLButtonElement>("[data-remove]").forEach((b) =>
    b.addEventListener("click", () => act(() => api.removeProject(b.dataset.remove!))));
}

async function boot(): Promise<void> {
  snap = await api.snapshot();
  step = snap.onboarded ? "done" : snap.signed_in ? "name" : snap.pairing ? "pair" : "hub";
  autostart = await api.getAutostart().catch(() => false);
  if (snap.onboarded && snap.unseen_conflicts) api.markActivitySeen().catch(() => undefined);
  await api.onSnapshot((s) => {
    snap = s;
    // Repainting under the cursor would move the caret; wait until no text field has focus.
    const typing = document.activeElement instanceof HTMLInputElement && document.activeElement.type !== "checkbox";
    if (!typing || (step === "pair" && s.signed_in)) render();
  });
  render();
}

// The consent window (src-tauri/src/consent.rs) is this page with `#consent`.
const start = location.hash === "#consent" ? import("./consent").then((m) => m.startConsent()) : boot();
start.catch((e) => {
  root.textContent = `specbridge could not load: ${isAppError(e) ? e.message : String(e)}`;
});
