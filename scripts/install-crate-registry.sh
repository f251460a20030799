#!/usr/bin/env bash
# Installs the pinned cargo registry server the publish tests run on
# 127.0.0.1: ferro-cargo-registry-server 1.0.0 from crates.io (sparse index,
# the publish API, pure Rust), built with `cargo install --locked --debug` into
# ${LF_TOOLS_DIR:-$HOME/.cache/latticeflow/tools}/ferro-<version>.
#
# Idempotent: an install at the pinned version is left alone (a warm run takes
# well under a second). The last line is an `export` statement;
# `eval "$(scripts/install-crate-registry.sh)"` sets LF_CRATE_REGISTRY in the
# calling shell. Progress goes to stderr.
set -euo pipefail

VERSION="1.0.0"
CRATE="ferro-cargo-registry-server"

tools="${LF_TOOLS_DIR:-$HOME/.cache/latticeflow/tools}"
root="$tools/ferro-$VERSION"
bin="$root/bin/$CRATE"

say() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH"

# The marker is written last, so an interrupted install is redone.
if [ "$(cat "$root/.lf-installed" 2>/dev/null)" != "$CRATE $VERSION" ] || [ ! -x "$bin" ]; then
    say "installing $CRATE $VERSION into $root (cargo install --locked --debug)"
    rm -rf "$root"
    mkdir -p "$root"
    # Its own target dir, so that the workspace's cache is not disturbed. An
    # unoptimised build without debug info: the tests publish a handful of
    # small crates to it, and the build takes about 75 s of CPU instead of
    # the release build's several minutes (measured 2026-12-06).
    CARGO_PROFILE_DEV_DEBUG=0 cargo install --quiet --locked --debug --root "$root" \
        --target-dir "$root/build" "$CRATE" --version "$VERSION" >&2 \
        || die "cargo install $CRATE --version $VERSION failed"
    rm -rf "$root/build"
    echo "$CRATE $VERSION" >"$root/.lf-installed"
fi

[ -x "$bin" ] || die "\`$bin\` is missing after the install; remove $root and run this again"
say "crate registry server: $bin"
printf 'export LF_CRATE_REGISTRY=%q\n' "$bin"
