#!/usr/bin/env bash
# Long fault soak (not part of CI): a hub process and a bridge process with the
# fault proxy between them; rounds of kill -9 (bridge, hub), stall, black hole,
# reset and delay, with edits from both sides during each fault and the
# invariants checked after it (hub matches disk, no temp files, nothing applied
# twice, nothing acknowledged lost). Prints each round, then what it tried and
# what held; exits 1 if anything did not hold (the logs are kept and named).
#
#   ./scripts/chaos.sh MINUTES [--fast] [--seed N]
#
# Production heartbeats by default (a stall or black hole is held 45 s, past
# the 40 s detection bound); --fast uses 1 s heartbeats for quicker rounds.
# A short run of the same soak is part of `cargo test` (crates/faults).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "usage: $0 MINUTES [--fast] [--seed N]" >&2
  exit 2
fi
minutes="$1"
shift
cargo build --locked -q -p specbridge-faults --bin specbridge-chaos
RUST_LOG="${RUST_LOG:-warn}" exec target/debug/specbridge-chaos soak --minutes "$minutes" "$@"
