#!/usr/bin/env bash
# `make package`: the release bundles this machine can build, signed with the
# release key, and every signature checked against the public key the app
# trusts (src-tauri/tauri.conf.json, plugins.updater.pubkey) by minisign, an
# implementation of the check other than the app's own.
#
# The release key: TAURI_SIGNING_PRIVATE_KEY (and _PASSWORD), as
# `tauri signer generate` writes it; it must be the configured public key's
# pair. ORRERY_PACKAGE_THROWAWAY_KEY=1 signs with a key made for this build
# instead, and builds the app to trust it (a package for testing updates, never
# for release).
#
# Bundles: the .deb always; the AppImage with ORRERY_PACKAGE_APPIMAGE=1 (Tauri
# downloads linuxdeploy and appimagetool from GitHub for it, which a machine
# without access there cannot do).
set -euo pipefail
cd "$(dirname "$0")/.."

tauri="$PWD/ui/node_modules/.bin/tauri"
conf=src-tauri/tauri.conf.json
version=$(node -p "require('./$conf').version")
pubkey=$(node -p "require('./$conf').plugins.updater.pubkey")
overrides='{}'

if ! command -v minisign >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq minisign >/dev/null
  else
    echo "make package checks signatures with minisign: sudo apt-get install minisign" >&2
    exit 1
  fi
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [ "${ORRERY_PACKAGE_THROWAWAY_KEY:-}" = 1 ]; then
  "$tauri" signer generate --ci -p "" -w "$scratch/throwaway.key" >/dev/null
  export TAURI_SIGNING_PRIVATE_KEY="$(cat "$scratch/throwaway.key")"
  export TAURI_SIGNING_PRIVATE_KEY_PASSWORD=""
  pubkey=$(cat "$scratch/throwaway.key.pub")
  overrides="{\"plugins\":{\"updater\":{\"pubkey\":\"$pubkey\"}}}"
  echo "signing with a throwaway key: these packages are for testing, not for release"
elif [ -z "${TAURI_SIGNING_PRIVATE_KEY:-}" ]; then
  echo "make package needs the release key in TAURI_SIGNING_PRIVATE_KEY (README, \"Updates and releases\")," >&2
  echo "or ORRERY_PACKAGE_THROWAWAY_KEY=1 for packages that only test updates" >&2
  exit 1
fi

bundles=deb
if [ "${ORRERY_PACKAGE_APPIMAGE:-}" = 1 ]; then bundles=deb,appimage; fi
# The CLI finds the app from src-tauri/ (from the repository root it finds no package).
(cd src-tauri && "$tauri" build --ci --bundles "$bundles" --config "$overrides")

out="$CARGO_TARGET_DIR/release/bundle"
# Tauri's .deb holds the binary with its symbols, packed with gzip; the one
# shipped is stripped and packed with xz (dpkg reads either), about half the
# download. Installed-Size is counted again for the smaller binary.
for package in "$out"/deb/*_"$version"_*.deb; do
  [ -e "$package" ] || continue
  tree="$scratch/deb-tree"
  rm -rf "$tree"
  dpkg-deb -R "$package" "$tree"
  strip --strip-unneeded "$tree"/usr/bin/*
  installed=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
  sed -i "s/^Installed-Size: .*/Installed-Size: $installed/" "$tree/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz -z9 --build "$tree" "$package" >/dev/null
done
echo "$pubkey" | base64 -d > "$scratch/release.pub"
checked=0
for package in "$out"/deb/*_"$version"_*.deb "$out"/appimage/*_"$version"_*.AppImage; do
  [ -e "$package" ] || continue
  # Sign (again) with the version bound into the trusted comment, as the
  # app's requireSignedVersion demands.
  "$tauri" signer sign --app-version "$version" "$package" >/dev/null
  base64 -d < "$package.sig" > "$scratch/package.minisig"
  verdict=$(minisign -V -m "$package" -x "$scratch/package.minisig" -p "$scratch/release.pub")
  if ! grep -q "version:$version" <<<"$verdict"; then
    echo "$package: the signature does not name version $version" >&2
    exit 1
  fi
  size=$(stat -c %s "$package")
  echo "signed and checked: $package ($((size / 1024 / 1024)) MiB, $size bytes)"
  checked=$((checked + 1))
done
if [ "$checked" = 0 ]; then
  echo "no package of version $version was built under $out" >&2
  exit 1
fi
