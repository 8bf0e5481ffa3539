#!/usr/bin/env bash
# Builds the lab page into web/dist/: gangpu's engine, kernels and lab compiled to wasm32 on
# wgpu's WebGPU backend (web/src/lib.rs), wasm-bindgen's JavaScript glue, and the page.
# Needs rustup (it adds the wasm32 target) and cargo (it installs wasm-bindgen-cli from
# crates.io, the version web/Cargo.toml pins, when that one is missing).
# Serve it with scripts/serve_web.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
WB_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' web/Cargo.toml)
[ -n "$WB_VERSION" ] || { echo "web/Cargo.toml must pin wasm-bindgen with =VERSION" >&2; exit 1; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  echo "installing wasm-bindgen-cli $WB_VERSION (the version web/Cargo.toml pins; a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

cargo build --release --target wasm32-unknown-unknown --manifest-path web/Cargo.toml --target-dir target/wasm
rm -rf web/dist && mkdir -p web/dist
wasm-bindgen --target web --no-typescript --out-dir web/dist target/wasm/wasm32-unknown-unknown/release/gangpu_web.wasm
cp web/index.html web/lab.js web/style.css web/dist/
echo "built web/dist/ ($(du -sh web/dist | cut -f1)); serve it with scripts/serve_web.sh and open http://localhost:8000/"
