#!/usr/bin/env bash
# Builds module.wasm (a WebAssembly component) with cargo for wasm32-wasip2.
# Needs the target once: `rustup target add wasm32-wasip2`.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{crate}}.wasm" module.wasm
echo "built $(pwd)/module.wasm" >&2
