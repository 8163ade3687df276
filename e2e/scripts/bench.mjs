// Dashboard latency benchmark (docs/benchmarks.md), against a real hub and
// bridge, measured in Debian's Chromium:
//  1. file saved on the machine -> `file_changed` on /ws/dashboard, with 1 and with 50 dashboards;
//  2. dashboard edit -> file on disk -> result shown (the write's answer arrives in the page).
//   SPECBRIDGE_BIN_DIR=target/release node e2e/scripts/bench.mjs [iterations]

import { World, sleep } from "../lib/harness.mjs";

const BENCH = "specs/001-user-login/BENCH.md";
const iterations = Number(process.argv[2] ?? 100);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;

const w = await World.start({ workflow: false });
try {
  const page = await w.page();
  page.on("crash", () => console.error("page crashed"));
  page.on("close", () => console.error("page closed"));
  const wsUrl = w.url.replace("http", "ws") + "/ws/dashboard";

  async function fileToEvent(dashboards) {
    await page.evaluate(
      ({ url, n, bench }) =>
        new Promise((resolve) => {
          window.__arrivals = [];
          window.__sockets = [];
          let open = 0;
          for (let i = 0; i < n; i++) {
            const s = new WebSocket(url);
            s.onmessage = (m) => {
              const msg = JSON.parse(m.data);
              if (msg.type === "state" && ++open === n) resolve();
              if (msg.type === "file_changed" && msg.paths.includes(bench)) {
                window.__arrivals.push({ socket: i, at: performance.timeOrigin + performance.now() });
              }
            };
            window.__sockets.push(s);
          }
        }),
      { url: wsUrl, n: dashboards, bench: BENCH },
    );
    const latencies = [];
    for (let i = 0; i < iterations; i++) {
      await page.evaluate(() => (window.__arrivals = []));
      const start = Date.now();
      w.write(BENCH, `# bench ${i}\n`);
      const deadline = Date.now() + 5000;
      let arrivals = [];
      while (Date.now() < deadline) {
        arrivals = await page.evaluate(() => window.__arrivals);
        if (arrivals.length >= dashboards) break;
        await sleep(5);
      }
      for (const a of arrivals) latencies.push(a.at - start);
      await sleep(120);
    }
    await page.evaluate(() => window.__sockets.forEach((s) => s.close()));
    return latencies;
  }

  w.write(BENCH, "# bench\n");
  await sleep(500);
  const one = await fileToEvent(1);
  const fifty = await fileToEvent(50);

  // Dashboard edit -> disk -> answer shown, through the same route the editor uses.
  const machine = w.machineId;
  const edits = await page.evaluate(
    async ({ machine, n, bench }) => {
      const base = `/v1/machines/${encodeURIComponent(machine)}/projects/sample-project`;
      let hash = (await (await fetch(`${base}/content/${bench}`)).json()).hash;
      const out = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}/documents/${bench}`, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ content: `# edit ${i}\n`, base_hash: hash }),
        });
        const body = await res.json();
        out.push(performance.now() - t0);
        if (!res.ok) throw new Error(JSON.stringify(body));
        hash = body.result.hash;
        await new Promise((r) => setTimeout(r, 20));
      }
      return out;
    },
    { machine, n: iterations, bench: BENCH },
  );
  const onDisk = w.read(BENCH);
  if (onDisk !== `# edit ${iterations - 1}\n`) throw new Error(`last edit not on disk: ${JSON.stringify(onDisk)}`);

  console.log(`file saved -> dashboard WS event, 1 dashboard:   ${fmt(one)}`);
  console.log(`file saved -> dashboard WS event, 50 dashboards: ${fmt(fifty)}`);
  console.log(`dashboard edit -> file on disk -> result shown:  ${fmt(edits)}`);
} finally {
  await w.stop();
}
