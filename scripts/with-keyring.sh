#!/usr/bin/env bash
# Inside a D-Bus session: starts gnome-keyring's Secret Service with an
# unlocked login keyring (a throwaway password in a throwaway HOME), then runs "$@".
set -euo pipefail
mkdir -p "$HOME/.local/share/keyrings"
eval "$(printf 'specbridge-test' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
exec "$@"
