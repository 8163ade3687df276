// Jobs from the dashboard, in Debian's Chromium against a real hub and a real
// headless bridge: jobs pinned on the machine with `specbridge jobs add`, run
// from the Jobs page with their output streamed into the terminal, a second
// run cancelled, and "Implement spec" from a spec's page.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { World, waitFor } from "../lib/harness.mjs";

describe("jobs in the dashboard", () => {
  let w;
  let page;

  before(async () => {
    w = await World.start({ workflow: false });
    w.pinJob("sample-project", "count", ["sh", "-c", "for i in $(seq 1 12); do printf '\\033[32mline %s\\033[0m\\n' $i; sleep 0.15; done"], { name: "Count" });
    w.pinJob("sample-project", "sleeper", ["sh", "-c", "echo started; sleep 60"], { name: "Sleeper" });
    w.pinJob("sample-project", "implement", ["sh", "-c", "echo implementing $0", "{spec}"], { name: "Implement spec", params: ["spec=spec"] });
    page = await w.page();
    page.on("console", (msg) => msg.type() === "error" && console.error("console:", msg.text()));
    if (process.env.DEBUG_E2E) page.on("response", (r) => r.url().includes("/jobs") && console.error("resp", r.status(), r.url()));
  });

  after(async () => {
    if (process.exitCode) console.error(w?.logs());
    await w?.stop();
  });

  const card = (id) => page.locator(`[data-job="${id}"]`);
  const screen = (id, on = page) => on.locator(`[data-job="${id}"] .xterm-rows`);
  /** Waits until a job's terminal shows `text`. xterm.js draws only a terminal
   * in view, so it is brought into view first, as a user would look at it. */
  const shows = (id, text, on = page, ms = 10000) =>
    waitFor(
      () =>
        on.evaluate(
          ([id, text]) => {
            const box = document.querySelector(`[data-job="${id}"] .terminal`);
            box?.scrollIntoView({ block: "nearest" });
            return box?.querySelector(".xterm-rows")?.textContent?.includes(text) ?? false;
          },
          [id, text],
        ),
      `${id}'s terminal to show ${text}`,
      ms,
    );

  test("a job runs from the Jobs page and its output streams into the terminal", async () => {
    await page.goto(`${w.url}/#/`);
    await page.click(`[data-machine="${w.machineId}"] [data-testid="jobs-link"]`);
    await card("count").waitFor();
    await card("count").locator('[data-testid="run"]').click();
    await card("count").locator('[data-state="running"], [data-testid="state"]:has-text("running")').first().waitFor().catch(() => undefined);
    // Output arrives while it runs, before the job ends.
    await shows("count", "line 3");
    const whileRunning = await screen("count").innerText();
    assert.doesNotMatch(whileRunning, /line 12/, "the first lines show before the last one is printed");
    await shows("count", "line 12", page, 15000);
    await card("count").locator('[data-testid="outcome"]:has-text("succeeded, exit code 0")').waitFor();
    // ANSI colours are the terminal's: the escape codes are not shown as text.
    assert.doesNotMatch(await screen("count").innerText(), /\[32m/);
    await card("count").locator("summary").click();
    await card("count").locator('[data-testid="job-history"] tr[data-run]').first().waitFor();
    const history = await card("count").locator('[data-testid="job-history"]').innerText();
    assert.match(history, /succeeded/);
    assert.match(history, /account default/);
    assert.match(await card("count").locator('[data-testid="job-audit"]').innerText(), /job-run ok/);
  });

  test("a second page opened mid-run sees the same run, and a run is cancelled", async () => {
    await card("sleeper").locator('[data-testid="run"]').click();
    await shows("sleeper", "started");
    const other = await page.context().newPage();
    await other.goto(`${w.url}/#/m/${encodeURIComponent(w.machineId)}/jobs`);
    await other.locator('[data-job="sleeper"]').waitFor();
    await shows("sleeper", "started", other);
    await card("sleeper").locator('[data-testid="cancel"]').click();
    await card("sleeper").locator('[data-testid="outcome"]:has-text("cancelled")').waitFor({ timeout: 10000 });
    await other.locator('[data-job="sleeper"] [data-testid="outcome"]:has-text("cancelled")').waitFor({ timeout: 10000 });
    await other.close();
    const [last] = await w.api(`/api/projects/sample-project/jobs/sleeper/history`);
    assert.equal(last.outcome, "cancelled");
  });

  test("a spec's page offers its project's spec jobs", async () => {
    await page.goto(w.projectUrl("sample-project", "spec", "001-user-login"));
    const button = page.locator('[data-spec-job="implement"]');
    await button.waitFor();
    assert.equal(await page.locator('[data-spec-job="count"]').count(), 0, "jobs without a spec parameter are not offered");
    await button.click();
    await page.waitForURL(/#\/m\/.*\/jobs\/sample-project\/implement/);
    await shows("implement", "implementing 001-user-login");
  });
});
