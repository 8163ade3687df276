#!/usr/bin/env bash
# The spec-aware "done when" flows with curl, by hand: a hub and a bridge on
# copies of the real LeanSpec and spec-workflow projects in ../shared/corpus,
# then each flow with the diff it made on disk. Everything lives in a temp
# folder that is removed at the end; the hub listens on SPECBRIDGE_DEMO_PORT
# (default 17931).
set -eu
cd "$(dirname "$0")/.."
corpus="${SPECBRIDGE_CORPUS:-../shared/corpus}"
[ -d "$corpus/leanspec" ] && [ -d "$corpus/spec-workflow-keyrx" ] || { echo "no corpus at $corpus" >&2; exit 1; }
cargo build --quiet -p specbridge-hub -p specbridge-cli
bin="$PWD/target/debug"
work="$(mktemp -d)"
export SPECBRIDGE_HUB_DATA="$work/hub" SPECBRIDGE_HOME="$work/bridge"
cp -r "$corpus/leanspec" "$work/leanspec"
cp -r "$corpus/spec-workflow-keyrx" "$work/keyrx"
port="${SPECBRIDGE_DEMO_PORT:-17931}"
"$bin/specbridge-hub" serve --listen "127.0.0.1:$port" >"$work/hub.log" 2>&1 &
hub_pid=$!
br_pid=
trap 'kill $hub_pid $br_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
tok() { grep -oE 'sbt_[A-Za-z0-9_-]+' | head -n 1; }
machine_token="$("$bin/specbridge-hub" token create --kind machine --name m 2>/dev/null | tok)"
user_token="$("$bin/specbridge-hub" token create --kind user --name u 2>/dev/null | tok)"
printf '%s' "$machine_token" | "$bin/specbridge" login --hub "http://127.0.0.1:$port" --vault file --token-stdin >/dev/null
"$bin/specbridge" projects add "$work/leanspec" --name lean >/dev/null
"$bin/specbridge" projects add "$work/keyrx" --name keyrx >/dev/null
# A job pinned by the machine's owner: the only thing the hub can start here.
"$bin/specbridge" jobs add keyrx count --name Count --enable --unattended --yes -- \
  sh -c 'for i in 1 2 3; do echo tick $i; sleep 0.3; done'
"$bin/specbridge" projects list
"$bin/specbridge" run >"$work/bridge.log" 2>&1 &
br_pid=$!
H=(-s -H "Authorization: Bearer $user_token" -H 'Content-Type: application/json')
A="http://127.0.0.1:$port/api/projects"
for _ in $(seq 100); do curl "${H[@]}" "$A" | grep -q '"online":true' && break; sleep 0.1; done
show() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d)[:300])'; }

echo "== GET /api/projects"; curl "${H[@]}" "$A" | show
echo "== GET lean specs (status, task progress)"; curl "${H[@]}" "$A/lean/specs" | show
echo "== GET keyrx specs"; curl "${H[@]}" "$A/keyrx/specs" | show

readme=specs/010-commands-refactor/README.md
cp "$work/leanspec/$readme" "$work/before"
echo "== PATCH status of 010-commands-refactor"
curl "${H[@]}" -X PATCH -d '{"changes":{"status":"in-progress"}}' "$A/lean/specs/010-commands-refactor/frontmatter" | show
diff "$work/before" "$work/leanspec/$readme" || true

spec="$(grep -l '^- \[ \] [0-9]' "$work/keyrx/.spec-workflow/specs/"*/tasks.md | head -n 1 | xargs dirname | xargs basename)"
task="$(grep -m1 -oE '^- \[ \] [0-9.]+' "$work/keyrx/.spec-workflow/specs/$spec/tasks.md" | grep -oE '[0-9.]+$' | sed 's/\.$//')"
cp "$work/keyrx/.spec-workflow/specs/$spec/tasks.md" "$work/before"
echo "== PUT task $task of $spec to completed"
curl "${H[@]}" -X PUT -d '{"status":"completed"}' "$A/keyrx/specs/$spec/tasks/$task/status" | show
diff "$work/before" "$work/keyrx/.spec-workflow/specs/$spec/tasks.md" || true

id="$(curl "${H[@]}" "$A/keyrx/approvals?status=pending" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
echo "== POST approve $id with a response"
curl "${H[@]}" -X POST -d '{"response":"Looks good"}' "$A/keyrx/approvals/$id/approve" | show

echo "== POST archive, then unarchive $spec"
curl "${H[@]}" -X POST "$A/keyrx/specs/$spec/archive" | show
curl "${H[@]}" -X POST "$A/keyrx/specs/$spec/unarchive" | show

echo "== POST implementation log entry for task $task"
curl "${H[@]}" -X POST -d "{\"task_id\":\"$task\",\"summary\":\"Done from curl\",\"files_modified\":[\"a.rs\"],\"artifacts\":{}}" \
  "$A/keyrx/specs/$spec/implementation-log" | show

echo "== stale base_hash: HTTP status"
curl "${H[@]}" -o /dev/null -w '%{http_code}\n' -X PATCH \
  -d '{"changes":{"status":"complete"},"base_hash":"0000000000000000000000000000000000000000000000000000000000000000"}' \
  "$A/lean/specs/010-commands-refactor/frontmatter"

echo "== a job, streamed (curl -N)"
curl -N "${H[@]}" -X POST "$A/keyrx/jobs/count/run?stream=1"

echo "== spec-list timings (first builds the model, then cached)"
for p in lean lean lean keyrx keyrx keyrx; do curl "${H[@]}" -o /dev/null -w "$p %{time_total}s\n" "$A/$p/specs"; done
echo "== audit log: $(wc -l <"$work/bridge/audit.log") lines"
