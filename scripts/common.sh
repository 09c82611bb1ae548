# Shared by scripts/run.sh and scripts/test.sh: install what is missing, build what is stale.
# Every step is idempotent and quick when already done. Nothing is downloaded from outside the
# package registries (Debian, crates.io, npm).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt PACKAGE… — installs the Debian packages that are not installed yet.
ensure_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "Installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# wasm-bindgen-cli must be exactly the version in Cargo.lock.
ensure_wasm_bindgen() {
  local want have
  want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
  if [ "$have" != "$want" ]; then
    step "Installing wasm-bindgen-cli $want"
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

ensure_build_tools() {
  # libclang-dev and make: wimlib's bundled C source and its bindings.
  ensure_apt ca-certificates gcc libc6-dev pkg-config make libclang-dev gzip brotli
  command -v npm >/dev/null || ensure_apt nodejs npm
  ensure_rust
  ensure_wasm_bindgen
}

# build_server debug|release
build_server() {
  step "Building the server ($1)"
  if [ "$1" = release ]; then
    cargo build --locked --release -p server
  else
    cargo build --locked -p server
  fi
}

# build_site debug|release — the wasm bundle and stylesheet into target/site/pkg.
build_site() {
  local profile_dir
  step "Building the browser bundle ($1)"
  if [ "$1" = release ]; then
    cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
    profile_dir=wasm-release
  else
    cargo build --locked -p frontend --lib --target wasm32-unknown-unknown
    profile_dir=debug
  fi
  mkdir -p target/site/pkg
  # Unhashed leftovers of an interrupted build; an earlier build's hashed files stay in use
  # (a running server names them) until hash_site has replaced them.
  rm -f target/site/pkg/"$BUNDLE".js* target/site/pkg/"${BUNDLE}"_bg.wasm* target/site/pkg/"$BUNDLE".css*
  wasm-bindgen --target web --no-typescript --out-dir target/site/pkg --out-name wimdeck \
    "target/wasm32-unknown-unknown/$profile_dir/frontend.wasm"
  cp style/wimdeck.css style/favicon.svg target/site/pkg/
  if [ "$1" = release ]; then
    shrink_site
  fi
  printf 'wasm: %s bytes\n' "$(stat -c %s target/site/pkg/wimdeck_bg.wasm)"
  hash_site
}

# Names the wasm, its loader and the stylesheet (and their compressed copies) after their
# content, and lists the hashes in target/site/hash.txt, which the server reads: browsers keep
# such files for a year and fetch new ones only when a build changes them.
BUNDLE=wimdeck
hash_site() {
  local pkg=target/site/pkg key file ext hash compressed old
  old=$(cd "$pkg" && ls "$BUNDLE".*.* 2>/dev/null || true)
  : >target/site/hash.txt.part
  for key in js wasm css; do
    case $key in
      js) file=$pkg/$BUNDLE.js ext=js ;;
      wasm) file=$pkg/${BUNDLE}_bg.wasm ext=wasm ;;
      css) file=$pkg/$BUNDLE.css ext=css ;;
    esac
    hash=$(sha256sum "$file" | cut -c1-20)
    mv "$file" "$pkg/$BUNDLE.$hash.$ext"
    for compressed in gz br; do
      if [ -f "$file.$compressed" ]; then mv "$file.$compressed" "$pkg/$BUNDLE.$hash.$ext.$compressed"; fi
    done
    printf '%s: %s\n' "$key" "$hash" >>target/site/hash.txt.part
  done
  mv target/site/hash.txt.part target/site/hash.txt
  # The earlier build's files, unless this build made the same.
  for file in $old; do
    grep -q "$(printf '%s' "$file" | cut -d. -f2)" target/site/hash.txt || rm -f "$pkg/$file"
  done
}

# wasm-opt from npm's binaryen (Debian's 108 produces wasm that fails in the browser), then
# gzip and brotli copies that the server sends to browsers that accept them.
BINARYEN_VERSION=132.0.0
shrink_site() {
  local tools="$ROOT/target/tools"
  if [ ! -x "$tools/node_modules/.bin/wasm-opt" ] || ! grep -q "\"version\": \"$BINARYEN_VERSION\"" "$tools/node_modules/binaryen/package.json" 2>/dev/null; then
    step "Installing binaryen $BINARYEN_VERSION (npm) for wasm-opt"
    npm install --no-audit --no-fund --no-save --prefix "$tools" "binaryen@$BINARYEN_VERSION" >/dev/null
  fi
  step "Optimising the wasm for size"
  "$tools/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types \
    target/site/pkg/wimdeck_bg.wasm -o target/site/pkg/wimdeck_bg.wasm.opt
  mv target/site/pkg/wimdeck_bg.wasm.opt target/site/pkg/wimdeck_bg.wasm
  local f
  for f in target/site/pkg/wimdeck_bg.wasm target/site/pkg/wimdeck.js target/site/pkg/wimdeck.css; do
    gzip -9 -k -f "$f"
    brotli -q 11 -k -f "$f"
  done
  printf 'wasm: %s bytes gzip, %s bytes brotli\n' "$(stat -c %s target/site/pkg/wimdeck_bg.wasm.gz)" \
    "$(stat -c %s target/site/pkg/wimdeck_bg.wasm.br)"
}

# A configuration whose image source root is $2 (created), also reachable as \\wimdeck\sources.
write_demo_config() {
    local config=$1 sources=$2
    mkdir -p "$sources" "$(dirname "$config")"
    cat >"$config" <<EOF
# Written by Wimdeck's scripts; edit freely. \`wimdeck config print\` shows every setting.
[images]
source_roots = ["$sources"]

[images.shares]
'\\\\wimdeck\sources' = "$sources"
EOF
}
