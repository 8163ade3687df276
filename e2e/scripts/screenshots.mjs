// Saves screenshots of the dashboard's main views at desktop (1280 px) and
// phone (390 px) sizes into docs/screenshots/, against a real hub and bridge.
//   npm run screenshots -w e2e        (after ./scripts/test-dashboard.sh built everything)

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { World, repo } from "../lib/harness.mjs";

const out = join(repo, "docs/screenshots");
mkdirSync(out, { recursive: true });
const sizes = { desktop: { width: 1280, height: 860 }, phone: { width: 390, height: 844 } };
const README = "specs/001-user-login/README.md";

const w = await World.start();
try {
  for (const [size, viewport] of Object.entries(sizes)) {
    const page = await w.page(viewport);
    const shot = async (name, full = false) => {
      await page.waitForTimeout(250);
      await page.screenshot({ path: join(out, `${name}-${size}.png`), fullPage: full });
    };
    await page.goto(`${w.url}/#/`);
    await page.waitForSelector(".machine");
    await shot("machines");
    await page.goto(w.projectUrl());
    await page.waitForSelector("[data-spec]");
    await shot("board", size === "phone");
    await page.goto(w.projectUrl("sample-project", "spec", "001-user-login"));
    await page.waitForSelector('[data-testid="spec-body"]');
    await shot("spec");
    await page.goto(w.projectUrl("sample-project", "edit", README));
    const area = page.locator("#editor");
    await area.waitFor();
    await area.fill((await area.inputValue()).replace("# User login", "# User login: sign-in page"));
    const original = w.read(README);
    w.write(README, original.replace("# User login", "# User login (edited locally)"));
    await page.waitForSelector('[data-testid="editor-notice"]:has-text("changed")');
    await page.click('[data-testid="save"]');
    await page.waitForSelector('[data-testid="conflict-dialog"]');
    await shot("conflict");
    await page.click(`button:has-text("Reload their version")`);
    w.write(README, original);
    await page.goto(w.projectUrl("checkout-app", "wf", "checkout"));
    await page.waitForSelector("[data-task]");
    await shot("workflow-tasks");
    await page.goto(w.projectUrl("checkout-app", "approvals"));
    await page.waitForSelector("[data-approval]");
    await shot("approvals");
    await page.close();
  }
  await w.stopBridge();
  for (const [size, viewport] of Object.entries(sizes)) {
    const page = await w.page(viewport);
    await page.goto(w.projectUrl());
    await page.waitForSelector('[data-testid="offline-note"]');
    await page.waitForTimeout(250);
    await page.screenshot({ path: join(out, `offline-${size}.png`) });
    await page.goto(`${w.url}/#/login`);
    await page.waitForSelector("#token");
    await page.screenshot({ path: join(out, `login-${size}.png`) });
    await page.close();
  }
  console.log(`screenshots in ${out}`);
} finally {
  await w.stop();
}
