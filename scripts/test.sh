#!/usr/bin/env bash
# The full test suite: installs what it needs, checks formatting and lints,
# then runs every test (unit, integration against a real registry, doc tests).
# Ends with nextest's summary line.
set -euo pipefail
exec </dev/null
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# The pinned component toolchains (Python, JavaScript): resolver/tests/new.rs
# builds real components with them. The script prints the exports (assigned
# first, so that a failed install stops this script).
componentize_env="$(bash scripts/install-componentize.sh)"
eval "$componentize_env"
# sigstore-js (npm, pinned): resolver/tests/sigstore_js.rs checks that the
# certification bundles lf-resolve writes verify with it.
sigstore_js_env="$(bash scripts/install-sigstore-js.sh)"
eval "$sigstore_js_env"
# A cargo registry server (crates.io, pinned): tests/tests/publish.rs
# publishes wrapper crates to it on 127.0.0.1.
crate_registry_env="$(bash scripts/install-crate-registry.sh)"
eval "$crate_registry_env"
# The Rust template is built too where the wasm32-wasip2 target is installed
# (this script does not download toolchains); otherwise that one test says why
# it skipped.
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    export LF_RUST_WASIP2=1
else
    echo "note: no wasm32-wasip2 target installed; the Rust template is checked but not built" >&2
fi

# Debug info is not needed to run tests and costs a minute of a cold build.
export CARGO_PROFILE_DEV_DEBUG=0
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "==> cargo fmt --check" >&2
cargo fmt --all --check

echo "==> cargo clippy -D warnings" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> doc tests" >&2
cargo test --workspace --doc --locked --quiet

echo "==> generated crates pass clippy -D warnings" >&2
cargo test -p lf-wrapper-gen --locked --test generate -- --ignored generated_crates_pass_clippy

echo "==> native connector fixtures (and their generated code) pass clippy -D warnings" >&2
cargo test -p lf-e2e --locked --test native -- --ignored fixtures_and_generated_code_are_clippy_clean

echo "==> tests" >&2
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
