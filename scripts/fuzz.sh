#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input with cargo-fuzz (libFuzzer): the INF reader, the
# catalog-file (.cat) reader and the answer-file merge. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# cargo-fuzz needs nightly features; the machine's stable toolchain provides them with
# RUSTC_BOOTSTRAP=1 (nothing is downloaded but cargo-fuzz itself, from crates.io).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/common.sh"
ensure_build_tools
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(inf catalog_file answer_file)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cd "$root/fuzz"
for target in "${targets[@]}"; do
  # A scratch copy of the committed seeds: what the fuzzer finds is not committed.
  work="$root/target/fuzz-corpus/$target"
  mkdir -p "$work"
  cp -n corpus/"$target"/* "$work"/ 2>/dev/null || true
  echo "== $target: $seconds s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$work" -- -max_total_time="$seconds" -print_final_stats=1
done
