#!/usr/bin/env bash
# Measures the release tray app under Xvfb, onboarded and syncing one folder
# with this computer as the hub (the e2e test does the onboarding): total RSS
# of its process tree (the app + WebKit's web and network processes) with the
# window open and with no window, idle CPU over 60 s with no window, and the
# stripped binary size. Prints the numbers recorded in docs/benchmarks.md.
#   npm run build --workspace ui && ./scripts/bench-tray.sh            (release build)
#   PROFILE=debug ./scripts/bench-tray.sh                               (the binary scripts/test-tray.sh built)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
[ "$profile" = release ] && cargo build --release --locked -p specbridge-tray
cargo build --locked -p specbridge-hub
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
bin=$PWD/target/$profile/specbridge-tray
export PATH="$PWD/target/tools/bin:$PATH"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work" BROWSER=true E2E_WORK="$work/e2e" SCREENSHOTS="$work/shots"
mkdir -p "$E2E_WORK"
xvfb-run -a -s "-screen 0 1280x900x24" dbus-run-session -- ./scripts/with-keyring.sh \
  node ui/e2e/onboarding.mjs "$bin" target/debug/specbridge-hub > "$work/e2e.log" 2>&1 || { cat "$work/e2e.log"; exit 1; }
export SPECBRIDGE_HOME="$E2E_WORK/specbridge"

tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p"); do tree "$c"; done; }
rss_kb() { local t=0 r; for p in $(tree "$1"); do r=$(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null); t=$((t + ${r:-0})); done; echo "$t"; }
ticks() { local t=0 r; for p in $(tree "$1"); do r=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null); t=$((t + ${r:-0})); done; echo "$t"; }
measure() { # $1 = label; SPECBRIDGE_OPEN_WINDOW decides the window
  xvfb-run -a -s "-screen 0 1280x900x24" dbus-run-session -- ./scripts/with-keyring.sh "$bin" 2> "$work/app.log" &
  local app=""
  for _ in $(seq 50); do app=$(pgrep -f -n "^$bin" || true); [ -n "$app" ] && break; sleep 0.2; done
  sleep 20
  grep -q "link state.*connected" "$work/app.log" || echo "warning: the app did not report a connected link" >&2
  echo "$1: $(( $(rss_kb "$app") / 1024 )) MiB RSS (process tree: $(tree "$app" | wc -l) processes)"
  if [ "$1" = "no window" ]; then
    local t0 t1 hz; t0=$(ticks "$app"); sleep 60; t1=$(ticks "$app"); hz=$(getconf CLK_TCK)
    awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "idle CPU (no window): %.3f %% of one core over 60 s\n", d / hz / 60 * 100 }'
  fi
  kill "$app"; wait || true
}
SPECBRIDGE_OPEN_WINDOW=1 measure "window open"
measure "no window"
size=$(stat -c %s "$bin")
echo "$profile binary (UI embedded): $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"
