// Login, the offline queue, and the pairing placeholder.

import { api, ApiFailure } from "../api";
import { ago, fill, h, toast } from "../dom";
import type { Ctx, View } from "./shared";

export function renderLogin(onDone: () => void): HTMLElement {
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "current-password",
    placeholder: "sbt_…",
    required: true,
  });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "login" },
    h("h1", {}, "Sign in to the hub"),
    h(
      "p",
      { class: "muted" },
      "Paste a user token. Create one on the hub with ",
      h("code", {}, "specbridge-hub token create --kind user --name me"),
      " (./scripts/demo.sh prints one).",
    ),
    h("label", { for: "token" }, "User token"),
    input,
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    error.textContent = "";
    api
      .login(input.value)
      .then(() => onDone())
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiFailure ? `${err.body.message}. ${err.body.hint ?? ""}` : String(err);
      });
  });
  return form;
}

export function renderQueue(ctx: Ctx): View {
  const el = h("div", { class: "queue" });
  const draw = () => {
    const items = ctx.live.queue;
    fill(el, 
      h("h1", {}, "Queued edits"),
      h(
        "p",
        { class: "muted" },
        "Edits made for offline machines wait here and are applied in order when the machine reconnects. An edit whose file changed on the machine meanwhile is not applied: it comes back as a conflict.",
      ),
      items.length === 0 ? h("p", {}, "Nothing is queued.") : null,
      h(
        "ul",
        { class: "queue-list" },
        items.map((item) =>
          h(
            "li",
            { "data-queued": item.id },
            h("div", {}, h("strong", {}, item.summary), h("div", { class: "muted" }, `${ctx.live.machine(item.machine)?.name ?? item.machine} · ${item.project} · ${item.target} · ${item.state === "sent" ? "sent, waiting for the answer" : "queued"} ${ago(item.created_ms)}`)),
            h(
              "button",
              {
                class: "secondary",
                onclick: () =>
                  api
                    .cancelQueued(item.id)
                    .then(() => toast("Cancelled", "ok"))
                    .catch((err: Error) => toast(err.message, "error")),
              },
              "Cancel",
            ),
          ),
        ),
      ),
    );
  };
  draw();
  return { el, update: (e) => (e.type === "queue" || e.type === "state" ? draw() : undefined) };
}

export function renderPairing(): View {
  return {
    el: h(
      "div",
      { class: "pairing" },
      h("h1", {}, "Pair a machine"),
      h(
        "p",
        {},
        "In the specbridge tray app, choose \u201cPair with a hub\u201d and enter this hub's address. The app shows a short code and opens this hub's pairing page, where you (signed in here) enter it:",
      ),
      h("p", {}, h("a", { href: "/pair" }, "Open the pairing page")),
      h("p", {}, "For a headless bridge (a server, CI), create a machine token on the hub and log the bridge in with it:"),
      h("pre", {}, "specbridge-hub token create --kind machine --name laptop\nspecbridge login --hub https://hub.example.com\nspecbridge projects add ~/code/app\nspecbridge run"),
    ),
  };
}
