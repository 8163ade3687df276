#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if any are missing.
# Safe to run again: it does nothing when everything is there.
set -euo pipefail

packages=(
  pkg-config libdbus-1-dev   # keyring's Secret Service backend links libdbus
  libzstd-dev                 # the headless specbridge links the system's libzstd on Linux (crates/cli/Cargo.toml)
  libssl-dev                  # the bridge's TLS is the system's OpenSSL (native-tls, crates/bridge/src/link/connect.rs)
  curl                        # demo.sh talks to the hub with curl
  systemd                     # systemd-analyze verifies the headless service unit
  chromium                    # the dashboard's browser end-to-end tests (playwright-core drives it)
  libssl3                     # the pinned LeanSpec CLI binary (e2e/lib/leanspec.mjs) links OpenSSL 3
  # The tray app (Tauri 2 on WebKitGTK) and its tests: the WebDriver e2e test
  # runs the real window under Xvfb; keychain tests use gnome-keyring in dbus-run-session.
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  xvfb xauth webkit2gtk-driver gnome-keyring dbus-x11 dbus
  desktop-file-utils rpm      # the packaged app: validate its desktop entries, inspect the .rpm
  nsis                        # compile the Windows installer hooks (makensis) as a check
  # The hub's deployment (installers/hub): test-installers.sh checks the haproxy
  # config with a throwaway openssl certificate and runs the hub behind it; the
  # multi-node tests start real Postgres and NATS servers from these packages.
  haproxy openssl postgresql nats-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
