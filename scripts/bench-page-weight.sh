#!/usr/bin/env bash
# Page weight and time to interactive of the release build in Debian's Chromium; prints the
# figures and writes end2end/bench-results/page-weight.json. Not part of the test suite.
source "$(dirname "$0")/common.sh"

ensure_build_tools
ensure_apt chromium
build_server release
build_site release
printf 'bundle: %s\n' "$(cd target/site/pkg && ls -l --time-style=+ wimdeck.* | awk '{print $5, $6}' | tr '\n' ' ')"

step "Measuring in Chromium"
cd end2end
if [ ! -d node_modules/@playwright/test ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
E2E_WIMDECK_BIN="$ROOT/target/release/wimdeck" npx playwright test --config bench.config.ts
