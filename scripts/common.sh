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

# build_site debug|release — the browser bundle and stylesheet into target/site/pkg.
# The wasm is linked with its relocations kept, split by bundler/ into a main module and one
# chunk per console area (the console's pages are lazy routes, which only run split), bound by
# wasm-bindgen, shrunk (release), named after its content and published.
BUNDLE=wimdeck
BINARYEN_VERSION=132.0.0
# Each page's view stays a function of its own (app/src/routes.rs, `page_view`): -Oz would
# inline it into its area's only call.
WASM_OPT_FLAGS='--no-inline=*page_view* -Oz --enable-bulk-memory --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-reference-types'
build_site() {
  local profile_dir profile_args=() staging=target/site/staging build_hash
  step "Building the browser bundle ($1)"
  if [ "$1" = release ]; then
    profile_args=(--profile wasm-release)
    profile_dir=wasm-release
  else
    profile_dir=debug
  fi
  cargo rustc --locked -p frontend --lib --crate-type cdylib --target wasm32-unknown-unknown \
    "${profile_args[@]}" -- -Clink-args=--emit-relocs
  cargo build --locked --release -p bundler
  local input="target/wasm32-unknown-unknown/$profile_dir/frontend.wasm"
  # Names the split files; covers everything that shapes them (the input, the tools and their
  # flags), or browsers would keep a chunk of an earlier build under the same name for a year.
  build_hash=$( { sha256sum "$input" target/release/bundler
    printf '%s %s %s %s\n' "$1" "$BINARYEN_VERSION" "$(wasm-bindgen --version)" "$WASM_OPT_FLAGS"; } \
    | sha256sum | cut -c1-20)
  rm -rf "$staging"
  target/release/bundler "$input" "$staging" "$build_hash"
  wasm-bindgen --target web --no-typescript --keep-lld-exports --out-dir "$staging" \
    --out-name "$BUNDLE" "$staging/main.wasm"
  rm "$staging/main.wasm"
  cp style/wimdeck.css "$staging/$BUNDLE.css"
  if [ "$1" = release ]; then
    shrink_site "$staging"
  fi
  name_site "$staging" "$build_hash"
  if [ "$1" = release ]; then
    compress_site "$staging"
  fi
  publish_site "$staging"
}

# wasm-opt from npm's binaryen (Debian's 108 produces wasm that fails in the browser), on every
# module of the bundle, both cores at once, with $WASM_OPT_FLAGS.
shrink_site() {
  local tools="$ROOT/target/tools"
  if [ ! -x "$tools/node_modules/.bin/wasm-opt" ] || ! grep -q "\"version\": \"$BINARYEN_VERSION\"" "$tools/node_modules/binaryen/package.json" 2>/dev/null; then
    step "Installing binaryen $BINARYEN_VERSION (npm) for wasm-opt"
    npm install --no-audit --no-fund --no-save --prefix "$tools" "binaryen@$BINARYEN_VERSION" >/dev/null
  fi
  step "Optimising the wasm for size"
  # sh -c runs with $0 = wasm-opt, $1 = the module; the flags are split into words, not globbed.
  find "$1" -name '*.wasm' -print0 \
    | FLAGS=$WASM_OPT_FLAGS xargs -0 -n1 -P "$(nproc)" sh -fc \
        '"$0" $FLAGS "$1" -o "$1.opt" && mv "$1.opt" "$1"' "$tools/node_modules/.bin/wasm-opt"
}

# Names the main wasm, its loader and the stylesheet after their content (the chunks and their
# loader already carry the build's hash) and writes the hashes to hash.txt in the staging
# directory, which the server reads: browsers keep such files for a year and fetch new ones
# only when a build changes them.
name_site() {
  local dir=$1 split_hash=$2 key file ext hash
  : >"$dir/hash.txt"
  for key in js wasm css; do
    case $key in
      js) file=$dir/$BUNDLE.js ext=js ;;
      wasm) file=$dir/${BUNDLE}_bg.wasm ext=wasm ;;
      css) file=$dir/$BUNDLE.css ext=css ;;
    esac
    hash=$(sha256sum "$file" | cut -c1-20)
    mv "$file" "$dir/$BUNDLE.$hash.$ext"
    if [ $key = js ]; then
      # The chunks' loader imports the main module by the name wasm-bindgen gave it.
      sed -i "s#\"./$BUNDLE.js\"#\"./$BUNDLE.$hash.js\"#" "$dir/__wasm_split.$split_hash.js"
    fi
    printf '%s: %s\n' "$key" "$hash" >>"$dir/hash.txt"
  done
  printf 'split: %s\nmanifest: %s\n' "$split_hash" "$split_hash" >>"$dir/hash.txt"
}

# gzip and brotli copies that the server sends to browsers that accept them.
compress_site() {
  find "$1" \( -name '*.wasm' -o -name '*.js' -o -name '*.css' \) -print0 \
    | xargs -0 -n1 -P "$(nproc)" sh -c 'gzip -9 -k -f "$1" && brotli -q 11 -k -f "$1"' compress
  local wasm_br=0 f
  for f in "$1"/*.wasm.br; do wasm_br=$((wasm_br + $(stat -c %s "$f"))); done
  printf 'wasm: %s bytes in %s modules, %s bytes brotli\n' \
    "$(cat "$1"/*.wasm | wc -c)" "$(ls "$1"/*.wasm | wc -l)" "$wasm_br"
}

# Moves the staged bundle into target/site/pkg, then replaces hash.txt (the server reads it per
# page, so pages name the new files from then on), then removes the files of builds before the
# previous one: a page opened before this build may still fetch its own chunks.
publish_site() {
  local staged=$1 pkg=target/site/pkg file keep
  mkdir -p "$pkg"
  cp style/favicon.svg "$pkg/"
  keep=$(cat "$staged/hash.txt" $([ -f target/site/hash.txt ] && echo target/site/hash.txt) \
    | awk '{ print $2 }' | sort -u)
  for file in "$staged"/*; do
    [ "$(basename "$file")" = hash.txt ] || mv -f "$file" "$pkg/"
  done
  mv "$staged/hash.txt" target/site/hash.txt.part
  mv target/site/hash.txt.part target/site/hash.txt
  rmdir "$staged"
  for file in "$pkg"/*; do
    case $(basename "$file") in
      "$BUNDLE".*.* | __wasm_split*.*.* | split_*.*.* | chunk_*.*.*) ;;
      *) continue ;;
    esac
    printf '%s\n' "$keep" | grep -qx "$(basename "$file" | cut -d. -f2)" || rm -f "$file"
  done
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
