// A machine's jobs: the jobs pinned there, per project, with their state;
// run one with its parameters and watch its output live in a terminal;
// cancel; exit code, duration, history, statistics and the machine's audit
// lines; and the proposals waiting for the owner's approval on the machine.
// Runs and output come from /ws/dashboard (`watch_jobs`), so every page
// watching the machine sees the same run, and one opened mid-run gets the
// output so far.

import { api, ApiFailure, type JobParam, type JobView, type Proposal, type RunRecord, type RunView } from "../api";
import { ago, fill, h, toast } from "../dom";
import type { LiveEvent } from "../live";
import type { JobTerminal } from "../terminal";
import { machineOf, projectHref, statusBadge, type Ctx, type View } from "./shared";

type Key = string; // `${project}/${job}`
const key = (project: string, job: string): Key => `${project}/${job}`;

/** The hash route of a machine's jobs, optionally focused on one job. */
export function jobsHref(machine: string, project?: string, job?: string): string {
  const tail = project && job ? `/${encodeURIComponent(project)}/${encodeURIComponent(job)}` : "";
  return `#/m/${encodeURIComponent(machine)}/jobs${tail}`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function describeRun(run: RunRecord): string {
  const exit = run.exit_code === null ? "" : `, exit code ${run.exit_code}`;
  return `${run.outcome.replace("_", " ")}${exit}, ${duration(run.duration_ms)}`;
}

/** The inputs of a job's parameters; `specs` are the names a `{spec}` may take. */
function paramInputs(job: JobView, specs: string[], preset: Record<string, string>): [HTMLElement[], () => Record<string, string>] {
  const read: (() => [string, string])[] = [];
  const inputs = Object.entries(job.params).map(([name, param]: [string, JobParam]) => {
    let input: HTMLInputElement | HTMLSelectElement;
    if (param.kind === "integer") {
      input = h("input", { type: "number", min: param.min, max: param.max, step: 1, value: preset[name] ?? String(param.min) });
    } else {
      const options = param.kind === "choice" ? param.choices : specs;
      input = h("select", {}, options.map((o) => h("option", { value: o, selected: o === preset[name] }, o)));
    }
    input.setAttribute("data-param", name);
    input.setAttribute("aria-label", `${job.name}: ${name}`);
    read.push(() => [name, input.value]);
    return h("label", { class: "param" }, `${name} `, input);
  });
  return [inputs, () => Object.fromEntries(read.map((r) => r()))];
}

export async function renderJobs(ctx: Ctx, machineKey: string, focus?: { project: string; job: string }): Promise<View> {
  const el = h("div", { class: "jobs-view" });
  // Opened directly (a reload, a link), the live state may not be in yet.
  const found =
    machineOf(ctx, { machine: machineKey, project: "" }) ??
    (await api.machines()).find((x) => x.id === machineKey || x.name === machineKey);
  if (!found) return { el: h("p", {}, "No such machine.") };
  const m = found.id;
  /** The machine as the live feed last described it. */
  const current = () => ctx.live.machine(m) ?? found;
  // xterm.js is most of the bundle: only this page loads it.
  const { JobTerminal } = await import("../terminal");
  const lists = new Map<string, { jobs: JobView[]; proposals: Proposal[]; error?: string }>();
  const specs = new Map<string, string[]>();
  const runs = new Map<string, RunView>(); // by command id
  const terminals = new Map<Key, JobTerminal>();
  const cards = new Map<Key, HTMLElement>();
  const presets = new Map<Key, Record<string, string>>();

  const load = async (project: string) => {
    try {
      lists.set(project, await api.jobs(m, project));
    } catch (err) {
      lists.set(project, { jobs: [], proposals: [], error: (err as Error).message });
    }
    if (!specs.has(project)) {
      const model = await api.model(m, project).catch(() => null);
      const names = model?.workflow ? model.workflow.specs.map((s) => s.name) : (model?.specs ?? []).map((s) => s.name);
      specs.set(project, names);
    }
  };

  /** The latest run of a job this page knows from the feed. */
  const latest = (project: string, job: string): RunView | undefined =>
    [...runs.values()].filter((r) => r.project === project && r.job === job).sort((a, b) => b.created_ms - a.created_ms)[0];

  const terminal = (project: string, job: string): JobTerminal => {
    let t = terminals.get(key(project, job));
    if (!t) {
      t = new JobTerminal(`Output of ${job}`);
      terminals.set(key(project, job), t);
    }
    return t;
  };

  const run = async (job: JobView, params: Record<string, string>) => {
    presets.set(key(job.project, job.id), params);
    try {
      await api.runJob(m, job.project, job.id, params);
      toast(job.unattended ? `Started ${job.name}` : `Asked ${current().name} to confirm ${job.name}`, "info");
    } catch (err) {
      const hint = err instanceof ApiFailure && err.body.hint ? ` ${err.body.hint}` : "";
      toast(`Not started: ${(err as Error).message}.${hint}`, "error");
    }
  };

  const cancel = async (job: JobView) => {
    try {
      await api.cancelJob(m, job.project, job.id);
    } catch (err) {
      toast(`Not cancelled: ${(err as Error).message}`, "error");
    }
  };

  const details = (job: JobView): HTMLElement => {
    const body = h("div", { class: "job-details-body" }, h("p", { class: "muted" }, "Loading…"));
    const box = h("details", { class: "job-details", "data-testid": "job-details" }, h("summary", {}, "History, stats and audit"), body);
    box.addEventListener("toggle", () => {
      if (!box.open) return;
      void Promise.all([api.jobHistory(m, job.project, job.id), api.jobStats(m, job.project, job.id), api.jobAudit(m, job.project, job.id)])
        .then(([history, stats, audit]) =>
          fill(
            body,
            h(
              "p",
              { class: "small", "data-testid": "job-stats" },
              `${stats.runs} runs: ${stats.succeeded} succeeded, ${stats.failed} failed, ${stats.timed_out} timed out, ${stats.cancelled} cancelled, ${stats.refused} refused; average ${duration(stats.average_duration_ms)}`,
            ),
            h(
              "table",
              { class: "runs", "data-testid": "job-history" },
              h("tr", {}, ["when", "outcome", "exit", "duration", "consent", "asked by", "parameters"].map((c) => h("th", {}, c))),
              history.map((r) =>
                h(
                  "tr",
                  { "data-run": r.run_id },
                  h("td", {}, ago(r.started_ms)),
                  h("td", {}, r.outcome.replace("_", " ")),
                  h("td", {}, r.exit_code ?? ""),
                  h("td", {}, duration(r.duration_ms)),
                  h("td", {}, r.consent.replace(/_/g, " ")),
                  h("td", {}, r.requested_by ?? ""),
                  h("td", {}, Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(", ")),
                ),
              ),
            ),
            h("h3", {}, "Audit on the machine"),
            h(
              "ul",
              { class: "audit", "data-testid": "job-audit" },
              audit.map((a) =>
                h(
                  "li",
                  {},
                  h("span", { class: "muted" }, `${new Date(a.ts_ms).toLocaleString()} `),
                  `${a.command} ${a.outcome}`,
                  a.job.origin === "machine" ? " (on the machine)" : a.job.requested_by ? ` (asked by ${a.job.requested_by})` : "",
                  a.job.consent ? ` · consent: ${a.job.consent.replace(/_/g, " ")}` : "",
                  a.job.exit_code !== undefined ? ` · exit ${a.job.exit_code}` : "",
                  a.job.duration_ms !== undefined ? ` · ${duration(a.job.duration_ms)}` : "",
                  a.job.note ? h("div", { class: "muted small" }, a.job.note) : null,
                ),
              ),
            ),
          ),
        )
        .catch((err: Error) => fill(body, h("p", { class: "error" }, err.message)));
    });
    return box;
  };

  /** One job's card: state, parameters, run and cancel, the last outcome, the terminal. */
  const card = (job: JobView): HTMLElement => {
    const k = key(job.project, job.id);
    const live = latest(job.project, job.id);
    const active = live && ["sent", "waiting", "running"].includes(live.state);
    const state = active ? live.state : job.state;
    const busy = state === "waiting" || state === "running" || state === "sent";
    const [inputs, values] = paramInputs(job, specs.get(job.project) ?? [], presets.get(k) ?? {});
    const runButton = h(
      "button",
      { "data-testid": "run", disabled: !current().online || !job.enabled || busy, onclick: () => void run(job, values()) },
      "Run",
    );
    const cancelButton = h("button", { class: "danger", "data-testid": "cancel", disabled: !busy, onclick: () => void cancel(job) }, "Cancel");
    let outcome: HTMLElement | null = null;
    const finished = live && !active ? live : undefined;
    if (state === "waiting") {
      const until = live?.until_ms ? ` (until ${new Date(live.until_ms).toLocaleTimeString()})` : "";
      outcome = h("p", { class: "waiting", "data-testid": "waiting" }, `Waiting for confirmation on ${current().name}${until}`);
    } else if (finished?.result) {
      outcome = h("p", { class: `outcome outcome-${finished.result.outcome}`, "data-testid": "outcome" }, describeRun(finished.result));
    } else if (finished?.error) {
      const run = finished.error.details as unknown as RunRecord | undefined;
      const text = run?.outcome ? `${run.outcome}: ${finished.error.message}` : finished.error.message;
      outcome = h("p", { class: "outcome outcome-refused", "data-testid": "outcome" }, text);
    } else if (job.last_run) {
      outcome = h("p", { class: `outcome outcome-${job.last_run.outcome}`, "data-testid": "outcome" }, `Last run ${ago(job.last_run.started_ms)}: ${describeRun(job.last_run)}`);
    }
    const t = terminal(job.project, job.id);
    if (live) t.show(live.command);
    else if (job.last_run?.output && !t.run) {
      t.show(`last:${job.last_run.run_id}`);
      t.write({ run: `last:${job.last_run.run_id}`, job: job.id, project: job.project, offset: 0, gap: 0, data: job.last_run.output });
    }
    return h(
      "article",
      { class: `job job-${state}`, "data-job": job.id, "data-project": job.project, "data-state": state },
      h(
        "div",
        { class: "job-head" },
        h("h3", {}, job.name),
        h("span", { class: `pill state-${state}`, "data-testid": "state" }, state),
        h("span", { class: "pill" }, job.enabled ? (job.unattended ? "runs unattended" : "asks on the machine") : "off"),
      ),
      h("code", { class: "argv" }, job.argv.join(" ")),
      job.warnings.length ? h("ul", { class: "warnings" }, job.warnings.map((w) => h("li", {}, w))) : null,
      h("div", { class: "job-controls" }, inputs, runButton, cancelButton),
      outcome,
      t.el,
      details(job),
    );
  };

  const proposals = (list: Proposal[]): HTMLElement | null =>
    list.length
      ? h(
          "div",
          { class: "proposals" },
          h("h3", {}, "Proposed from the hub: nothing runs until approved on the machine"),
          list.map((p) =>
            h(
              "div",
              { class: "proposal", "data-proposal": p.id },
              h("strong", {}, `${p.name} (${p.kind === "create" ? "new job" : `change to ${p.job}`})`),
              h("code", { class: "argv" }, p.argv.join(" ")),
              h("div", { class: "muted small" }, `asked by ${p.requested_by ?? "?"} ${ago(p.created_ms)} · on ${current().name}: `, h("code", {}, `specbridge jobs approve ${p.id}`)),
            ),
          ),
        )
      : null;

  const draw = () => {
    cards.clear();
    fill(
      el,
      h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Machines"), " / ", current().name, " ", statusBadge(current())),
      h("h1", {}, `Jobs on ${current().name}`),
      current().online ? null : h("div", { class: "offline-note", "data-testid": "offline-note" }, `${current().name} is offline: its jobs cannot run until it reconnects.`),
      h("p", { class: "muted small" }, "Only jobs pinned on the machine can run, with their exact command. Parameters are checked there; a job that is not unattended asks its owner first."),
      current().projects.map((p) => {
        const list = lists.get(p.id);
        return h(
          "section",
          { class: "job-project", "data-project": p.id },
          h("h2", {}, h("a", { href: projectHref({ machine: m, project: p.id }) }, p.name)),
          list?.error ? h("p", { class: "muted" }, `Cannot list jobs: ${list.error}`) : null,
          list && !list.error && list.jobs.length === 0 ? h("p", { class: "muted" }, "No jobs pinned for this project.") : null,
          (list?.jobs ?? []).map((job) => {
            const c = card(job);
            cards.set(key(job.project, job.id), c);
            return c;
          }),
          proposals(list?.proposals ?? []),
        );
      }),
    );
    requestAnimationFrame(() => terminals.forEach((t) => t.attach()));
  };

  /** Redraws one card in place (the terminal moves over, it is not rebuilt). */
  const redraw = (project: string, job: string) => {
    const view = lists.get(project)?.jobs.find((j) => j.id === job);
    const old = cards.get(key(project, job));
    if (!view || !old) return;
    const next = card(view);
    old.replaceWith(next);
    cards.set(key(project, job), next);
    terminal(project, job).attach();
  };

  await Promise.all(current().projects.map((p) => load(p.id)));
  draw();
  ctx.live.watchJobs(m);
  if (focus) requestAnimationFrame(() => cards.get(key(focus.project, focus.job))?.scrollIntoView({ block: "start" }));

  return {
    el,
    update: (event: LiveEvent) => {
      if (event.type === "watching_jobs") runs.clear();
      if (event.type === "job_run" && event.run.machine === m) {
        const before = runs.get(event.run.command);
        runs.set(event.run.command, event.run);
        const r = event.run;
        if (!before) terminal(r.project, r.job).show(r.command, `\x1b[2m$ run ${r.job} ${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(" ")}\x1b[0m\r\n`);
        if (!before && focus && focus.project === r.project && focus.job === r.job) {
          // The run this page was opened for: keep its terminal in view (xterm draws only what is visible).
          requestAnimationFrame(() => cards.get(key(r.project, r.job))?.scrollIntoView({ block: "start" }));
        }
        if (r.state === "finished" || r.state === "lost") {
          // The card's last run, history and stats come from the machine.
          void load(r.project).then(() => redraw(r.project, r.job));
        } else {
          redraw(r.project, r.job);
        }
      }
      if (event.type === "job_output" && event.machine === m) {
        for (const chunk of event.chunks) terminals.get(key(chunk.project, chunk.job))?.write(chunk);
      }
      if ((event.type === "machine" && event.machine.id === m) || event.type === "state") {
        void Promise.all(current().projects.map((p) => load(p.id))).then(draw);
      }
    },
    dispose: () => {
      ctx.live.watchJobs(null);
      terminals.forEach((t) => t.dispose());
    },
  };
}

/** The spec page's buttons for the project's jobs that take this spec ("Implement spec"). */
export function specJobs(ctx: Ctx, machine: string, project: string, spec: string): HTMLElement {
  const box = h("div", { class: "spec-jobs", "data-testid": "spec-jobs" });
  const m = ctx.live.machine(machine);
  if (!m?.online) return box;
  void api
    .jobs(m.id, project)
    .then(({ jobs }) => {
      const usable = jobs.filter((j) => j.enabled && Object.values(j.params).some((p) => p.kind === "spec"));
      fill(
        box,
        usable.map((job) =>
          h(
            "button",
            {
              class: "secondary",
              "data-spec-job": job.id,
              onclick: () => {
                // Every spec parameter gets this spec; the others their first value.
                const params = Object.fromEntries(
                  Object.entries(job.params).map(([name, p]) => [name, p.kind === "spec" ? spec : p.kind === "choice" ? p.choices[0] : String(p.min)]),
                );
                void api
                  .runJob(m.id, project, job.id, params)
                  .then(() => (location.hash = jobsHref(m.id, project, job.id)))
                  .catch((err: Error) => toast(`Not started: ${err.message}`, "error"));
              },
            },
            `▶ ${job.name}`,
          ),
        ),
      );
    })
    .catch(() => undefined);
  return box;
}
