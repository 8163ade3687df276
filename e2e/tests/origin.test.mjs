// /ws/dashboard and the cookie session refuse other origins; a session is needed.

import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { World } from "../lib/harness.mjs";

let w;
before(async () => (w = await World.start({ workflow: false })));
after(async () => w?.stop());

test("login from another origin is refused", async () => {
  const res = await fetch(`${w.url}/v1/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: "http://evil.example" },
    body: JSON.stringify({ token: w.userToken }),
  });
  assert.equal(res.status, 403);
});

test("a wrong token cannot log in, a right one gets an HttpOnly cookie", async () => {
  const bad = await fetch(`${w.url}/v1/session`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"token":"sbt_nope"}' });
  assert.equal(bad.status, 401);
  const good = await fetch(`${w.url}/v1/session`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: w.userToken }) });
  assert.equal(good.status, 200);
  assert.match(good.headers.get("set-cookie"), /sb_session=.+HttpOnly; SameSite=Strict/);
});

test("the dashboard socket refuses a page from another origin and one without a session", async () => {
  const chrome = await w.browser();
  const page = await chrome.newPage();
  await page.goto(`${w.url}/#/login`);
  const noSession = await page.evaluate(
    (url) => new Promise((r) => { const s = new WebSocket(url); s.onopen = () => r("open"); s.onclose = () => r("closed"); }),
    w.url.replace("http", "ws") + "/ws/dashboard",
  );
  assert.equal(noSession, "closed");
  const upgrade = (origin) =>
    new Promise((resolve, reject) => {
      const req = request(`${w.url}/ws/dashboard`, {
        headers: {
          Authorization: `Bearer ${w.userToken}`,
          Origin: origin,
          Connection: "Upgrade",
          Upgrade: "websocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
      });
      req.on("upgrade", (res, socket) => (socket.destroy(), resolve(res.statusCode)));
      req.on("response", (res) => (res.resume(), resolve(res.statusCode)));
      req.on("error", reject);
      req.end();
    });
  assert.equal(await upgrade("http://evil.example"), 403);
  assert.equal(await upgrade(w.url), 101);
});
