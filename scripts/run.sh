#!/usr/bin/env bash
# Installs what is missing, builds (release), and starts the console on SQLite in ./data.
# Extra arguments go to `wimdeck serve`, e.g. --listen 0.0.0.0:8080.
source "$(dirname "$0")/common.sh"

ensure_build_tools
build_server release
build_site release

data="$ROOT/data"
config="$data/wimdeck.toml"
if [[ ! -f "$config" ]]; then
    step "Writing $config (images are read from $data/sources, also as \\\\wimdeck\\sources)"
    write_demo_config "$config" "$data/sources"
fi
step "Demo data: sample WIMs in $data/sources, imported into an empty catalog"
"$ROOT/target/release/wimdeck" demo seed "$data/sources" --data-dir "$data" --config "$config"

step "Starting Wimdeck (data in $data; Ctrl-C stops it)"
export WIMDECK_SITE_ROOT="$ROOT/target/site"
exec "$ROOT/target/release/wimdeck" serve --data-dir "$data" --config "$config" "$@"
