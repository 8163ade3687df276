#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: builds the release binaries, then runs the
# benchmark binary (crates/cli/benches/sync.rs). Pass a section name
# (latency, corpus, process) to run only that part. `dashboard [iterations]`
# runs the dashboard latency benchmark in Chromium (e2e/scripts/bench.mjs);
# `jobs [jobs] [lines/s] [seconds] [dashboards]` the job output benchmark
# (e2e/scripts/bench-jobs.mjs; defaults 10 100 20 50).
# `recovery [crash|deadlink|bytes]` measures recovery from faults
# (crates/faults/src/bench.rs: hub kill -9 under 50 bridges, dead-link
# detection with production timers, reconnect bytes).
# `cluster [bridges]` measures two hub nodes on Postgres + NATS behind haproxy
# (crates/faults/src/bench_cluster.rs: memory per idle bridge, failover after
# a node is killed, commands and dashboard events across nodes; default 20000).
# The binaries are built one at a time: together, the CLI's small-zstd feature
# (crates/cli/Cargo.toml) would reach the hub too.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
if [ "${1:-}" = jobs ]; then
  npm ci --no-audit --no-fund --loglevel=error
  npm run build -w dashboard
  cargo build --release --locked -p specbridge-cli
  cargo build --release --locked -p specbridge-hub
  shift
  SPECBRIDGE_BIN_DIR="$PWD/target/release" node e2e/scripts/bench-jobs.mjs "$@"
  exit
fi
if [ "${1:-}" = dashboard ]; then
  npm ci --no-audit --no-fund --loglevel=error
  npm run build -w dashboard
  cargo build --release --locked -p specbridge-cli
  cargo build --release --locked -p specbridge-hub
  SPECBRIDGE_BIN_DIR="$PWD/target/release" node e2e/scripts/bench.mjs "${2:-200}"
  exit
fi
if [ "${1:-}" = cluster ]; then
  # Two release hub nodes on Postgres + NATS behind haproxy (all started here);
  # each idle bridge costs descriptors in the bench, haproxy and the hub.
  cargo build --release --locked -p specbridge-faults --bin specbridge-chaos
  ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  RUST_LOG="${RUST_LOG:-warn}" exec target/release/specbridge-chaos bench-cluster --bridges "${2:-20000}"
fi
if [ "${1:-}" = recovery ]; then
  # A dev build: these numbers are timers, backoff and process starts, not CPU.
  cargo build --locked -p specbridge-faults --bin specbridge-chaos
  RUST_LOG="${RUST_LOG:-warn}" exec target/debug/specbridge-chaos bench ${2:+"$2"}
fi
cargo build --release --locked -p specbridge-cli
cargo build --release --locked -p specbridge-hub
cargo bench --locked -p specbridge-cli --bench sync -- "$@"
