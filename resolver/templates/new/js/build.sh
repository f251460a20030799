#!/usr/bin/env bash
# Builds module.wasm (a WebAssembly component) from app.js with componentize-js.
# The toolchain: scripts/install-componentize.sh of lf-resolve, which prints
# LF_COMPONENTIZE_JS; otherwise `componentize-js` on PATH is used.
#
# -d disables the WASI features connector.yaml does not declare, so the
# component imports nothing it may not use (fetch-event always: connectors
# do not serve HTTP). After changing `capabilities`, update this list.
set -euo pipefail
cd "$(dirname "$0")"
componentize_js="${LF_COMPONENTIZE_JS:-componentize-js}"
"$componentize_js" app.js -w wit -n node -d {{disable}} -o module.wasm
echo "built $(pwd)/module.wasm" >&2
