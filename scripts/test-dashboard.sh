#!/usr/bin/env bash
# Builds the web dashboard (npm + Vite), embeds it in the hub, and runs the
# end-to-end tests in e2e/ against a real hub and a real headless bridge on
# temp projects: the browser tests (Debian's Chromium driven by
# playwright-core) and the LeanSpec CLI conformance test (`npm ci` installs
# the pinned @leanspec/cli-linux-x64 binary it runs).
# Called by scripts/test.sh; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 or newer" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npm run build -w dashboard
# The hub embeds dashboard/dist at build time (crates/hub/build.rs).
cargo build --locked -p specbridge-hub -p specbridge-cli
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" npm test -w e2e
