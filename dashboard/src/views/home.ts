// Machines and their projects.

import { ago, fill, h } from "../dom";
import { jobsHref } from "./jobs";
import type { Ctx, View } from "./shared";
import { projectHref, statusBadge } from "./shared";

export function renderHome(ctx: Ctx): View {
  const el = h("div", { class: "home" });
  const draw = () => {
    const machines = ctx.live.machines;
    fill(el, 
      h("h1", {}, "Machines"),
      machines.length === 0
        ? h(
            "p",
            { class: "muted" },
            ctx.live.state === "live"
              ? "No machine has connected yet. On a machine with spec folders run `specbridge login` and `specbridge run`."
              : "Connecting to the hub…",
          )
        : null,
      h(
        "div",
        { class: "machines" },
        machines.map((m) =>
          h(
            "section",
            { class: `machine ${m.online ? "is-online" : "is-offline"}`, "data-machine": m.id },
            h("div", { class: "machine-head" }, h("h2", {}, m.name), statusBadge(m)),
            h(
              "p",
              { class: "muted" },
              m.online ? "connected now" : `last seen ${ago(m.last_seen_ms)}`,
              ` · ${m.os}/${m.arch} · bridge ${m.version} · `,
              h("a", { href: jobsHref(m.id), "data-testid": "jobs-link" }, "Jobs"),
            ),
            h(
              "ul",
              { class: "projects" },
              m.projects.map((p) =>
                h(
                  "li",
                  {},
                  h("a", { href: projectHref({ machine: m.id, project: p.id }) }, p.name),
                  h("span", { class: "muted" }, ` ${p.layout} · ${p.files} files${p.read_only ? " · read-only" : ""}`),
                ),
              ),
              m.projects.length === 0 ? h("li", { class: "muted" }, "no shared projects") : null,
            ),
          ),
        ),
      ),
    );
  };
  draw();
  // Refresh "last seen" text once a minute.
  const timer = window.setInterval(draw, 60000);
  return {
    el,
    update: (event) => {
      if (event.type === "state" || event.type === "machine" || event.type === "link") draw();
    },
    dispose: () => clearInterval(timer),
  };
}
