// A real hub and a real headless bridge on temp projects, plus Debian's
// Chromium driven by playwright-core. Used by the tests, the screenshots and
// the benchmark. Binaries come from SPECBRIDGE_BIN_DIR (default target/debug).

import { spawn, execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
const binDir = process.env.SPECBRIDGE_BIN_DIR ?? join(repo, "target/debug");
const hubBin = join(binDir, "specbridge-hub");
const bridgeBin = join(binDir, "specbridge");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `ms` passes. */
export async function waitFor(check, what, ms = 10000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
    srv.on("error", rej);
  });
}

/** A running hub, a bridge sharing temp copies of the fixtures, and helpers. */
export class World {
  /**
   * `projects`, when given, replaces the sample projects: `[{ name, from }]`, each copied from
   * `from` into the world's temp dir (`w.dirs[name]`); the first is `w.project`.
   */
  static async start({ workflow = true, projects } = {}) {
    const w = new World();
    w.dir = mkdtempSync(join(tmpdir(), "specbridge-e2e-"));
    w.port = await freePort();
    w.url = `http://127.0.0.1:${w.port}`;
    w.env = { ...process.env, SPECBRIDGE_HUB_DATA: join(w.dir, "hub"), SPECBRIDGE_HOME: join(w.dir, "bridge"), RUST_LOG: "info" };
    const sources = projects ?? [
      { name: "sample-project", from: join(repo, "examples/sample-project") },
      ...(workflow ? [{ name: "checkout-app", from: join(repo, "e2e/fixtures/checkout-app") }] : []),
    ];
    w.dirs = {};
    for (const { name, from } of sources) {
      w.dirs[name] = join(w.dir, name);
      cpSync(from, w.dirs[name], { recursive: true });
    }
    w.projects = sources.map((p) => p.name);
    w.project = w.dirs[w.projects[0]];
    w.workflow = w.dirs["checkout-app"];
    w.hub = spawn(hubBin, ["serve", "--listen", `127.0.0.1:${w.port}`], {
      env: w.env,
      stdio: ["ignore", openSync(join(w.dir, "hub.log"), "a"), openSync(join(w.dir, "hub.log"), "a")],
    });
    await waitFor(async () => (await fetch(`${w.url}/healthz`)).ok, "the hub to listen");
    const token = (kind, name) =>
      /sbt_[A-Za-z0-9_-]+/.exec(execFileSync(hubBin, ["token", "create", "--kind", kind, "--name", name], { env: w.env }).toString())[0];
    w.userToken = token("user", "e2e-user");
    const machineToken = token("machine", "e2e-machine");
    execFileSync(bridgeBin, ["login", "--hub", w.url, "--vault", "file", "--token-stdin"], { env: w.env, input: machineToken });
    for (const name of w.projects) execFileSync(bridgeBin, ["projects", "add", w.dirs[name], "--name", name], { env: w.env });
    await w.startBridge();
    return w;
  }

  async api(path, init = {}) {
    const { status, body } = await this.call(path, init);
    if (status >= 400) throw new Error(`${path}: HTTP ${status} ${JSON.stringify(body)}`);
    return body;
  }

  /** A REST call that may fail: `{ status, body }`. A JSON `init.json` is sent as the body. */
  async call(path, init = {}) {
    const { json, ...rest } = init;
    const headers = { Authorization: `Bearer ${this.userToken}`, ...(json !== undefined ? { "Content-Type": "application/json" } : {}), ...(init.headers ?? {}) };
    const res = await fetch(`${this.url}${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Pins a job on the bridge's machine (its owner's `specbridge jobs add`), turned on. */
  pinJob(project, id, argv, { name, params = [], unattended = true } = {}) {
    const args = ["jobs", "add", project, id, "--enable", "--yes", ...(name ? ["--name", name] : [])];
    for (const p of params) args.push("--param", p);
    if (unattended) args.push("--unattended");
    execFileSync(bridgeBin, [...args, "--", ...argv], { env: this.env });
  }

  async machines() {
    return this.api("/v1/dashboard/machines");
  }

  async startBridge() {
    const log = openSync(join(this.dir, "bridge.log"), "a");
    this.bridge = spawn(bridgeBin, ["run"], { env: this.env, stdio: ["ignore", log, log] });
    const machine = await waitFor(async () => {
      const ms = await this.machines();
      const m = ms.find((x) => x.online);
      return m && this.projects.every((p) => m.projects.some((q) => q.id === p && q.files > 0)) ? m : null;
    }, "the bridge to connect and sync");
    this.machineId = machine.id;
    this.machineName = machine.name;
  }

  async stopBridge() {
    const child = this.bridge;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
    await waitFor(async () => !(await this.machines()).find((m) => m.id === this.machineId)?.online, "the hub to see the bridge go");
  }

  file(rel, project = this.project) {
    return join(project, rel);
  }

  read(rel, project = this.project) {
    return readFileSync(this.file(rel, project), "utf8");
  }

  write(rel, text, project = this.project) {
    writeFileSync(this.file(rel, project), text);
  }

  append(rel, text, project = this.project) {
    appendFileSync(this.file(rel, project), text);
  }

  async browser() {
    this.chrome = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    return this.chrome;
  }

  /** A logged-in page at `viewport`. */
  async page(viewport = { width: 1280, height: 860 }) {
    const chrome = this.chrome ?? (await this.browser());
    const context = await chrome.newContext({ viewport, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error("page error:", err));
    await page.goto(`${this.url}/#/login`);
    await page.fill("#token", this.userToken);
    await page.click("button[type=submit]");
    await page.waitForSelector(".link-live");
    return page;
  }

  projectUrl(project = "sample-project", ...rest) {
    return `${this.url}/#/m/${encodeURIComponent(this.machineId)}/p/${project}${rest.map((r) => "/" + encodeURIComponent(r)).join("")}`;
  }

  async stop() {
    await this.chrome?.close().catch(() => {});
    for (const child of [this.bridge, this.hub]) if (child && child.exitCode === null) child.kill("SIGTERM");
    await sleep(200);
    if (process.env.KEEP_E2E_DIR) console.error("kept", this.dir);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  logs() {
    const tail = (f) => {
      try {
        return readFileSync(join(this.dir, f), "utf8").split("\n").slice(-30).join("\n");
      } catch {
        return "";
      }
    };
    return `--- hub.log\n${tail("hub.log")}\n--- bridge.log\n${tail("bridge.log")}`;
  }
}

export { mkdirSync };
