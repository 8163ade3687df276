#!/bin/sh
# Installs the headless specbridge bridge and its service definition.
#
#   install.sh [--binary PATH] [--prefix DIR] [--service-dir DIR] [--no-service] [--enable]
#   install.sh --uninstall [--prefix DIR] [--service-dir DIR]
#
# Linux: the binary goes to PREFIX/bin (default ~/.local, or /usr/local as root)
# and a systemd *user* unit to ~/.config/systemd/user/specbridge.service.
# macOS: a launchd agent goes to ~/Library/LaunchAgents/dev.specbridge.bridge.plist.
# Nothing here touches the bridge's config, token or state: an upgrade keeps the
# pairing and the projects, and --uninstall leaves them where they are.
set -eu

die() { echo "install.sh: error: $1" >&2; [ -n "${2:-}" ] && echo "  hint: $2" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
os=$(uname -s)
binary=""
prefix=""
service_dir=""
service=1
enable=0
uninstall=0

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --service-dir) service_dir=${2:?}; shift 2 ;;
    --no-service) service=0; shift ;;
    --enable) enable=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1'" "run install.sh --help" ;;
  esac
done

if [ -z "$prefix" ]; then
  if [ "$(id -u)" -eq 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
bindir="$prefix/bin"

case "$os" in
  Linux)
    unit_name=specbridge.service
    template="$here/specbridge.service"
    [ -n "$service_dir" ] || service_dir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user" ;;
  Darwin)
    unit_name=dev.specbridge.bridge.plist
    template="$here/dev.specbridge.bridge.plist"
    [ -n "$service_dir" ] || service_dir="$HOME/Library/LaunchAgents" ;;
  *) die "unsupported OS '$os'" "on Windows, use the tray app installer (.msi or setup.exe)" ;;
esac

if [ "$uninstall" -eq 1 ]; then
  if [ "$os" = Linux ] && [ -f "$service_dir/$unit_name" ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --user disable --now "$unit_name" 2>/dev/null || true
  fi
  rm -f "$bindir/specbridge" "$service_dir/$unit_name"
  echo "removed $bindir/specbridge and $service_dir/$unit_name"
  echo "kept your config, token and state (see 'Where your data lives' in the README);"
  echo "run 'specbridge logout' before uninstalling to forget the token too."
  exit 0
fi

if [ -z "$binary" ]; then
  for candidate in "$here/specbridge" "$here/../../target/release/specbridge"; do
    if [ -x "$candidate" ]; then binary=$candidate; break; fi
  done
fi
[ -n "$binary" ] || die "no specbridge binary found" \
  "pass --binary PATH, or build one with: cargo build --release -p specbridge-cli"
[ -x "$binary" ] || die "'$binary' is not an executable file" "pass the path of the specbridge binary"
"$binary" --version >/dev/null 2>&1 || die "'$binary' does not run on this machine" \
  "download the build for $(uname -s) $(uname -m)"

mkdir -p "$bindir"
# Copy then rename, so a running bridge keeps its old inode and the swap is atomic.
cp "$binary" "$bindir/.specbridge.new"
chmod 0755 "$bindir/.specbridge.new"
mv -f "$bindir/.specbridge.new" "$bindir/specbridge"
echo "installed $bindir/specbridge ($("$bindir/specbridge" --version))"

if [ "$service" -eq 1 ]; then
  mkdir -p "$service_dir"
  logdir="$HOME/Library/Logs/specbridge"
  sed -e "s|@BINDIR@|$bindir|g" -e "s|@LOGDIR@|$logdir|g" "$template" > "$service_dir/.$unit_name.new"
  mv -f "$service_dir/.$unit_name.new" "$service_dir/$unit_name"
  echo "installed $service_dir/$unit_name"
fi

echo
echo "Next steps:"
echo "  1. Log in (a server has no keychain, so keep the token in a 0600 file):"
echo "       $bindir/specbridge login --hub https://hub.example.com --vault file"
echo "  2. Share a project folder:"
echo "       $bindir/specbridge projects add /path/to/project"
if [ "$service" -eq 1 ] && [ "$os" = Linux ]; then
  echo "  3. Start the service, now and at boot:"
  echo "       systemctl --user daemon-reload && systemctl --user enable --now specbridge"
  echo "       loginctl enable-linger \"\$USER\"   # keeps it running when you are logged out"
  if [ "$enable" -eq 1 ]; then
    systemctl --user daemon-reload && systemctl --user enable --now specbridge \
      || die "systemctl --user failed" "is a user systemd instance running? try 'loginctl enable-linger $USER'"
  fi
elif [ "$service" -eq 1 ]; then
  echo "  3. Start the agent, now and at login:"
  echo "       mkdir -p \"$HOME/Library/Logs/specbridge\""
  echo "       launchctl bootstrap gui/\$(id -u) $service_dir/$unit_name"
  if [ "$enable" -eq 1 ]; then
    mkdir -p "$HOME/Library/Logs/specbridge"
    launchctl bootstrap "gui/$(id -u)" "$service_dir/$unit_name"
  fi
fi
echo "  Check it with: $bindir/specbridge status"
