#!/usr/bin/env bash
# Starts the console for the end-to-end tests on a fresh SQLite database with known users.
set -euo pipefail
port=$1
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${E2E_WIMDECK_BIN:-$root/target/debug/wimdeck}"
data="$root/target/e2e-data"
password='correct horse battery'

rm -rf "$data"
source "$root/scripts/common.sh"
config="$data/wimdeck.toml"
write_demo_config "$config" "$data/sources"
# The shortest confirmation window, so a test can outwait it.
printf '\n[session]\nreauthenticate_after_minutes = 1\n' >>"$config"
"$bin" demo seed "$data/sources" --data-dir "$data" --config "$config"
echo "$password" | "$bin" user add admin --role full-administrator --password-stdin --data-dir "$data"
echo "$password" | "$bin" user add analyst --role read-only-analyst --password-stdin --data-dir "$data"
echo "$password" | "$bin" user add operator --role content-operator --password-stdin --data-dir "$data"
export WIMDECK_SITE_ROOT="$root/target/site"
exec "$bin" serve --data-dir "$data" --config "$config" --listen "127.0.0.1:$port"
