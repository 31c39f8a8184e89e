#!/usr/bin/env bash
# Installs what building and testing Orrery needs and is missing: Debian
# packages (WebKitGTK for the shell, Xvfb + Mesa lavapipe for the headless
# canvas, xdotool, Chromium, D-Bus + gnome-keyring for the Secret Service the
# desktop keeps its session in, PostgreSQL for the multi-instance server tests,
# sudo for installing updates of the app)
# and the UI's npm packages. Idempotent and quiet
# when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  pkg-config libssl-dev curl
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  libsoup-3.0-dev libxdo-dev libxkbcommon-dev libwayland-dev libudev-dev
  libvulkan1 mesa-vulkan-drivers xvfb xauth xdotool chromium
  libdbus-1-dev dbus dbus-daemon gnome-keyring webkit2gtk-driver x11-utils
  postgresql
  # The updater installs a .deb update with `sudo dpkg -i` where no polkit
  # agent is (the app_update test, as root).
  sudo
)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "installing npm packages for ui/"
  # `npm install --no-save` rather than `npm ci`: the npm here writes lock files
  # without other platforms' optional packages (rollup's native builds), which
  # `npm ci` then refuses as out of sync. This installs exactly the locked
  # versions and leaves package-lock.json untouched.
  (cd ui && npm install --no-save --no-audit --no-fund)
fi

# tauri-driver speaks WebDriver for the desktop app (src-tauri/tests/app_sign_in.rs).
tools="${ORRERY_TOOLS_DIR:-$HOME/.cache/orrery/tools}"
if [ ! -x "$tools/bin/tauri-driver" ]; then
  echo "installing tauri-driver into $tools"
  cargo install tauri-driver --version 2.1.0 --locked --root "$tools" --quiet
fi
