#!/usr/bin/env bash
# Installs sigstore-js's verifier, pinned, for the interoperability test of
# certification attestations (resolver/tests/sigstore_js.rs): a bundle that
# lf-resolve writes must verify with the reference JavaScript implementation.
#
#   @sigstore/verify 3.1.0, @sigstore/bundle 4.0.0, @sigstore/core 3.1.0,
#   @sigstore/protobuf-specs 0.5.0 (npm, exact versions, into a prefix)
#
# under ${LF_TOOLS_DIR:-$HOME/.cache/latticeflow/tools}/sigstore-js. The 3.x
# line is the newest that supports Node 20. Idempotent: an install at the
# pinned versions is left alone, so a warm run takes well under a second. The
# last line is an `export` of LF_SIGSTORE_JS (the prefix, whose node_modules
# holds the packages); `eval "$(scripts/install-sigstore-js.sh)"` sets it in
# the calling shell. Progress goes to stderr.
set -euo pipefail

PACKAGES=(
    "@sigstore/verify@3.1.0"
    "@sigstore/bundle@4.0.0"
    "@sigstore/core@3.1.0"
    "@sigstore/protobuf-specs@0.5.0"
)

tools="${LF_TOOLS_DIR:-$HOME/.cache/latticeflow/tools}"
prefix="$tools/sigstore-js"

say() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${need[*]} (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        die "missing ${need[*]}: install them (e.g. \`sudo apt-get install ${need[*]}\`) and run this again"
    fi
fi

# The marker holds the pinned list and is written last, so an interrupted
# install is redone.
wanted="${PACKAGES[*]}"
if [ "$(cat "$prefix/.lf-installed" 2>/dev/null)" != "$wanted" ]; then
    say "installing ${PACKAGES[*]} into $prefix"
    rm -rf "$prefix"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error --save-exact \
        "${PACKAGES[@]}" >&2 \
        || die "npm install of ${PACKAGES[*]} failed"
    echo "$wanted" >"$prefix/.lf-installed"
fi

[ -f "$prefix/node_modules/@sigstore/verify/package.json" ] \
    || die "@sigstore/verify is missing after the install; remove $prefix and run this again"
say "sigstore-js in $prefix"
printf 'export LF_SIGSTORE_JS=%q\n' "$prefix"
