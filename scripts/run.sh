#!/usr/bin/env bash
# Builds and starts Orrery: the bundled sync server on loopback with its SQLite
# database in the user's data directory, then the desktop app (main window +
# canvas window) connected to it. Stops the server when the app exits.
set -euo pipefail
cd "$(dirname "$0")/.."

data="${XDG_DATA_HOME:-$HOME/.local/share}/orrery"
listen="${ORRERY_SERVER_LISTEN:-127.0.0.1:7878}"
url="http://$listen"
mkdir -p "$data"

# The same build as `make test` (one feature set for the whole workspace), so
# running after testing, or testing after running, rebuilds nothing.
cargo build --workspace --all-targets
bin="$CARGO_TARGET_DIR/debug"

server_pid=""
if curl -fsS "$url/v1/health" >/dev/null 2>&1; then
  echo "a sync server already answers at $url; using it"
else
  # The bundled server serves one person: it may call their local model
  # (loopback), and seals provider keys and bot tokens with a key kept
  # beside its database, readable by them alone.
  key="$data/server-secrets.key"
  if [ ! -s "$key" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > "$key")
  fi
  "$bin/orrery-server" --database "$data/server.db" --listen "$listen" \
    --secrets-key-file "$key" --allow-private-provider-hosts &
  server_pid=$!
  trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "$url/v1/health" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { echo "the sync server failed to start" >&2; exit 1; }
    sleep 0.1
  done
fi

ORRERY_SERVER_URL="$url" ORRERY_DATA_DIR="$data/desktop" "$bin/orrery"
