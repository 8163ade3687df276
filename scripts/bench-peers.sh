#!/usr/bin/env bash
# specbridge side by side with its peers on loopback (docs/benchmarks.md,
# "Side by side with peers"). Not part of CI: it installs Syncthing from
# Debian's packages and the LeanSpec UI server from the npm registry, builds
# the release specbridge and specbridge-hub, then runs one interleaved
# measurement (scripts/bench-peers.py): save -> far end, initial sync of the
# LeanSpec corpus, bytes on the wire, idle RSS, and the ratios.
#   ./scripts/bench-peers.sh [rounds]      # default 30 saves per tool
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
if ! command -v syncthing >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq syncthing
fi
peers=target/bench-peers
if [ ! -x "$peers/node_modules/@leanspec/http-linux-x64/leanspec-http" ]; then
  mkdir -p "$peers"
  npm install --prefix "$peers" --no-save --no-audit --no-fund --loglevel=error @leanspec/http-linux-x64@0.3.0
  chmod +x "$peers/node_modules/@leanspec/http-linux-x64/leanspec-http"
fi
# One at a time: together, the CLI's zstd features would reach the hub too.
cargo build --release --locked -p specbridge-cli
cargo build --release --locked -p specbridge-hub
syncthing --version
LEANSPEC_HTTP="$PWD/$peers/node_modules/@leanspec/http-linux-x64/leanspec-http" exec python3 scripts/bench-peers.py "${1:-30}"
