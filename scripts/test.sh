#!/usr/bin/env bash
# Every test: Rust (unit, store, server over loopback, sync between devices,
# canvas under a private Xvfb with lavapipe), then the UI in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

# The canvas tests start their own Xvfb; lavapipe is Mesa's CPU Vulkan driver.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
unset WAYLAND_DISPLAY

echo "== cargo test"
cargo test --workspace --no-fail-fast

echo "== ui tests (Chromium)"
(cd ui && npm run typecheck && npm test)
