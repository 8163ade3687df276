#!/usr/bin/env python3
"""Side by side on loopback: specbridge, Syncthing and the LeanSpec UI server.

Run through scripts/bench-peers.sh (it installs the peers and builds ours).
One interleaved run: every round saves one file in each tool's folder, in a
rotating order, and times until the far end has it. Every connection to a far
end goes through a byte-counting TCP proxy, so "bytes on the wire" is the TCP
payload both ways (TLS off everywhere, compression as each tool ships it).

What "far end" means per tool (each the closest thing it has to a second
machine's view):
- specbridge: the hub's REST API returns the new content (what a dashboard reads).
- Syncthing: the file has the new content in the second instance's folder.
- LeanSpec UI server: its server-sent-events stream announced the change and
  the spec's raw endpoint returns the new content (what its web UI does).
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(sys.argv[1]) if sys.argv[1:2] and sys.argv[1].isdigit() else 30
SPECBRIDGE = ROOT / "target/release/specbridge"
HUB = ROOT / "target/release/specbridge-hub"
LEANSPEC = Path(os.environ.get("LEANSPEC_HTTP", "leanspec-http"))
CORPUS = Path(os.environ.get("CORPUS", ROOT.parent / "shared/corpus/leanspec"))
TIMEOUT = 30.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """A TCP proxy on 127.0.0.1 that counts the payload bytes both ways."""

    def __init__(self, target_port):
        self.target = target_port
        self.bytes = 0
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.bytes += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def count(self):
        with self.lock:
            return self.bytes


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def http(method, url, token=None, body=None, headers=None):
    req = urllib.request.Request(url, method=method, data=body)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def wait(what, check, timeout=TIMEOUT, every=0.0005):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(every)


def tree_hashes(root):
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and ".stfolder" not in p.parts:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def copy_corpus(to):
    shutil.copytree(CORPUS / "specs", Path(to) / "specs")


def pick_save_rel(root):
    readmes = sorted((Path(root) / "specs").glob("*/README.md")) or sorted((Path(root) / "specs").glob("*/*.md"))
    return str(readmes[0].relative_to(root))


def save(root, rel, i, tag):
    text = (Path(root) / rel).read_text()
    head = text.split("\n<!-- bench", 1)[0]
    body = f"{head}\n<!-- bench {tag} {i} -->\n"
    (Path(root) / rel).write_text(body)
    return body.encode()


class Specbridge:
    name = "specbridge"

    def __init__(self, work, fill=copy_corpus):
        self.work = work
        self.root = work / "project"
        fill(self.root)
        data = work / "hub"
        self.hub_port = free_port()
        self.hub = subprocess.Popen(
            [HUB, "--data-dir", data, "serve", "--listen", f"127.0.0.1:{self.hub_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait("hub up", lambda: http("GET", f"http://127.0.0.1:{self.hub_port}/healthz")[0] == 200, every=0.05)
        self.proxy = Proxy(self.hub_port)
        token = lambda kind: subprocess.run(
            [HUB, "--data-dir", data, "token", "create", "--kind", kind, "--name", "bench"],
            check=True, capture_output=True, text=True).stdout.strip().split()[-1]
        self.machine_token, self.user = token("machine"), token("user")
        self.env = dict(os.environ, SPECBRIDGE_HOME=str(work / "bridge"), SPECBRIDGE_TOKEN=self.machine_token)
        # The shipped service's environment (installers/headless/specbridge.service).
        for line in (ROOT / "installers/headless/specbridge.service").read_text().splitlines():
            if line.startswith("Environment="):
                k, v = line[len("Environment="):].split("=", 1)
                self.env[k] = v.strip('"')
        if "SERVICE_ENV" in os.environ:  # to compare settings: SERVICE_ENV='K=V K2=V2' (or '' for none)
            self.env = {k: v for k, v in self.env.items() if k not in ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX")}
            self.env.update(kv.split("=", 1) for kv in os.environ["SERVICE_ENV"].split())
        url = f"http://127.0.0.1:{self.proxy.port}"
        run = lambda *a: subprocess.run([SPECBRIDGE, *a], env=self.env, check=True, capture_output=True)
        run("login", "--hub", url, "--vault", "env")
        run("projects", "add", str(self.root), "--name", "bench")
        self.rel = pick_save_rel(self.root)
        self.files = len(tree_hashes(self.root))

    def start(self):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([SPECBRIDGE, "run"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{self.hub_port}"

        def machine():
            status, body = http("GET", f"{base}/v1/machines", self.user)
            rows = json.loads(body) if status == 200 else []
            return rows[0]["id"] if rows else None
        wait("bridge registered", lambda: machine() is not None, every=0.005)
        m = machine()
        _, body = http("GET", f"{base}/v1/machines/{m}/projects", self.user)
        p = json.loads(body)[0]["id"]
        self.files_url = f"{base}/v1/machines/{m}/projects/{p}/files"

        def synced():
            status, body = http("GET", self.files_url, self.user)
            return status == 200 and len(json.loads(body)) == self.files
        wait("initial sync", synced, timeout=300, every=0.005 if self.files < 1000 else 0.2)
        return time.monotonic() - self.t0

    def arrived(self, body):
        return lambda: http("GET", f"{self.files_url}/{self.rel}", self.user) == (200, body)

    def pids(self):
        return {"bridge": self.proc.pid, "hub": self.hub.pid}

    def count(self):
        return self.proxy.count()

    def stop(self):
        stop([self.proc, self.hub])


class Syncthing:
    name = "Syncthing"

    def __init__(self, work):
        self.work = work
        self.sides = {}
        for side in ("a", "b"):
            home = work / f"st-{side}"
            subprocess.run(["syncthing", "generate", f"--home={home}", "--no-default-folder",
                            "--skip-port-probing"], check=True, capture_output=True)
            dev = subprocess.run(["syncthing", "serve", f"--home={home}", "--device-id"], check=True,
                                 capture_output=True, text=True).stdout.strip()
            self.sides[side] = {"home": home, "id": dev, "listen": free_port(), "gui": free_port(),
                                "folder": work / f"st-{side}-folder"}
        self.root = self.sides["a"]["folder"]
        copy_corpus(self.root)
        (self.sides["b"]["folder"]).mkdir()
        self.proxies = {s: Proxy(v["listen"]) for s, v in self.sides.items()}
        for side, other in (("a", "b"), ("b", "a")):
            self._configure(side, other)
        self.rel = pick_save_rel(self.root)
        self.far = self.sides["b"]["folder"]

    def _configure(self, side, other):
        me, peer = self.sides[side], self.sides[other]
        path = me["home"] / "config.xml"
        tree = ET.parse(path)
        cfg = tree.getroot()
        for f in cfg.findall("folder"):
            cfg.remove(f)
        for d in cfg.findall("device"):
            if d.get("id") != me["id"]:
                cfg.remove(d)
        dev = ET.SubElement(cfg, "device", id=peer["id"], name=other, compression="metadata",
                            introducer="false", skipIntroductionRemovals="false", introducedBy="")
        ET.SubElement(dev, "address").text = f"tcp://127.0.0.1:{self.proxies[other].port}"
        ET.SubElement(dev, "paused").text = "false"
        ET.SubElement(dev, "autoAcceptFolders").text = "false"
        folder = ET.SubElement(cfg, "folder", id="bench", label="bench", path=str(me["folder"]),
                               type="sendreceive", rescanIntervalS="3600", fsWatcherEnabled="true",
                               fsWatcherDelayS="1", ignorePerms="false", autoNormalize="true")
        for d in (me["id"], peer["id"]):
            ET.SubElement(folder, "device", id=d, introducedBy="")
        opts = cfg.find("options")
        settings = {"listenAddress": f"tcp://127.0.0.1:{me['listen']}", "globalAnnounceEnabled": "false",
                    "localAnnounceEnabled": "false", "relaysEnabled": "false", "natEnabled": "false",
                    "urAccepted": "-1", "autoUpgradeIntervalH": "0", "startBrowser": "false",
                    "crashReportingEnabled": "false"}
        for key, value in settings.items():
            for el in opts.findall(key):
                opts.remove(el)
            ET.SubElement(opts, key).text = value
        gui = cfg.find("gui")
        gui.find("address").text = f"127.0.0.1:{me['gui']}"
        tree.write(path)

    def start(self):
        self.t0 = time.monotonic()
        env = dict(os.environ, STNOUPGRADE="1", STNODEFAULTFOLDER="1")
        self.procs = {s: subprocess.Popen(["syncthing", "serve", f"--home={v['home']}", "--no-browser",
                                           "--no-restart"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL) for s, v in self.sides.items()}
        want = tree_hashes(self.root)
        wait("initial sync", lambda: tree_hashes(self.far) == want, timeout=120, every=0.02)
        return time.monotonic() - self.t0

    def arrived(self, body):
        target = self.far / self.rel

        def check():
            try:
                return target.read_bytes() == body
            except OSError:
                return False
        return check

    def pids(self):
        return {"instance": self.procs["a"].pid, "second instance": self.procs["b"].pid}

    def count(self):
        return sum(p.count() for p in self.proxies.values())

    def stop(self):
        stop(list(self.procs.values()))


class LeanSpec:
    name = "LeanSpec UI server"

    def __init__(self, work):
        self.root = work / "leanspec"
        copy_corpus(self.root)
        self.port = free_port()
        self.rel = pick_save_rel(self.root)
        self.spec = Path(self.rel).parent.name
        self.events = 0
        self.cond = threading.Condition()

    def start(self):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [LEANSPEC, "--port", str(self.port), "--project", str(self.root), "--no-open", "--no-config"],
            env=dict(os.environ, HOME=str(self.root.parent / "leanspec-home")),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait("server up", lambda: http("GET", f"http://127.0.0.1:{self.port}/health")[0] == 200, every=0.02)
        self.proxy = Proxy(self.port)
        self.base = f"http://127.0.0.1:{self.proxy.port}"
        _, body = http("GET", f"{self.base}/api/projects")
        projects = json.loads(body)
        projects = projects.get("projects", projects) if isinstance(projects, dict) else projects
        self.project = projects[0]["id"]
        self.listening = False
        threading.Thread(target=self._listen, daemon=True).start()
        wait("event stream", lambda: self.listening, every=0.01)
        time.sleep(0.5)
        return None

    def _listen(self):
        sock = socket.create_connection(("127.0.0.1", self.proxy.port))
        sock.sendall(f"GET /api/events/specs HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                     .encode())
        self.listening = True
        while True:
            data = sock.recv(65536)
            if not data:
                return
            if b"data:" in data:
                with self.cond:
                    self.events += 1
                    self.cond.notify_all()

    def raw(self):
        status, body = http("GET", f"{self.base}/api/projects/{self.project}/specs/{self.spec}/raw")
        if status != 200:
            return b""
        try:
            return json.loads(body).get("content", "").encode()
        except ValueError:
            return body

    def arrived(self, body, seen):
        def check():
            with self.cond:
                if self.events == seen:
                    return False
            return self.raw() == body
        return check

    def pids(self):
        return {"server": self.proc.pid}

    def count(self):
        return self.proxy.count()

    def stop(self):
        stop([self.proc])


def stop(procs):
    """SIGTERM, then SIGKILL whatever has not exited within 5 s."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def pct(samples, p):
    s = sorted(samples)
    return s[round((len(s) - 1) * p)]


def main():
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    tools = [Specbridge(work), Syncthing(work), LeanSpec(work)]
    sb, st, ls = tools
    results = {t.name: {"lat": []} for t in tools}
    # Initial sync, one tool at a time (each on a quiet machine).
    for t in tools:
        # Every proxy exists once `start` returns, and counts from zero.
        took = t.start()
        sent = t.count()
        results[t.name]["initial"] = took
        results[t.name]["initial_bytes"] = sent if took is not None else None
        print(f"# {t.name}: started" + (f", initial sync {took * 1000:.0f} ms, {sent} B" if took else ""), flush=True)
    counters = {t.name: t.count for t in tools}
    time.sleep(2)
    wire0 = {n: c() for n, c in counters.items()}
    for i in range(ROUNDS):
        order = tools[i % 3:] + tools[:i % 3]
        for t in order:
            seen = t.events if t is ls else None
            body = save(t.root, t.rel, i, t.name[:3])
            start = time.monotonic()
            check = t.arrived(body, seen) if t is ls else t.arrived(body)
            wait(f"{t.name} round {i}", check, every=0.0005)
            results[t.name]["lat"].append(time.monotonic() - start)
            time.sleep(0.05)
    wire = {n: (c() - wire0[n]) / ROUNDS for n, c in counters.items()}
    time.sleep(10)
    rss = {t.name: {k: rss_kib(pid) / 1024 for k, pid in t.pids().items()} for t in tools}
    for t in tools:
        t.stop()
    shutil.rmtree(work, ignore_errors=True)

    def row(label, fmt, key):
        cells = []
        for t in tools:
            v = key(t.name)
            cells.append("—" if v is None else fmt(v))
        return f"| {label} | " + " | ".join(cells) + " |"
    ours = results["specbridge"]
    print(f"\n{ROUNDS} interleaved rounds, corpus {sb.files} files, loopback\n")
    print("| | " + " | ".join(t.name for t in tools) + " |")
    print("|---|" + "---|" * len(tools))
    print(row("save -> far end, p50", lambda v: f"{v * 1000:.1f} ms", lambda n: pct(results[n]["lat"], 0.5)))
    print(row("save -> far end, p99", lambda v: f"{v * 1000:.1f} ms", lambda n: pct(results[n]["lat"], 0.99)))
    print(row("corpus initial sync", lambda v: f"{v * 1000:.0f} ms", lambda n: results[n]["initial"]))
    print(row("initial sync, bytes on the wire", lambda v: f"{v:,} B", lambda n: results[n]["initial_bytes"]))
    print(row("one save, bytes on the wire", lambda v: f"{v:,.0f} B", lambda n: wire[n]))
    print(row("idle RSS", lambda v: v, lambda n: ", ".join(f"{k} {x:.1f} MiB" for k, x in rss[n].items())))
    print("\nRatios (peer / specbridge; > 1 means specbridge is better):\n")
    p50 = pct(ours["lat"], 0.5)
    for t in tools[1:]:
        r = results[t.name]
        parts = [f"save p50 x{pct(r['lat'], 0.5) / p50:.1f}",
                 f"bytes per save x{wire[t.name] / wire['specbridge']:.1f}",
                 f"idle RSS (first process) x{list(rss[t.name].values())[0] / rss['specbridge']['bridge']:.1f}"]
        if r.get("initial"):
            parts.insert(1, f"initial sync x{r['initial'] / ours['initial']:.1f}")
            parts.insert(2, f"initial bytes x{r['initial_bytes'] / ours['initial_bytes']:.1f}")
        print(f"- {t.name}: " + ", ".join(parts))


def ten_thousand_files(root):
    """The tree of `bench.sh process`: 10,000 small files in 100 folders."""
    for i in range(10_000):
        folder = Path(root) / "specs" / f"{i // 100:03}-dir"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05}.md").write_text(f"# File {i}\n\nSome text for file {i}.\n")


def idle_rss():
    """`bench-peers.py rss`: the bridge's idle RSS watching 10k files, with the service's environment."""
    work = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    sb = Specbridge(work, fill=ten_thousand_files)
    took = sb.start()
    time.sleep(33)
    kib = rss_kib(sb.proc.pid)
    if os.environ.get("SMAPS"):
        print(Path(f"/proc/{sb.proc.pid}/smaps_rollup").read_text())
        maps = Path(f"/proc/{sb.proc.pid}/smaps").read_text().split("\n")
        rows, cur = [], None
        for line in maps:
            if line and line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                cur = line
            elif line.startswith("Rss:") and cur:
                rows.append((int(line.split()[1]), cur))
        for r in sorted(rows, reverse=True)[:12]:
            print(r)
        print(len(list(Path(f"/proc/{sb.proc.pid}/task").iterdir())), "threads")
    env = " ".join(f"{k}={sb.env[k]}" for k in ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX") if k in sb.env)
    print(f"| bridge idle RSS watching 10k files | {kib / 1024:.1f} MiB ({kib * 1024 / 1e6:.1f} MB; initial sync "
          f"{took * 1000:.0f} ms; environment: {env or 'none'}) | <= 15 MB |")
    sb.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["rss"]:
        idle_rss()
    else:
        main()
