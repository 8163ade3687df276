#!/usr/bin/env bash
# Measures the release tray app under Xvfb, onboarded and syncing one folder
# with this computer as the hub (the e2e test does the onboarding, and prints
# the process tree's RSS with the window open and 5 s after the window closed
# itself). Then, in a fresh start: total RSS and PSS of the process tree (the
# tray process, and while a window shows, the window process with WebKit's
# web and network processes) at idle with no window, with the settings window
# opened by a second launch, and 5 s after the window process ended; idle CPU
# over 60 s; the stripped binary size. Prints the numbers recorded in
# docs/benchmarks.md. Not part of CI.
#   npm run build --workspace ui && ./scripts/bench-tray.sh            (release build)
#   PROFILE=debug ./scripts/bench-tray.sh                               (the binary scripts/test-tray.sh built)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
[ "$profile" = release ] && cargo build --release --locked -p specbridge-tray -p specbridge-tray-host
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
grep "window closed:" "$work/e2e.log" | sed 's/^/e2e (closed by the window itself): /'
export SPECBRIDGE_HOME="$E2E_WORK/specbridge"

tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p"); do tree "$c"; done; }
sum_kb() { # $1 = pid, $2 = file under /proc/<pid>, $3 = field
  local t=0 r; for p in $(tree "$1"); do r=$(awk -v f="$3:" '$1 == f {print $2}' "/proc/$p/$2" 2>/dev/null); t=$((t + ${r:-0})); done; echo "$t"
}
report() { # $1 = label, $2 = tray pid
  local rss pss n
  rss=$(sum_kb "$2" status VmRSS); pss=$(sum_kb "$2" smaps_rollup Pss); n=$(tree "$2" | wc -l)
  echo "$1: $((rss / 1024)) MiB RSS, $((pss / 1024)) MiB PSS (process tree: $n processes)"
}
ticks() { local t=0 r; for p in $(tree "$1"); do r=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null); t=$((t + ${r:-0})); done; echo "$t"; }

cat > "$work/session.sh" <<EOF
#!/usr/bin/env bash
# Inside one X display and D-Bus session: the tray, then a second launch.
"$bin" 2> "$work/app.log" &
echo \$! > "$work/tray.pid"
wait
EOF
chmod +x "$work/session.sh"
xvfb-run -a -s "-screen 0 1280x900x24" dbus-run-session -- ./scripts/with-keyring.sh "$work/session.sh" &
session=$!
for _ in $(seq 50); do [ -s "$work/tray.pid" ] && break; sleep 0.2; done
app=$(cat "$work/tray.pid")
sleep 20
grep -q "link state.*connected" "$work/app.log" || echo "warning: the app did not report a connected link" >&2
report "idle, no window" "$app"
t0=$(ticks "$app"); sleep 60; t1=$(ticks "$app"); hz=$(getconf CLK_TCK)
awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "idle CPU (no window): %.3f %% of one core over 60 s\n", d / hz / 60 * 100 }'

# A second launch hands over to the running tray, which opens the window.
DISPLAY=$(tr '\0' '\n' < "/proc/$app/environ" | sed -n 's/^DISPLAY=//p') \
DBUS_SESSION_BUS_ADDRESS=$(tr '\0' '\n' < "/proc/$app/environ" | sed -n 's/^DBUS_SESSION_BUS_ADDRESS=//p') \
  "$bin" 2>> "$work/app.log"
sleep 10
report "window open" "$app"
window=$(pgrep -P "$app" -f -- "--window" || true)
[ -n "$window" ] || { echo "no window process" >&2; cat "$work/app.log"; exit 1; }
# The window process ends with its window; SIGTERM stands in for the close
# button here (no window manager under Xvfb). The e2e line above is the real close.
kill "$window"
sleep 5
report "5 s after the window closed" "$app"
kill "$app"; wait "$session" || true
size=$(stat -c %s "$bin"); host_size=$(stat -c %s "$bin-host")
echo "$profile tray binary (specbridge-tray-host): $host_size bytes ($(numfmt --to=iec-i --suffix=B "$host_size"))"
echo "$profile binary (UI embedded): $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"
