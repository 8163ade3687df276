#!/usr/bin/env bash
# Checks the headless installer: install into a temp prefix and HOME, verify the
# systemd unit and the launchd plist, run the unit's own ExecStart against a real
# hub after `specbridge login`, upgrade in place (pairing and projects kept) and
# uninstall (user data kept). Also compiles the tray app's Windows NSIS hooks
# and parses its macOS Info.plist. Then the hub's deployment (installers/hub):
# the haproxy config parses, the system unit verifies, every variable it and the
# env file name is a real option, a hub started from the env file answers its
# probes, serves TLS through haproxy and drains on SIGTERM. Needs the debug
# binaries from `cargo test` (built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug"
[ -x "$bin/specbridge" ] && [ -x "$bin/specbridge-hub" ] || cargo build --locked -p specbridge-cli -p specbridge-hub

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "installers: $*" >&2; for f in "$work"/*.log; do [ -f "$f" ] && tail -n 20 "$f" >&2; done; exit 1; }
passed=0
ok() { echo "installers: ok - $*"; passed=$((passed + 1)); }

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME"
prefix="$work/prefix"
unit="$XDG_CONFIG_HOME/systemd/user/specbridge.service"

# 1. Install into a temp prefix.
installers/headless/install.sh --binary "$bin/specbridge" --prefix "$prefix" >"$work/install.log"
[ -x "$prefix/bin/specbridge" ] || fail "binary not installed"
grep -q "^ExecStart=$prefix/bin/specbridge run$" "$unit" || fail "unit ExecStart does not point at the installed binary"
grep -q "specbridge login --hub" "$work/install.log" || fail "install did not say how to log in"
# The idle-RSS figure in docs/benchmarks.md is measured with the unit's allocator settings.
grep -q "^Environment=GLIBC_TUNABLES=glibc.malloc.arena_max=2:" "$unit" || fail "unit lost its allocator settings"
ok "install into a temp prefix"

# 2. The unit is valid systemd syntax (systemd-analyze where the machine has it).
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify "$unit" 2>"$work/verify.log" || fail "systemd-analyze verify: $(cat "$work/verify.log")"
  ok "systemd-analyze verify"
else
  echo "installers: skip - systemd-analyze not available"
fi

# 3. The launchd plist is a well-formed property list with the placeholders filled.
sed -e "s|@BINDIR@|$prefix/bin|g" -e "s|@LOGDIR@|/tmp|g" installers/headless/dev.specbridge.bridge.plist >"$work/agent.plist"
python3 - "$work/agent.plist" "$prefix/bin/specbridge" <<'PY' || fail "launchd plist is invalid"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
assert p["Label"] == "dev.specbridge.bridge", p["Label"]
assert p["ProgramArguments"] == [sys.argv[2], "run"], p["ProgramArguments"]
assert p["RunAtLoad"] is True and p["KeepAlive"] == {"SuccessfulExit": False}
PY
ok "launchd plist parses"

# 4. After `specbridge login`, the unit's own command connects to a real hub.
port=$((20000 + RANDOM % 20000))
hub="http://127.0.0.1:$port"
export SPECBRIDGE_HUB_DATA="$work/hub"
"$bin/specbridge-hub" serve --listen "127.0.0.1:$port" >"$work/hub.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "$hub/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
token="$("$bin/specbridge-hub" token create --kind machine --name server 2>/dev/null | grep -oE 'sbt_[A-Za-z0-9_-]+' | head -n 1)"
user="$("$bin/specbridge-hub" token create --kind user --name admin 2>/dev/null | grep -oE 'sbt_[A-Za-z0-9_-]+' | head -n 1)"
mkdir -p "$work/project/specs/001-first"
printf -- '---\nstatus: planned\ncreated: 2026-01-01\n---\n\n# First\n' >"$work/project/specs/001-first/README.md"
printf '%s' "$token" | "$prefix/bin/specbridge" login --hub "$hub" --vault file --token-stdin >/dev/null
"$prefix/bin/specbridge" projects add "$work/project" --name server-project >/dev/null
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
$exec_start >"$work/bridge.log" 2>&1 &
pids+=($!)
connected=""
for _ in $(seq 1 100); do
  if "$prefix/bin/specbridge" status 2>/dev/null | grep -q "^Connection: *connected"; then connected=1; break; fi
  sleep 0.1
done
[ -n "$connected" ] || fail "the service command never connected"
machines="$(curl -fsS -H "Authorization: Bearer $user" "$hub/v1/machines")"
grep -q '"online":true' <<<"$machines" || fail "hub does not list the machine online: $machines"
ok "ExecStart connects to the hub after login"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'

# 5. Upgrade in place: the binary is replaced, pairing and projects stay.
config_before="$(cat "$XDG_CONFIG_HOME/specbridge/config.toml")"
installers/headless/install.sh --binary "$bin/specbridge" --prefix "$prefix" >/dev/null
[ "$(cat "$XDG_CONFIG_HOME/specbridge/config.toml")" = "$config_before" ] || fail "upgrade changed the config"
[ -f "$XDG_CONFIG_HOME/specbridge/token.json" ] || fail "upgrade lost the token"
"$prefix/bin/specbridge" projects list | grep -q server-project || fail "upgrade lost the project"
ok "upgrade keeps pairing and projects"

# 6. Uninstall removes the binary and the unit, keeps user data.
installers/headless/install.sh --uninstall --prefix "$prefix" >/dev/null
[ ! -e "$prefix/bin/specbridge" ] && [ ! -e "$unit" ] || fail "uninstall left files behind"
[ -f "$XDG_CONFIG_HOME/specbridge/config.toml" ] || fail "uninstall removed user data"
ok "uninstall keeps user data"

# 7. The tray app's installer pieces for the other OSes, checked as far as Linux can:
#    the NSIS hooks compile with makensis (warnings are errors), the macOS
#    Info.plist parses and makes a menu-bar app.
makensis -V1 -WX -DHOOKS="$PWD/installers/windows/hooks.nsh" -DOUT="$work/hooks-check.exe" \
  installers/windows/check-hooks.nsi >"$work/makensis.log" 2>&1 || fail "NSIS hooks: $(cat "$work/makensis.log")"
python3 - installers/macos/Info.plist <<'PY' || fail "installers/macos/Info.plist is invalid"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
assert p["LSUIElement"] is True, p
PY
ok "NSIS hooks compile; macOS Info.plist sets LSUIElement"

# 8. Bad input gets a clear error.
if installers/headless/install.sh --binary "$work/nope" --prefix "$prefix" 2>"$work/err.log"; then fail "a missing binary was accepted"; fi
grep -q "hint:" "$work/err.log" || fail "no hint on a missing binary"
ok "missing binary is refused with a hint"

# 9. The hub's haproxy config parses (warnings are errors), with a throwaway
#    self-signed certificate in place of the real one.
hub_unit=installers/hub/specbridge-hub.service
hub_env=installers/hub/hub.env.example
have_haproxy=""
if command -v haproxy >/dev/null 2>&1; then
  have_haproxy=1
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$work/tls.key" -out "$work/tls.crt" >"$work/openssl.log" 2>&1 || fail "openssl: cannot make a test certificate"
  cat "$work/tls.crt" "$work/tls.key" >"$work/specbridge.pem"
  grep -q "crt /etc/haproxy/certs/specbridge.pem" installers/hub/haproxy.cfg || fail "haproxy.cfg: the certificate placeholder moved"
  sed "s|/etc/haproxy/certs/specbridge.pem|$work/specbridge.pem|" installers/hub/haproxy.cfg >"$work/haproxy.cfg"
  haproxy -dW -c -f "$work/haproxy.cfg" >"$work/haproxy-check.log" 2>&1 || fail "haproxy -c: $(cat "$work/haproxy-check.log")"
  ok "haproxy -c on installers/hub/haproxy.cfg"
else
  echo "installers: skip - haproxy not available (scripts/deps.sh installs it)"
fi

# 10. The hub's system unit is valid systemd syntax, pointed at the debug binary.
if command -v systemd-analyze >/dev/null 2>&1; then
  grep -q "^ExecStart=/usr/local/bin/specbridge-hub serve$" "$hub_unit" || fail "hub unit: ExecStart is not /usr/local/bin/specbridge-hub serve"
  mkdir -p "$work/hub-unit"
  sed "s|^ExecStart=/usr/local/bin/specbridge-hub |ExecStart=$bin/specbridge-hub |" "$hub_unit" >"$work/hub-unit/specbridge-hub.service"
  systemd-analyze verify "$work/hub-unit/specbridge-hub.service" 2>"$work/hub-verify.log" || fail "systemd-analyze verify (hub): $(cat "$work/hub-verify.log")"
  [ ! -s "$work/hub-verify.log" ] || fail "systemd-analyze verify (hub) warned: $(cat "$work/hub-verify.log")"
  ok "systemd-analyze verify on the hub unit"
else
  echo "installers: skip - systemd-analyze not available"
fi

# 11. Every SPECBRIDGE_HUB_* variable the unit and the env file name is one the
#     hub reads (clap prints each option's variable as "[env: NAME=...]", or
#     "[env: NAME]" for one whose value it hides, like the database URL).
hub_help="$("$bin/specbridge-hub" --help; "$bin/specbridge-hub" serve --help)"
hub_vars="$(grep -ohE 'SPECBRIDGE_HUB_[A-Z_]+' "$hub_unit" "$hub_env" | sort -u)"
[ -n "$hub_vars" ] || fail "no SPECBRIDGE_HUB_* variable in the unit or the env file"
unknown=""
for v in $hub_vars; do grep -qE "\[env: $v(=|\])" <<<"$hub_help" || unknown="$unknown $v"; done
[ -z "$unknown" ] || fail "named in installers/hub but not in specbridge-hub --help / serve --help:$unknown"
ok "hub variables are real options: $(tr '\n' ' ' <<<"$hub_vars")"

# 12. A hub started as the unit starts it: the unit's Environment= lines, then
#     the env file (behind-proxy on, as for haproxy), with the data folder and
#     the port moved into the temp dir. It answers its probes and logs JSON.
hub_port=$((20000 + RANDOM % 20000))
[ "$hub_port" != "$port" ] || hub_port=$((hub_port + 1))
{
  sed -n 's/^Environment=//p' "$hub_unit"
  sed -e "s|^SPECBRIDGE_HUB_LISTEN=.*|SPECBRIDGE_HUB_LISTEN=127.0.0.1:$hub_port|" \
    -e 's|^#SPECBRIDGE_HUB_BEHIND_PROXY=|SPECBRIDGE_HUB_BEHIND_PROXY=|' "$hub_env"
} | sed "s|/var/lib/specbridge-hub|$work/hub-state|g" >"$work/hub.env"
grep -q "^SPECBRIDGE_HUB_LISTEN=127.0.0.1:$hub_port$" "$work/hub.env" || fail "hub.env.example has no SPECBRIDGE_HUB_LISTEN= line"
grep -q "^SPECBRIDGE_HUB_BEHIND_PROXY=true$" "$work/hub.env" || fail "hub.env.example has no #SPECBRIDGE_HUB_BEHIND_PROXY=true line"
drain_ms="$(sed -n 's/^SPECBRIDGE_HUB_DRAIN_MS=//p' "$work/hub.env")"
[ "$drain_ms" = 3000 ] || fail "hub.env.example: SPECBRIDGE_HUB_DRAIN_MS is '$drain_ms', expected 3000"
stop_s="$(sed -n 's/^TimeoutStopSec=//p' "$hub_unit")"
[ "$stop_s" -gt $((drain_ms / 1000 + 5)) ] || fail "hub unit: TimeoutStopSec=$stop_s is not above drain + 5 s"
(
  set -a
  # shellcheck disable=SC1091
  . "$work/hub.env"
  set +a
  exec "$bin/specbridge-hub" serve
) >"$work/hub-unit.log" 2>&1 &
hub_pid=$!
pids+=("$hub_pid")
hub_url="http://127.0.0.1:$hub_port"
for _ in $(seq 1 100); do curl -fsS "$hub_url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
code="$(curl -s -o "$work/healthz.json" -w '%{http_code}' "$hub_url/healthz" || true)"
[ "$code" = 200 ] || fail "hub from the env file: /healthz answered '$code' on $hub_url"
[ -d "$work/hub-state" ] || fail "hub from the env file did not use the unit's data folder"
code="$(curl -s -o "$work/readyz.json" -w '%{http_code}' "$hub_url/readyz" || true)"
[ "$code" = 200 ] || fail "hub from the env file: /readyz answered '$code'"
curl -fsS "$hub_url/metrics" >"$work/metrics.txt" 2>/dev/null || fail "hub from the env file: /metrics failed"
grep -q '^# TYPE ' "$work/metrics.txt" || fail "/metrics has no '# TYPE' lines"
python3 - "$work/hub-unit.log" <<'PY' || fail "SPECBRIDGE_HUB_LOG_FORMAT=json: the log is not JSON lines"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
for l in lines:
    json.loads(l)
PY
ok "hub from the env file: /healthz and /readyz 200, /metrics has # TYPE lines, JSON logs"

# 13. The same hub behind installers/hub/haproxy.cfg (ports moved, hub1 pointed
#     at it, no chroot or user switch, 500 connections, logs on stderr): TLS,
#     the redirect, X-Forwarded-Proto in the links it hands out, /metrics kept
#     inside, and a WebSocket upgrade through the tunnel.
if [ -n "$have_haproxy" ]; then
  p80=$((hub_port + 1)); p443=$((hub_port + 2))
  sed -e "s|^\( *bind \):80$|\1127.0.0.1:$p80|" -e "s|^\( *bind \):443 |\1127.0.0.1:$p443 |" \
    -e "s|^\( *server hub1 \)[0-9.]*:7700|\1127.0.0.1:$hub_port|" -e "s|^\( *maxconn \).*|\1500|" \
    -e '/^ *\(chroot\|user\|group\) /d' -e 's|^\( *log \)/dev/log |\1stderr |' "$work/haproxy.cfg" >"$work/haproxy-live.cfg"
  grep -q "bind 127.0.0.1:$p443 ssl" "$work/haproxy-live.cfg" && grep -q "server hub1 127.0.0.1:$hub_port" "$work/haproxy-live.cfg" \
    || fail "haproxy.cfg: the :443 bind or the hub1 server line moved"
  haproxy -db -f "$work/haproxy-live.cfg" >"$work/haproxy.log" 2>&1 &
  pids+=($!)
  tls="https://127.0.0.1:$p443"
  for _ in $(seq 1 100); do curl -ksf "$tls/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  code="$(curl -ks -o /dev/null -w '%{http_code}' "$tls/healthz" || true)"
  [ "$code" = 200 ] || fail "haproxy: /healthz over TLS answered '$code'"
  location="$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$p80/pair" || true)"
  [ "$location" = "301 https://127.0.0.1:$p80/pair" ] || fail "haproxy: :80 answered '$location', expected a 301 to https"
  code="$(curl -ks -o /dev/null -w '%{http_code}' "$tls/metrics" || true)"
  [ "$code" = 404 ] || fail "haproxy: /metrics is reachable from outside ('$code')"
  pair="$(curl -ksS -H 'content-type: application/json' \
    -d '{"machine_name":"tls-check","machine_id":"tls-check","os":"linux"}' "$tls/v1/pair/start")"
  grep -q "\"verification_url\":\"https://127.0.0.1:$p443/pair\"" <<<"$pair" || fail "haproxy: the pairing link is not https: $pair"
  hub_machine="$(SPECBRIDGE_HUB_DATA="$work/hub-state" "$bin/specbridge-hub" token create --kind machine --name tls 2>/dev/null | grep -oE 'sbt_[A-Za-z0-9_-]+' | head -n 1)"
  # The hub waits for `hello` after the upgrade; curl gives up after 2 s with the 101 seen.
  code="$(curl -ks --http1.1 --max-time 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $hub_machine" \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$tls/v1/bridge" || true)"
  [ "$code" = 101 ] || fail "haproxy: the bridge WebSocket upgrade answered '$code'"
  ok "haproxy: TLS, :80 redirect, https pairing link, /metrics 404 outside, WebSocket upgrade"
else
  echo "installers: skip - haproxy not available, no TLS check"
fi

# 14. SIGTERM drains: /readyz answers 503 while the hub still runs, then it
#     exits 0 within the drain plus 6 s (the unit's stop timeout is above that).
kill -TERM "$hub_pid"
draining=""
for _ in $(seq 1 20); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$hub_url/readyz" || true)" = 503 ] && { draining=1; break; }
  sleep 0.1
done
[ -n "$draining" ] || fail "after SIGTERM /readyz never answered 503"
exited=""
for _ in $(seq 1 $((drain_ms / 100 + 60))); do
  kill -0 "$hub_pid" 2>/dev/null || { exited=1; break; }
  sleep 0.1
done
[ -n "$exited" ] || fail "the hub was still running $((drain_ms / 1000 + 6)) s after SIGTERM"
hub_rc=0
wait "$hub_pid" || hub_rc=$?
[ "$hub_rc" = 0 ] || fail "the hub exited $hub_rc after SIGTERM"
ok "SIGTERM: /readyz 503 during the drain, exit 0"

echo "installers: $passed passed, 0 failed"
