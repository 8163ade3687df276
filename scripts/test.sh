#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit/integration/end-to-end
# tests, and a smoke run of the README's demo. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
./scripts/test-tray.sh   # builds ui/dist (embedded in the app) first; keychain and WebDriver e2e tests
./scripts/test-package.sh   # the .deb: bundle, dpkg -i, onboarding in the installed app, upgrade, remove
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Postgres, NATS and haproxy (deps.sh installs them) are started by the tests
# themselves; here a missing one is a failure, never a skip.
SPECBRIDGE_REQUIRE_ENGINES=1 cargo test --workspace --locked
./scripts/test-dashboard.sh
./scripts/demo.sh --smoke
./scripts/test-installers.sh
