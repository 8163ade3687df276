#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: builds the release binaries, then runs the
# benchmark binary (crates/cli/benches/sync.rs). Pass a section name
# (latency, corpus, process) to run only that part. `dashboard [iterations]`
# runs the dashboard latency benchmark in Chromium (e2e/scripts/bench.mjs).
# The binaries are built one at a time: together, the CLI's small-zstd feature
# (crates/cli/Cargo.toml) would reach the hub too.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
if [ "${1:-}" = dashboard ]; then
  npm ci --no-audit --no-fund --loglevel=error
  npm run build -w dashboard
  cargo build --release --locked -p specbridge-cli
  cargo build --release --locked -p specbridge-hub
  SPECBRIDGE_BIN_DIR="$PWD/target/release" node e2e/scripts/bench.mjs "${2:-200}"
  exit
fi
cargo build --release --locked -p specbridge-cli
cargo build --release --locked -p specbridge-hub
cargo bench --locked -p specbridge-cli --bench sync -- "$@"
