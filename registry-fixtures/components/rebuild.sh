#!/usr/bin/env bash
# Rebuilds the prebuilt component fixtures in this directory from their
# sources, with the pinned toolchains of scripts/install-componentize.sh:
#
#   greet-js/  `lf-resolve new greet-js --lang js`, built by componentize-js
#              0.23.0; committed as module.wasm.gz (gzip -9 -n, ~3.8 MB;
#              the component is ~12 MB).
#
# The builds are not byte-reproducible: every rebuild changes the digest.
# Decompress with `gzip -dc greet-js/module.wasm.gz > greet-js/module.wasm`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
env_lines="$(bash "$repo/scripts/install-componentize.sh")"
eval "$env_lines"

dir="$here/greet-js"
rm -f "$dir/module.wasm"
bash "$dir/build.sh"
"$LF_WASM_TOOLS" validate "$dir/module.wasm"
gzip -9 -n -c "$dir/module.wasm" > "$dir/module.wasm.gz.tmp"
mv "$dir/module.wasm.gz.tmp" "$dir/module.wasm.gz"
rm -f "$dir/module.wasm"
ls -l "$dir/module.wasm.gz" >&2
