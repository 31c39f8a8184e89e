#!/usr/bin/env bash
# Every test: Rust (unit, store, server over loopback, sync between devices,
# canvas under a private Xvfb with lavapipe), then the UI in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

# The desktop keeps its session in the OS keyring (Secret Service). A headless
# machine has none, so the tests run inside a private D-Bus session with a
# gnome-keyring daemon whose login keyring is created and unlocked here.
if [ -z "${ORRERY_IN_KEYRING_SESSION:-}" ]; then
  exec env ORRERY_IN_KEYRING_SESSION=1 dbus-run-session -- bash scripts/test.sh "$@"
fi

# The canvas tests start their own Xvfb; lavapipe is Mesa's CPU Vulkan driver.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
unset WAYLAND_DISPLAY

echo "== cargo test"
keyring_home="$(mktemp -d)"
export XDG_DATA_HOME="$keyring_home/data"
mkdir -p "$XDG_DATA_HOME"
eval "$(printf 'orrery-tests' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
export TAURI_DRIVER="${TAURI_DRIVER:-${ORRERY_TOOLS_DIR:-$HOME/.cache/orrery/tools}/bin/tauri-driver}"
cargo test --workspace --no-fail-fast

echo "== ui tests (Chromium)"
(cd ui && npm run typecheck && npm test)
