#!/usr/bin/env bash
# Checks the headless installer: install into a temp prefix and HOME, verify the
# systemd unit and the launchd plist, run the unit's own ExecStart against a real
# hub after `specbridge login`, upgrade in place (pairing and projects kept) and
# uninstall (user data kept). Also compiles the tray app's Windows NSIS hooks
# and parses its macOS Info.plist. Needs the debug binaries from `cargo test`.
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

echo "installers: $passed passed, 0 failed"
