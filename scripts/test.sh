#!/usr/bin/env bash
# Installs what the tests need and runs every test: formatting and lints, Rust unit and
# integration tests (SQLite and PostgreSQL), the release browser bundle, and Playwright in Chromium
# (desktop and phone). PostgreSQL must answer at 127.0.0.1:5432 (or TEST_POSTGRES_URL).
source "$(dirname "$0")/common.sh"

ensure_build_tools
# Chromium for Playwright; wimtools, libhivex-bin and libxml2-utils (xmllint) are independent
# readers of what we write.
ensure_apt chromium wimtools libhivex-bin libxml2-utils nftables iproute2

pg_url="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_hostport=$(printf '%s' "$pg_url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')
pg_host=${pg_hostport%:*}; pg_port=${pg_hostport##*:}; [ "$pg_port" = "$pg_hostport" ] && pg_port=5432
if ! (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
  die "PostgreSQL is not reachable at $pg_host:$pg_port; the suite runs against it (set TEST_POSTGRES_URL)"
fi

step "Formatting"
cargo fmt --all --check

step "Lints (server build)"
cargo clippy --locked -p migrations -p domain -p app -p server -p bundler --all-targets -- -D warnings
step "Lints (browser build)"
cargo clippy --locked -p frontend --target wasm32-unknown-unknown -- -D warnings

step "Rust tests (SQLite and PostgreSQL)"
cargo test --locked -p migrations -p domain -p app -p server

# The release bundle, as users get it: the pages are split into chunks that only a split build
# has, and the suite checks its weight (end2end/tests/bundle.spec.ts).
build_site release

step "End-to-end tests (Playwright, Chromium: desktop and phone)"
cd end2end
if [ ! -d node_modules/@playwright/test ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
E2E_WIMDECK_BIN="$ROOT/target/debug/wimdeck" npx playwright test
