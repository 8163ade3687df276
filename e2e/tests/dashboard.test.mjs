// The "done when", in Debian's Chromium against a real hub and a real
// headless bridge sharing temp copies of examples/sample-project and
// e2e/fixtures/checkout-app. The tests share one world and run in order.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { World, waitFor } from "../lib/harness.mjs";

const README = "specs/001-user-login/README.md";

describe("dashboard against a real hub and bridge", () => {
  let w;
  let page;

  before(async () => {
    w = await World.start();
    page = await w.page();
  });

  after(async (t) => {
    if (process.exitCode) console.error(w?.logs());
    await w?.stop();
  });

  test("the machine, its projects and the sample specs are listed", async () => {
    await page.waitForSelector(`[data-machine="${w.machineId}"] .badge-online`);
    await page.click("text=sample-project");
    await page.waitForSelector('[data-spec="001-user-login"]');
    const inProgress = await page.locator('[data-status="in-progress"] [data-spec]').count();
    assert.ok(inProgress >= 1, "001-user-login is in progress in the sample");
  });

  test("a status change in the browser changes the file on disk, after LeanSpec's completion guard", async () => {
    await page.goto(w.projectUrl());
    const before = w.read(README);
    await page.selectOption('select[data-spec-status="001-user-login"]', "complete");
    // The README has two unchecked items: the bridge answers `open_items` and the page asks.
    const ask = page.locator('[data-testid="ask-dialog"]');
    await ask.waitFor();
    assert.equal(await ask.locator("h2").innerText(), "2 items are unchecked — complete anyway?");
    assert.equal(w.read(README), before, "nothing written before the answer");
    await ask.locator('[data-testid="ask-confirm"]').click();
    await waitFor(() => /^status: complete$/m.test(w.read(README)), "status: complete on disk");
    const text = w.read(README);
    assert.match(text, /^completed_at: /m, "LeanSpec's completed_at is maintained");
    assert.match(text, /# User login/, "the body is kept");
    await page.waitForSelector('[data-status="complete"] [data-spec="001-user-login"]');
  });

  test("an edit on disk updates the open page without a reload", async () => {
    await page.goto(w.projectUrl("sample-project", "spec", "001-user-login"));
    await page.waitForSelector('[data-testid="spec-body"]');
    await page.evaluate(() => (window.__notReloaded = true));
    w.append(README, "\n## Added on disk\n\nThis paragraph was written locally.\n");
    await page.waitForSelector("text=This paragraph was written locally.", { timeout: 5000 });
    assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page did not reload");
  });

  // Regression: markdown kept javascript: and data: links (only the CSP stopped them).
  test("links in rendered markdown keep only http, https, mailto and relative targets", async () => {
    w.append(
      README,
      "\n[bad](javascript:alert(1)) [shout](JAVASCRIPT:alert(1)) [data](data:text/html,hi) " +
        "[web](https://example.com/x) [mail](mailto:a@b.c) [local](../002-password-reset/README.md)\n",
    );
    await page.goto(w.projectUrl("sample-project", "spec", "001-user-login"));
    await page.waitForSelector('[data-testid="spec-body"] a:has-text("local")');
    const hrefs = await page.$$eval('[data-testid="spec-body"] a', (links) =>
      Object.fromEntries(links.map((a) => [a.textContent, a.getAttribute("href")])),
    );
    assert.equal(hrefs.bad, null);
    assert.equal(hrefs.shout, null);
    assert.equal(hrefs.data, null);
    assert.equal(hrefs.web, "https://example.com/x");
    assert.equal(hrefs.mail, "mailto:a@b.c");
    assert.equal(hrefs.local, "../002-password-reset/README.md");
  });

  test("conflicting edits bring up the conflict dialog, and overwrite is explicit", async () => {
    await page.goto(w.projectUrl("sample-project", "edit", README));
    const area = page.locator("#editor");
    await area.waitFor();
    await area.fill((await area.inputValue()).replace("# User login", "# User login (browser)"));
    // Meanwhile, someone edits the same file on the machine.
    w.write(README, w.read(README).replace("# User login", "# User login (disk)"));
    await page.waitForSelector('[data-testid="editor-notice"]:has-text("changed on the machine")');
    await page.click('[data-testid="save"]');
    const dialog = page.locator('[data-testid="conflict-dialog"]');
    await dialog.waitFor();
    assert.match(await dialog.locator("pre.mine").innerText(), /User login \(browser\)/);
    assert.match(await dialog.locator("pre.theirs").innerText(), /User login \(disk\)/);
    assert.match(w.read(README), /User login \(disk\)/, "nothing was overwritten yet");
    await dialog.locator(`button:has-text("Overwrite with mine")`).click();
    await waitFor(() => /User login \(browser\)/.test(w.read(README)), "the knowing overwrite on disk");
  });

  test("reload in the conflict dialog takes the machine's version", async () => {
    await page.goto(w.projectUrl("sample-project", "edit", README));
    const area = page.locator("#editor");
    await area.waitFor();
    await area.fill((await area.inputValue()) + "\nmine\n");
    w.append(README, "\ntheirs\n");
    await page.waitForSelector('[data-testid="editor-notice"]:has-text("changed on the machine")');
    await page.click('[data-testid="save"]');
    await page.locator('[data-testid="conflict-dialog"]').waitFor();
    await page.click(`button:has-text("Reload their version")`);
    const value = await area.inputValue();
    assert.match(value, /theirs/);
    assert.doesNotMatch(value, /mine/);
    assert.doesNotMatch(w.read(README), /mine/);
  });

  test("spec-workflow's status words, a blocked reason, and legacy approvals read-only", async () => {
    const tasks = ".spec-workflow/specs/checkout/tasks.md";
    await page.goto(w.projectUrl("checkout-app"));
    await page.waitForSelector('[data-wf-spec="checkout"] [data-wf-status="implementing"]');
    // The legacy nested approval is not counted: spec-workflow sees one approval, pending.
    assert.match(await page.locator(".workflow").innerText(), /1 pending of 1 · 1 in the old folder layout \(read-only\)/);

    await page.goto(w.projectUrl("checkout-app", "wf", "checkout"));
    await page.selectOption('[data-task="4"] select', "blocked");
    const ask = page.locator('[data-testid="ask-dialog"]');
    await ask.locator("input").fill("waiting for the staging card");
    await ask.locator('[data-testid="ask-confirm"]').click();
    await waitFor(
      () => w.read(tasks, w.workflow).includes("- [~] 4. End-to-end test of a one-tap checkout\n  - _Blocked: waiting for the staging card_"),
      "the _Blocked: line on disk",
    );
    await page.waitForSelector('[data-task="4"] [data-blocked-reason]:has-text("Blocked: waiting for the staging card")');
    await page.selectOption('[data-task="4"] select', "pending");
    await waitFor(() => !w.read(tasks, w.workflow).includes("_Blocked:"), "the _Blocked: line removed with the new status");

    await page.goto(w.projectUrl("checkout-app", "approvals"));
    const legacy = page.locator('[data-legacy-approval="approval_1758248748920_ii7m1056m"]');
    await legacy.waitFor();
    assert.equal(await legacy.locator("button").count(), 0, "no decision buttons");
    assert.match(await page.locator('[data-testid="legacy-approvals"]').innerText(), /spec-workflow 2\.x no longer reads this approval/);
  });

  test("a task toggle and an approval on a spec-workflow project reach the disk", async () => {
    await page.goto(w.projectUrl("checkout-app", "wf", "checkout"));
    await page.locator('[data-task="3"] input[type=checkbox]').check();
    await waitFor(() => /- \[x\] 3\. Ask/.test(w.read(".spec-workflow/specs/checkout/tasks.md", w.workflow)), "task 3 done on disk");
    await page.goto(w.projectUrl("checkout-app", "approvals"));
    const card = page.locator('[data-approval="approval_1764590000000_k3x9q2"]');
    await card.locator("textarea").fill("Please add the retry policy.");
    await card.locator("text=Request revision").click();
    const file = ".spec-workflow/approvals/checkout/approval_1764590000000_k3x9q2.json";
    await waitFor(() => /"needs-revision"/.test(w.read(file, w.workflow)), "needs-revision on disk");
    assert.match(w.read(file, w.workflow), /Please add the retry policy\./);
  });

  test("stopping the bridge shows the offline badge and a read-only view", async () => {
    await page.goto(w.projectUrl());
    await page.waitForSelector('select[data-spec-status="001-user-login"]:not([disabled])');
    await w.stopBridge();
    await page.waitForSelector('[data-testid="offline-note"]');
    await page.waitForSelector('select[data-spec-status="001-user-login"][disabled]');
    assert.ok(await page.locator(".badge-offline").isVisible());
    // The last-known specs stay readable.
    await page.click('[data-spec="002-password-reset"] .card-title');
    await page.waitForSelector('[data-testid="spec-body"]');
    assert.ok(await page.locator('[data-testid="edit-spec"]').isDisabled(), "editing is disabled");
    await page.goto(`${w.url}/#/`);
    await page.waitForSelector(`[data-machine="${w.machineId}"] .badge-offline`);
    assert.match(await page.locator(`[data-machine="${w.machineId}"]`).innerText(), /last seen/);
  });

  test("an edit queued while offline is applied when the bridge returns", async () => {
    await page.goto(w.projectUrl());
    await page.check("#queue-opt-in");
    await page.selectOption('select[data-spec-status="002-password-reset"]', "in-progress");
    await page.waitForSelector("text=Queued: applies when");
    const queued = await w.api("/v1/queue");
    assert.equal(queued.length, 1);
    assert.doesNotMatch(w.read("specs/002-password-reset/README.md"), /^status: in-progress$/m, "not applied while offline");
    await page.goto(`${w.url}/#/queue`);
    await page.waitForSelector(`[data-queued="${queued[0].id}"]`);
    await w.startBridge();
    await waitFor(() => /^status: in-progress$/m.test(w.read("specs/002-password-reset/README.md")), "the queued edit on disk");
    // The result is pushed to the dashboard.
    await page.waitForSelector("text=Queued edit applied: 002-password-reset: status -> in-progress");
    await page.waitForSelector("text=Nothing is queued.");
    assert.deepEqual(await w.api("/v1/queue"), []);
  });

  test("a cancelled queued edit is never applied", async () => {
    await w.stopBridge();
    await page.goto(w.projectUrl());
    await page.waitForSelector('[data-testid="offline-note"]');
    if (!(await page.isChecked("#queue-opt-in"))) await page.check("#queue-opt-in");
    await page.selectOption('select[data-spec-status="003-audit-export"]', "archived");
    await page.waitForSelector("text=Queued: applies when");
    await page.goto(`${w.url}/#/queue`);
    await page.click(".queue-list >> text=Cancel");
    await page.waitForSelector("text=Nothing is queued.");
    await w.startBridge();
    await page.waitForTimeout(500);
    assert.doesNotMatch(w.read("specs/003-audit-export/README.md"), /^status: archived$/m);
  });
});
