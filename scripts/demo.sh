#!/usr/bin/env bash
# Runs specbridge on an embedded default: a local hub on 127.0.0.1, and the
# headless bridge sharing a scratch copy of examples/sample-project with it.
# Prints what to open and curl. Ctrl-C stops both.
#
#   ./scripts/demo.sh            run until Ctrl-C
#   ./scripts/demo.sh --smoke    run the edit loop once, check it, and exit (used by the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
port="${SPECBRIDGE_DEMO_PORT:-7700}"
[ "$smoke" = 1 ] && port="${SPECBRIDGE_DEMO_PORT:-17700}"
work="${SPECBRIDGE_DEMO_DIR:-$PWD/.specbridge-dev}"
hub_url="http://127.0.0.1:$port"

./scripts/deps.sh
# The hub embeds the web dashboard at build time; without npm it serves a page saying how to build it.
if command -v npm >/dev/null; then
  [ -x node_modules/.bin/vite ] || npm ci --no-audit --no-fund --loglevel=error
  npm run build --silent -w dashboard >/dev/null
else
  echo "npm not found: the hub will serve a placeholder instead of the dashboard (install Node.js 20+)" >&2
fi
cargo build --quiet --locked -p specbridge-hub -p specbridge-cli
bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug"

# A fresh scratch area each run: the demo never touches the repo's files.
rm -rf "$work"
mkdir -p "$work"
cp -R examples/sample-project "$work/sample-project"
export SPECBRIDGE_HUB_DATA="$work/hub"
export SPECBRIDGE_HOME="$work/bridge"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$bin/specbridge-hub" serve --listen "127.0.0.1:$port" >"$work/hub.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "$hub_url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$hub_url/healthz" >/dev/null || { cat "$work/hub.log"; echo "hub did not start" >&2; exit 1; }

token_of() { grep -oE 'sbt_[A-Za-z0-9_-]+' | head -n 1; }
machine_token="$("$bin/specbridge-hub" token create --kind machine --name demo-machine 2>/dev/null | token_of)"
user_token="$("$bin/specbridge-hub" token create --kind user --name demo-user 2>/dev/null | token_of)"

# The demo keeps the token in a 0600 file: a scratch machine may have no keychain.
printf '%s' "$machine_token" | "$bin/specbridge" login --hub "$hub_url" --vault file --token-stdin >/dev/null
"$bin/specbridge" projects add "$work/sample-project" --name sample-project >/dev/null
"$bin/specbridge" run >"$work/bridge.log" 2>&1 &
pids+=($!)

auth=(-H "Authorization: Bearer $user_token")
api() { curl -fsS "${auth[@]}" "$@"; }
machine=""
for _ in $(seq 1 100); do
  machine="$(api "$hub_url/v1/machines" 2>/dev/null | grep -oE '"id":"[^"]+"' | head -n 1 | cut -d'"' -f4 || true)"
  [ -n "$machine" ] && api "$hub_url/v1/machines/$machine/projects/sample-project/files" 2>/dev/null | grep -q 001-user-login && break
  sleep 0.1
done
files="$hub_url/v1/machines/$machine/projects/sample-project/files"
spec="specs/001-user-login/README.md"

if [ "$smoke" = 1 ]; then
  fail() { echo "demo smoke: $*" >&2; tail -n 20 "$work/hub.log" "$work/bridge.log" >&2; exit 1; }
  [ -n "$machine" ] || fail "the bridge never showed up at the hub"
  # 1. A local edit reaches the hub.
  echo "- [ ] Smoke-test line" >>"$work/sample-project/$spec"
  for _ in $(seq 1 50); do api "$files/$spec" | grep -q "Smoke-test line" && break; sleep 0.1; done
  api "$files/$spec" | grep -q "Smoke-test line" || fail "local edit did not reach the hub"
  # 2. A write through the hub lands on disk, under the base-hash rule.
  hash="$(curl -fsS -o /dev/null -D - "${auth[@]}" "$files/$spec" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: "\(.*\)"/\1/p')"
  sed 's/status: in-progress/status: complete/' "$work/sample-project/$spec" >"$work/edited.md"
  api -X PUT -H "If-Match: \"$hash\"" --data-binary @"$work/edited.md" "$files/$spec" >/dev/null || fail "write was refused"
  grep -q "status: complete" "$work/sample-project/$spec" || fail "write did not land on disk"
  # 3. The hub serves the built dashboard (not the placeholder page).
  curl -fsS "$hub_url/" | grep '<div id="app">' >/dev/null || fail "the dashboard page is not served"
  # 4. A stale base hash is a conflict and changes nothing.
  code="$(curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" -X PUT -H "If-Match: \"$hash\"" --data-binary 'clobber' "$files/$spec")"
  [ "$code" = 409 ] || fail "stale write answered $code, expected 409"
  grep -q "status: complete" "$work/sample-project/$spec" || fail "conflicting write changed the file"
  echo "smoke: 4 passed, 0 failed"
  exit 0
fi

cat <<MSG

specbridge is running.
  dashboard:  $hub_url/          (sign in with the API token below)
  hub:        $hub_url          (logs: $work/hub.log)
  bridge:     sharing $work/sample-project   (logs: $work/bridge.log)
  machine:    $machine
  API token:  $user_token

Open the dashboard, sign in with the token, open sample-project and change a spec's
status: the file changes in $work/sample-project at once. Edit a file there and the
page follows; edit the same file in both places and the dashboard shows both versions.

Or with curl:
  curl -H 'Authorization: Bearer $user_token' $hub_url/v1/machines
  curl -H 'Authorization: Bearer $user_token' $files
  curl -H 'Authorization: Bearer $user_token' $files/$spec

  # edit locally, then fetch again:
  echo '- [ ] New task' >> $work/sample-project/$spec

  # write through the hub (If-Match = the ETag you last saw; a stale one gets 409 conflict):
  curl -i -H 'Authorization: Bearer $user_token' $files/$spec | grep -i etag
  curl -X PUT -H 'Authorization: Bearer $user_token' -H 'If-Match: "<etag>"' --data-binary @my-edit.md $files/$spec

Ctrl-C stops the hub and the bridge.
MSG
wait
