#!/usr/bin/env bash
# The property tests of the codec, the command catalogue and the path policy
# with many more cases than CI runs (CI: proptest's default 256 per test).
# Not part of CI. Usage: ./scripts/props.sh [CASES]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-100000}"
echo "== $cases cases per property"
PROPTEST_CASES="$cases" cargo test --release --locked -p specbridge-protocol --test props
PROPTEST_CASES="$cases" cargo test --release --locked -p specbridge-protocol --lib content
PROPTEST_CASES="$cases" cargo test --release --locked -p specbridge-bridge --lib policy::
