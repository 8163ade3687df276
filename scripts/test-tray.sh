#!/usr/bin/env bash
# The tray app's tests beyond `cargo test --workspace` (which runs its unit and
# mock-runtime tests): the UI build, the keychain tests inside a D-Bus session
# with an unlocked gnome-keyring and without any keychain, and the WebDriver
# end-to-end test of the real app under Xvfb. Called by scripts/test.sh before
# the workspace build, because the app embeds ui/dist at compile time.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. The UI (Vite + TypeScript), embedded in the binary.
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --workspace ui --include-workspace-root=false; else npm install --no-audit --no-fund --workspace ui; fi
npm run build --workspace ui

# 2. The app and its tests (built once, with the test feature unified in, so the
#    e2e binary is the one `cargo test` built), the hub CLI (to read the
#    embedded hub from outside), and tauri-driver.
cargo test --locked -p specbridge-tray -p specbridge-tray-host --no-run
cargo build --locked -p specbridge-hub
tools="$PWD/target/tools"
if [ ! -x "$tools/bin/tauri-driver" ]; then
  cargo install --locked --root "$tools" tauri-driver --version '^2'
fi
export PATH="$tools/bin:$PATH"

# 3. Keychain: with an unlocked gnome-keyring the token lands in the keychain
#    and nowhere else; with no D-Bus at all the error is typed and the file
#    fallback is explicit.
# The keyring lives in a throwaway HOME; cargo and rustup keep theirs.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
keyring_home=$(mktemp -d)
trap 'rm -rf "$keyring_home"' EXIT
HOME="$keyring_home" SPECBRIDGE_TEST_KEYCHAIN=1 dbus-run-session -- ./scripts/with-keyring.sh \
  cargo test --locked -p specbridge-tray-host --test pairing the_token_sits_in_the_keychain -- --nocapture
env -u DBUS_SESSION_BUS_ADDRESS SPECBRIDGE_TEST_KEYCHAIN=absent \
  cargo test --locked -p specbridge-tray-host --test pairing the_token_sits_in_the_keychain -- --nocapture

# 4. End to end: onboarding in the real window over WebDriver, a real hub, a real folder.
HOME="$keyring_home" xvfb-run -a -s "-screen 0 1280x900x24" dbus-run-session -- ./scripts/with-keyring.sh \
  node ui/e2e/onboarding.mjs target/debug/specbridge-tray target/debug/specbridge-hub
