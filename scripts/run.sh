#!/usr/bin/env bash
# Installs what is missing, builds (release), and starts the console on SQLite in ./data.
# Extra arguments go to `wimdeck serve`, e.g. --listen 0.0.0.0:8080.
source "$(dirname "$0")/common.sh"

ensure_build_tools
build_server release
build_site release

step "Starting Wimdeck (data in $ROOT/data; Ctrl-C stops it)"
export WIMDECK_SITE_ROOT="$ROOT/target/site"
exec "$ROOT/target/release/wimdeck" serve --data-dir "$ROOT/data" "$@"
