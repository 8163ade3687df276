// The consent window: a job run the hub asked for waits here for this
// computer's owner. It shows the job, the exact argv (element by element, as
// it would run: no shell), the parameters and who asked, with a countdown,
// and answers Allow once, Always allow (the job runs unattended from now on)
// or Deny. The app closes the window when nothing is waiting any more.
import { api, isAppError, type ConsentAnswer, type ConsentRequest } from "./api";

const root = document.getElementById("app") as HTMLElement;
let pending: ConsentRequest[] = [];
let error = "";

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(): void {
  const request = pending[0];
  root.dataset.view = "consent";
  if (!request) {
    root.innerHTML = `<main class="consent" id="consent"><p>Nothing is waiting for your confirmation.</p></main>`;
    return;
  }
  const left = Math.max(0, Math.round((request.expires_ms - Date.now()) / 1000));
  const params = Object.entries(request.params);
  root.innerHTML = `
    <main class="consent" id="consent" data-request="${esc(request.id)}" data-job="${esc(request.job)}">
      <h1>Run \u201c${esc(request.name)}\u201d on this computer?</h1>
      <p class="who">Asked by <strong id="consent-who">${esc(request.requested_by ?? "the hub")}</strong>
        for project <strong>${esc(request.project)}</strong>.</p>
      <h2>Command</h2>
      <ol class="argv" id="consent-argv">${request.argv.map((a) => `<li><code>${esc(a)}</code></li>`).join("")}</ol>
      <h2>Parameters</h2>
      ${params.length
        ? `<table id="consent-params">${params.map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(v)}</code></td></tr>`).join("")}</table>`
        : `<p id="consent-params" class="muted">none</p>`}
      <p class="muted" id="consent-left">Refused by itself in ${left} s.${pending.length > 1 ? ` ${pending.length - 1} more waiting.` : ""}</p>
      ${error ? `<div class="error" role="alert">${esc(error)}</div>` : ""}
      <div class="actions">
        <button id="deny" class="danger">Deny</button>
        <button id="always-allow">Always allow</button>
        <button id="allow-once" class="primary">Allow once</button>
      </div>
    </main>`;
  const answer = (a: ConsentAnswer) => async () => {
    try {
      pending = await api.consentAnswer(request.id, a);
      error = "";
    } catch (e) {
      error = isAppError(e) ? e.message : String(e);
      pending = await api.consentPending().catch(() => []);
    }
    render();
  };
  document.getElementById("allow-once")?.addEventListener("click", answer("allow_once"));
  document.getElementById("always-allow")?.addEventListener("click", answer("always_allow"));
  document.getElementById("deny")?.addEventListener("click", answer("deny"));
}

/** Shows what waits, follows changes, and keeps the countdown current. */
export async function startConsent(): Promise<void> {
  pending = await api.consentPending();
  await api.onConsent((list) => {
    pending = list;
    render();
  });
  render();
  window.setInterval(() => {
    const left = document.getElementById("consent-left");
    if (left && pending[0]) left.textContent = left.textContent?.replace(/\d+ s/, `${Math.max(0, Math.round((pending[0].expires_ms - Date.now()) / 1000))} s`) ?? "";
  }, 1000);
}
