#!/usr/bin/env bash
# Runs the tray app from source: installs the Debian packages and npm
# dependencies it needs, builds the UI (embedded in the binary), then starts
# the app. First run opens onboarding; afterwards it lives in the tray.
# Extra arguments go to cargo (for example --release).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
if [ ! -d node_modules/@tauri-apps/api ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --workspace ui; else npm install --no-audit --no-fund --workspace ui; fi
fi
npm run build --workspace ui
# The tray process's own binary, which specbridge-tray execs (without it the
# tray runs in-process, with WebKit's libraries mapped).
cargo build --locked -p specbridge-tray-host "$@"
exec cargo run --locked -p specbridge-tray "$@"
