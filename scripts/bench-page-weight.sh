#!/usr/bin/env bash
# Page weight and time to interactive of the release build in Debian's Chromium; prints the
# figures and writes end2end/bench-results/page-weight.json. Not part of the test suite.
source "$(dirname "$0")/common.sh"

ensure_build_tools
ensure_apt chromium
build_server release
build_site release
# The bundle's files by kind: the main module and its loader, the area chunks and theirs.
( cd target/site/pkg && for f in wimdeck.* __wasm_split.* chunk_* split_*; do
    if [ -f "$f" ]; then printf '%s %s\n' "$(stat -c %s "$f")" "$f"; fi; done ) \
  | awk '{ kind = $2; sub(/^[^.]*\.[0-9a-f]+\./, "", kind); group = ($2 ~ /^wimdeck/ ? "main " : "chunks ") kind;
           n[group]++; s[group] += $1 }
         END { for (g in s) printf "bundle: %s: %d files, %d bytes\n", g, n[g], s[g] }' | sort

step "Measuring in Chromium"
cd end2end
if [ ! -d node_modules/@playwright/test ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
E2E_WIMDECK_BIN="$ROOT/target/release/wimdeck" npx playwright test --config bench.config.ts
