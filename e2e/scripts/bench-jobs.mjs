// Job output latency benchmark (docs/benchmarks.md, "Job output"), against a
// real hub and bridge, measured in Debian's Chromium: a line printed by a job
// on the machine until it is shown in the page.
//
// JOBS jobs (default 10) print LINES lines each at RATE lines/s (default 100),
// each line carrying the machine's clock (`L <Date.now()> <n>`). DASHBOARDS
// dashboards watch the machine (default 50): one is the real Jobs page, whose
// xterm.js terminals report each piece once written (the "written" event of
// dashboard/src/terminal.ts); the others are /ws/dashboard sockets in a second
// page that send `watch_jobs` and parse every `job_output` as it arrives.
//   SPECBRIDGE_BIN_DIR=target/release node e2e/scripts/bench-jobs.mjs [jobs] [rate] [seconds] [dashboards]

import { World, sleep } from "../lib/harness.mjs";

const jobs = Number(process.argv[2] ?? 10);
const rate = Number(process.argv[3] ?? 100);
const seconds = Number(process.argv[4] ?? 20);
const dashboards = Number(process.argv[5] ?? 50);
const lines = rate * seconds;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${pct(xs, 100).toFixed(1)} ms (n=${xs.length})`;

// A job that prints `lines` lines at `rate` per second, each stamped with the machine's clock.
const printer = `const n=+process.argv[1],every=1000/+process.argv[2],t0=Date.now();let i=0;
(function tick(){while(i<n&&Date.now()-t0>=i*every){process.stdout.write('L '+Date.now()+' '+(i++)+'\\n')}
if(i<n)setTimeout(tick,Math.max(0,t0+i*every-Date.now()))})()`;

const w = await World.start({ workflow: false });
try {
  for (let j = 0; j < jobs; j++) w.pinJob("sample-project", `print-${j}`, ["node", "-e", printer, String(lines), String(rate)]);
  const page = await w.page();
  await page.goto(`${w.url}/#/m/${encodeURIComponent(w.machineId)}/jobs`);
  await page.locator(`[data-job="print-${jobs - 1}"]`).waitFor();
  await page.evaluate(() => {
    window.__lat = [];
    const carry = new Map();
    for (const box of document.querySelectorAll("[data-testid=terminal]")) {
      box.addEventListener("written", (e) => {
        const { run, data, at } = e.detail;
        const text = (carry.get(run) ?? "") + data;
        const parts = text.split("\n");
        carry.set(run, parts.pop());
        for (const line of parts) {
          const m = /^L (\d+) /.exec(line);
          if (m) window.__lat.push(at - Number(m[1]));
        }
      });
    }
  });

  // The other dashboards: sockets that watch the machine and time each line's arrival.
  const sockets = await page.context().newPage();
  await sockets.goto(`${w.url}/#/`);
  const wsUrl = w.url.replace("http", "ws") + "/ws/dashboard";
  await sockets.evaluate(
    ({ url, n, machine }) =>
      new Promise((resolve) => {
        window.__lat = [];
        window.__gaps = 0;
        let ready = 0;
        for (let i = 0; i < n; i++) {
          const s = new WebSocket(url);
          const carry = new Map();
          s.onmessage = (m) => {
            const msg = JSON.parse(m.data);
            if (msg.type === "state") s.send(JSON.stringify({ type: "watch_jobs", machine }));
            if (msg.type === "watching_jobs" && ++ready === n) resolve();
            if (msg.type !== "job_output") return;
            const at = performance.timeOrigin + performance.now();
            for (const c of msg.chunks) {
              window.__gaps += c.gap;
              const parts = ((carry.get(c.run) ?? "") + c.data).split("\n");
              carry.set(c.run, parts.pop());
              for (const line of parts) {
                const hit = /^L (\d+) /.exec(line);
                if (hit) window.__lat.push(at - Number(hit[1]));
              }
            }
          };
        }
      }),
    { url: wsUrl, n: dashboards - 1, machine: w.machineId },
  );

  const started = Date.now();
  await Promise.all(
    Array.from({ length: jobs }, (_, j) =>
      w.api(`/api/projects/sample-project/jobs/print-${j}/run?detach=1&timeout_ms=${(seconds + 60) * 1000}`, { method: "POST" }),
    ),
  );
  const expected = jobs * lines;
  const until = Date.now() + (seconds + 60) * 1000;
  while (Date.now() < until) {
    const shown = await page.evaluate(() => window.__lat.length);
    if (shown >= expected) break;
    await sleep(500);
  }
  await sleep(1000);
  const inPage = await page.evaluate(() => window.__lat);
  const onSockets = await sockets.evaluate(() => window.__lat);
  const gaps = await sockets.evaluate(() => window.__gaps);
  console.log(`${jobs} jobs x ${rate} lines/s x ${seconds} s, ${dashboards} dashboards (1 Jobs page + ${dashboards - 1} sockets), ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(`line printed -> written in the Jobs page's terminal: ${fmt(inPage)}; ${inPage.length}/${expected} lines`);
  console.log(`line printed -> job_output on the other dashboards:  ${fmt(onSockets)}; ${onSockets.length}/${expected * (dashboards - 1)} lines, ${gaps} bytes skipped`);
  console.log(`all dashboards:                                      ${fmt(inPage.concat(onSockets))}`);
} finally {
  await w.stop();
}
