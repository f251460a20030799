#!/usr/bin/env bash
# Builds module.wasm (a WebAssembly component) from app.py with componentize-py.
# The toolchain: scripts/install-componentize.sh of lf-resolve, which prints
# LF_COMPONENTIZE_PY; otherwise `componentize-py` on PATH is used.
set -euo pipefail
cd "$(dirname "$0")"
componentize_py="${LF_COMPONENTIZE_PY:-componentize-py}"
"$componentize_py" -d wit -w node componentize app -o module.wasm
echo "built $(pwd)/module.wasm" >&2
