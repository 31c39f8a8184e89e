# Orrery — the two commands:
#   make run    build and start the app (bundled sync server + desktop)
#   make test   install what is missing and run every test headless
# Both install missing Debian packages (apt-get) and npm packages first.

CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR

.PHONY: run test deps ui package bindings previews screenshots bench-crdt bench-sync bench-canvas bench-layout bench-sandbox bench-load bench-admin bench-api bench-marketplace bench-startup bench-collab fmt lint clean

run: deps ui
	scripts/run.sh

test: deps ui
	scripts/test.sh

deps:
	scripts/deps.sh

ui:
	cd ui && npm run build

# The release bundles (.deb; AppImage with ORRERY_PACKAGE_APPIMAGE=1), signed
# with the release key (TAURI_SIGNING_PRIVATE_KEY, or ORRERY_PACKAGE_THROWAWAY_KEY=1
# for test packages) and every signature checked with minisign. Not part of
# `make test`. See README, "Updates and releases".
package: deps ui
	scripts/package.sh

# Rewrites the reference screenshots of every screen (ui/tests/reference/:
# light and dark, 800×600 and 1440×900) from a fresh build; review them in
# git diff before committing.
screenshots: ui
	cd ui && ORRERY_UPDATE_SCREENSHOTS=1 node --test tests/screenshots.test.mjs

# The template gallery's previews, drawn by the canvas (ui/public/templates/*.png);
# a canvas test fails while one differs from what the canvas draws now.
PREVIEW_SIZE = 400x168
previews:
	cargo build --workspace --bin canvas
	mkdir -p ui/public/templates
	for key in research-team support-triage code-review document-extraction; do \
	  store=$$(mktemp -d); \
	  xvfb-run -a -s "-screen 0 1280x800x24" env -u WAYLAND_DISPLAY WGPU_BACKEND=vulkan \
	    $(CARGO_TARGET_DIR)/debug/canvas --store $$store/local.db --template $$key --bare \
	    --size $(PREVIEW_SIZE) --screenshot ui/public/templates/$$key.png --exit-after-screenshot > /dev/null || exit 1; \
	  rm -rf $$store; \
	done

# ui/src/bindings.ts: the webview's types and command calls, generated from
# the desktop's Rust commands and events (make test fails while it is stale).
bindings:
	ORRERY_UPDATE_BINDINGS=1 cargo test --workspace --test bindings

# The CRDT library comparison (Loro vs Automerge) that chose Loro.
bench-crdt:
	cargo run --release -p orrery-bench -- sync-merge

# Sync figures against a real server on loopback, SQLite and PostgreSQL.
bench-sync: deps
	cargo build --release -p orrery-canvas -p orrery-bench --bins
	$(CARGO_TARGET_DIR)/release/orrery-bench sync --postgres

# The management window's figures: 100k users, 100k subscriptions, 1M events,
# SQLite and PostgreSQL.
bench-admin: deps
	cargo build --release -p orrery-bench
	$(CARGO_TARGET_DIR)/release/orrery-bench admin --postgres

# The sandbox orchestrator: overhead per step and a 200-agent run against the provider double.
AGENTS ?= 200
bench-sandbox:
	cargo run --release -p orrery-bench -- sandbox --agents $(AGENTS)

# The sync server under 200 devices' mixed traffic and attack (60 s, then 30 s to settle).
# The public API and the channels against the provider double (JSON line:
# run_overhead_p50_ms, concurrent_runs_ok, rss_mb_per_round, telegram_reply_p50_ms).
bench-api:
	cargo build --release -p orrery-server -p orrery-bench --bins
	$(CARGO_TARGET_DIR)/release/orrery-bench api

bench-marketplace: deps
	cargo build --release -p orrery-bench
	$(CARGO_TARGET_DIR)/release/orrery-bench marketplace --postgres

# People of one team editing one graph (JSON line: edit_to_peer_p50_ms and
# edit_to_peer_p99_ms at 2, 10 and 50 people, presence_msgs_per_s_max, server_cpu_cores).
bench-collab:
	cargo build --release -p orrery-server -p orrery-bench --bins
	$(CARGO_TARGET_DIR)/release/orrery-bench collab

# The desktop app's cold start to its first painted window and its idle memory
# (the release app that `make package` builds; JSON line: to_main_window_ms, idle_rss_mib).
bench-startup:
	test -x $(CARGO_TARGET_DIR)/release/orrery || ORRERY_PACKAGE_THROWAWAY_KEY=1 scripts/package.sh
	cargo build --release -p orrery-bench
	$(CARGO_TARGET_DIR)/release/orrery-bench startup

bench-load:
	cargo build --release -p orrery-server -p orrery-bench --bins
	$(CARGO_TARGET_DIR)/release/orrery-bench load

bench-layout:
	cargo run --release -p orrery-bench -- layout --nodes $(NODES)

# NODES/EDGES/FRAMES override the graph: make bench-canvas NODES=100000 EDGES=200000
NODES ?= 10000
EDGES ?= 20000
FRAMES ?= 120
bench-canvas: deps
	cargo build --release -p orrery-canvas -p orrery-bench --bins
	$(CARGO_TARGET_DIR)/release/orrery-bench canvas --nodes $(NODES) --edges $(EDGES) --frames $(FRAMES)

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cd ui && npm run typecheck

clean:
	cargo clean
	rm -rf ui/dist ui/node_modules

# The same graph drawn by our canvas and by 3d-force-graph in headless
# Chromium, in one run: both frame rates and the ratio (NODES/EDGES/FRAMES as above).
.PHONY: bench-peer
bench-peer: deps
	cd bench/peer && npm ci --no-audit --no-fund
	cargo build --release -p orrery-canvas -p orrery-bench --bin canvas --bin orrery-bench
	$(CARGO_TARGET_DIR)/release/orrery-bench peer --nodes $(NODES) --edges $(EDGES) --frames $(FRAMES)
