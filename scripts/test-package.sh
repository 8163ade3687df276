#!/usr/bin/env bash
# The tray app as a Debian user gets it:
#  1. bundle the .deb and the .rpm (npm @tauri-apps/cli `tauri bundle`) from
#     the debug build scripts/test-tray.sh made, and check what is inside;
#  2. `dpkg -i` it, launch the installed /usr/bin/specbridge-tray under Xvfb and
#     complete first-run onboarding over WebDriver (ui/e2e/onboarding.mjs);
#  3. upgrade in place to a newer version of the package and check the app
#     opens on settings with the same pairing, machine name and folder;
#  4. remove and purge the package and check the user's data is still there;
#  5. `specbridge-tray --forget-everything` removes that data on request.
# Needs root (dpkg), the packages from scripts/deps.sh and a prior
# scripts/test-tray.sh (target/debug/specbridge-tray, tauri-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

if [ "${1:-}" = "--in-session" ]; then
  # Inside xvfb-run + dbus-run-session + with-keyring.sh: steps 2 and 3, which
  # must share one keychain (the token lives there across the upgrade).
  deb="$2" newer="$3" work="$4" newer_version="$5"
  export E2E_WORK="$work/e2e" E2E_PLATFORM_DIRS=1 SCREENSHOTS="$work/shots"
  E2E_AUTOSTART=1 node ui/e2e/onboarding.mjs /usr/bin/specbridge-tray target/debug/specbridge-hub
  login_item="$HOME/.config/autostart/specbridge.desktop"
  grep -qx 'Exec=/usr/bin/specbridge-tray' "$login_item" || { echo "package: no login item for the installed app" >&2; exit 1; }
  dpkg -i "$newer" >"$work/upgrade.log"
  [ "$(dpkg-query -W -f '${Version}' specbridge)" = "$newer_version" ] || { echo "package: the upgrade did not install" >&2; exit 1; }
  E2E_MODE=reopen node ui/e2e/onboarding.mjs /usr/bin/specbridge-tray target/debug/specbridge-hub
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "package: dpkg -i needs root (CI runs as root); skipping" >&2; exit 0; }
[ -x target/debug/specbridge-tray ] && [ -x target/debug/specbridge-tray-host ] || { echo "package: run scripts/test-tray.sh first" >&2; exit 1; }
export PATH="$root/target/tools/bin:$PATH"

work="$(mktemp -d)"
cleanup() {
  dpkg --purge specbridge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package: $*" >&2; exit 1; }
passed=0
ok() { echo "package: ok - $*"; passed=$((passed + 1)); }

# 0. Every icon the bundles use is the one icons/source.svg makes (icon.icns
#    embeds a timestamp, so it is left out of the comparison).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  npm run --silent icons >/dev/null
  git diff --quiet -- icons ':!icons/icon.icns' || fail "icons/ differs from what icons/source.svg gives: run npm run icons and commit"
  git checkout -q -- icons/icon.icns
  ok "icons match icons/source.svg"
else
  echo "package: skip - not a git checkout, cannot compare the icons"
fi

# 1. Bundle. The debug binary keeps CI fast; a release build bundles the same way.
rm -rf target/debug/bundle/deb target/debug/bundle/rpm
# The tray process's binary ships beside the app's (tauri.conf.json names the
# release one; this bundle takes the debug build's).
host_files='{ "/usr/bin/specbridge-tray-host": "../target/debug/specbridge-tray-host" }'
npx tauri bundle --debug --bundles deb,rpm --ci \
  --config "{\"bundle\":{\"linux\":{\"deb\":{\"files\":$host_files},\"rpm\":{\"files\":$host_files}}}}" >"$work/bundle.log" 2>&1 || { cat "$work/bundle.log" >&2; fail "tauri bundle failed"; }
deb="$(ls target/debug/bundle/deb/specbridge_*_amd64.deb)"
dpkg-deb -I "$deb" >"$work/info.txt"
dpkg-deb -c "$deb" >"$work/files.txt"
# libssl3: the bridge's TLS is the system's OpenSSL (crates/bridge/src/link/connect.rs).
for dep in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1 libssl3; do
  grep -q "Depends:.*$dep" "$work/info.txt" || fail "Depends lacks $dep: $(grep Depends "$work/info.txt")"
done
for f in usr/bin/specbridge-tray usr/bin/specbridge-tray-host usr/share/applications/specbridge.desktop \
  usr/share/icons/hicolor/32x32/apps/specbridge-tray.png usr/share/icons/hicolor/128x128/apps/specbridge-tray.png; do
  grep -Eq " (\./)?$f\$" "$work/files.txt" || fail "$f is not in the package"
done
ok "bundled $(basename "$deb") ($(du -h "$deb" | cut -f1)) with its dependencies, desktop entry and icons"
rpm="$(ls target/debug/bundle/rpm/specbridge-*.x86_64.rpm)"
rpm -qpR "$rpm" >"$work/requires.txt" 2>/dev/null
for lib in libwebkit2gtk-4.1.so.0 libgtk-3.so.0 libayatana-appindicator3.so.1 openssl-libs; do
  grep -q "^$lib" "$work/requires.txt" || fail "the rpm does not require $lib"
done
# Listed to a file first: `rpm | grep -q` under pipefail fails when grep
# exits at the match and rpm, still writing, dies of SIGPIPE (seen in CI).
rpm -qpl "$rpm" >"$work/rpm-files.txt" 2>/dev/null
grep -qx /usr/share/applications/specbridge.desktop "$work/rpm-files.txt" || fail "no desktop entry in the rpm"
ok "bundled $(basename "$rpm") with its library requirements and desktop entry"

dpkg-deb -x "$deb" "$work/unpacked"
desktop="$work/unpacked/usr/share/applications/specbridge.desktop"
grep -q '^Exec=specbridge-tray$' "$desktop" && grep -q '^Icon=specbridge-tray$' "$desktop" \
  || fail "desktop entry: $(cat "$desktop")"
desktop-file-validate "$desktop" || fail "desktop-file-validate refused the menu entry"
sed -e 's#@EXEC@#/usr/bin/specbridge-tray#' -e 's#@TRYEXEC@#/usr/bin/specbridge-tray#' installers/linux/autostart.desktop >"$work/autostart.desktop"
desktop-file-validate "$work/autostart.desktop" || fail "desktop-file-validate refused the autostart entry"
ok "menu and autostart entries pass desktop-file-validate"

# A newer version of the same package, for the upgrade: same files, higher version.
# "+upgrade" sorts after the plain version in dpkg's order, so this is an upgrade.
newer_version="$(dpkg-deb -f "$deb" Version)+upgrade"
dpkg-deb -R "$deb" "$work/newer"
sed -i "s/^Version: .*/Version: $newer_version/" "$work/newer/DEBIAN/control"
dpkg-deb -b "$work/newer" "$work/specbridge-newer.deb" >/dev/null

# 2 + 3. Install, onboard, upgrade, reopen: as a fresh user with a throwaway HOME.
dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i failed"; }
[ -x /usr/bin/specbridge-tray ] || fail "dpkg -i did not install /usr/bin/specbridge-tray"
ok "dpkg -i $(basename "$deb")"
user_home="$work/home"
mkdir -p "$user_home"
HOME="$user_home" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
  env -u XDG_CONFIG_HOME -u XDG_STATE_HOME -u XDG_DATA_HOME \
  xvfb-run -a -s "-screen 0 1280x900x24" dbus-run-session -- ./scripts/with-keyring.sh \
  "$0" --in-session "$deb" "$work/specbridge-newer.deb" "$work" "$newer_version"
ok "the installed app opens onboarding on first run, syncs once onboarded, and writes its login item when asked"
ok "an upgrade keeps pairing, machine name and folder; updates come from the hub and unsigned ones are refused"

# 4. Removing the package keeps the user's data.
config="$user_home/.config/specbridge/config.toml"
[ -f "$config" ] || fail "no config after onboarding at $config"
dpkg -r specbridge >/dev/null
[ ! -e /usr/bin/specbridge-tray ] || fail "dpkg -r left the binary"
dpkg --purge specbridge >/dev/null 2>&1  # nothing left to purge after -r: no conffiles
[ -f "$config" ] && [ -d "$user_home/.local/state/specbridge/hub" ] || fail "removing the package removed user data"
grep -q 'name = "E2E Workstation"' "$config" || fail "the machine name is gone from $config"
ok "dpkg -r / --purge keep ~/.config/specbridge and ~/.local/state/specbridge"

# 5. ...until the user asks: the binary from the package removes it.
dpkg -i "$deb" >/dev/null 2>&1
HOME="$user_home" env -u XDG_CONFIG_HOME -u XDG_STATE_HOME dbus-run-session -- ./scripts/with-keyring.sh \
  /usr/bin/specbridge-tray --forget-everything >"$work/forget.log" 2>&1 || { cat "$work/forget.log" >&2; fail "--forget-everything failed"; }
grep -q "removed the token for http://127.0.0.1:" "$work/forget.log" || fail "no token removed: $(cat "$work/forget.log")"
grep -q "removed the login item" "$work/forget.log" || fail "the login item stayed: $(cat "$work/forget.log")"
[ ! -e "$user_home/.config/specbridge" ] && [ ! -e "$user_home/.local/state/specbridge" ] || fail "data left after --forget-everything"
[ -d "$work/e2e/code/app/specs" ] || fail "--forget-everything touched the user's spec folder"
ok "--forget-everything removes token, config and state, and leaves spec folders alone"

echo "package: $passed passed, 0 failed"
