#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: builds the release binaries, then runs the
# benchmark binary (crates/cli/benches/sync.rs). Pass a section name
# (latency, corpus, process) to run only that part.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release --locked -p specbridge-cli -p specbridge-hub
cargo bench --locked -p specbridge-cli --bench sync -- "$@"
