#!/usr/bin/env bash
# The main job, end to end, on a throwaway registry and project.
#
# Start a real registry; generate a cosign key; push and sign the fixture
# connectors; create a project; lock it with signatures required (resolve →
# verify signatures and digests → check capabilities and ABI); show that a
# relock is a no-op and that an unsigned or ungranted connector is refused;
# vendor and generate the wrapper crates (with the lf-runtime copy beside
# them); `cargo fetch` the example bundle's dependencies while online; stop the
# registry and empty the cache; lock --frozen, verify and generate --check from
# the vendor dir; build the example bundle with `cargo build --offline` and run
# a flow through it.
set -euo pipefail
exec </dev/null
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh

bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain" >&2; }

step "build lf-resolve and the fixture tools"
cargo build --quiet --locked -p lf-resolve -p lf-registry-fixtures
lf="$root/target/debug/lf-resolve"

step "start a throwaway CNCF distribution registry on 127.0.0.1"
coproc REGISTRY { "$root/target/debug/lf-test-registry"; }
read -r line <&"${REGISTRY[0]}"
registry=${line#LF_REGISTRY=}
echo "registry at http://$registry" >&2

work=$(mktemp -d)
stop_registry() {
    if [ -n "${REGISTRY_PID:-}" ]; then
        local fd=${REGISTRY[1]}
        exec {fd}>&-
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=
    fi
}
cleanup() { stop_registry; rm -rf "$work"; }
trap cleanup EXIT
export LF_CACHE_DIR="$work/cache"
cd "$work"

step "lf-resolve generate-key: a cosign-compatible key pair for signing"
export COSIGN_PASSWORD=demo-password
"$lf" generate-key --output-key-prefix "$work/cosign"

step "lf-resolve push + sign: publish four connectors (WAT sources in registry-fixtures/connectors/)"
for name in text-upper json-reshape kv-counter hash; do
    "$lf" push "$root/registry-fixtures/connectors/$name" "$registry/latticeflow/$name:1.0" >/dev/null
done
for name in text-upper json-reshape kv-counter; do
    "$lf" sign "$registry/latticeflow/$name:1.0" --key "$work/cosign.key"
done
# One as a sigstore v0.3 bundle (an OCI referrer, through the tag fallback on distribution 2.8).
"$lf" sign "$registry/latticeflow/hash:1.0" --key "$work/cosign.key" --bundle
# And one left unsigned.
"$lf" push "$root/registry-fixtures/connectors/http-fetch" "$registry/latticeflow/http-fetch:1.0" >/dev/null

step "a component connector: JavaScript, built with componentize-js (prebuilt in registry-fixtures/components/greet-js)"
# Compiled code is cached by component digest (LF_CODE_CACHE): `lf-resolve test` compiles
# it once, and the bundle's first call at the end loads it.
export LF_CODE_CACHE="$root/target/demo-code-cache"
cp -r "$root/registry-fixtures/components/greet-js" "$work/greet-js"
gzip -dc "$root/registry-fixtures/components/greet-js/module.wasm.gz" > "$work/greet-js/module.wasm"
cat "$work/greet-js/app.js" >&2
"$lf" test "$work/greet-js"
"$lf" push "$work/greet-js" "$registry/latticeflow/greet-js:0.1.0" >/dev/null
"$lf" sign "$registry/latticeflow/greet-js:0.1.0" --key "$work/cosign.key"

step "lf-resolve certify: run each connector's contract vectors through the host, sign the evidence, attach it"
# Contract, idempotency, determinism and capability-usage checks; the result
# is two in-toto statements signed as sigstore bundles and attached to the
# manifest as OCI referrers. kv-counter is WARNED (a declared error code no
# case exercises); the lock below allows that with `allow-warned`.
for name in text-upper json-reshape kv-counter hash http-fetch; do
    "$lf" certify "$registry/latticeflow/$name:1.0" \
        --contract "$root/registry-fixtures/connectors/$name/tests/contract.yaml" --key "$work/cosign.key"
done
"$lf" certify "$registry/latticeflow/greet-js:0.1.0" --contract "$work/greet-js/tests/contract.yaml" --key "$work/cosign.key"

step "lf-resolve inspect: what the registry holds for one connector"
"$lf" inspect "$registry/latticeflow/kv-counter:1.0"

step "lf-resolve init, then add five connectors with the capabilities they need"
"$lf" init --name demo-flow
# Trust the key we signed with (signatures are required by default).
"$lf" trust add "$work/cosign.pub"
# And require certification evidence signed by that key for every connector.
sed -i "/^keys = /a certification = \"required\"\nallow-warned = true" latticeflow.toml
cat latticeflow.toml >&2
"$lf" add text_upper "$registry/latticeflow/text-upper:1.0"
"$lf" add reshape "$registry/latticeflow/json-reshape:1.0"
"$lf" add counter "$registry/latticeflow/kv-counter:1.0" -c kv.read -c kv.write
"$lf" add hash "$registry/latticeflow/hash:1.0"
"$lf" add greet "$registry/latticeflow/greet-js:0.1.0"

step "lf-resolve lock: resolve tags, verify signatures and digests, check capabilities and imports"
"$lf" lock
cat latticeflow.lock

step "lf-resolve lock again: a no-op (nothing downloaded, lock not rewritten)"
"$lf" lock

step "lf-resolve check and lock --locked (what CI runs)"
"$lf" check
"$lf" lock --locked

step "an unsigned connector is refused (signatures are required)"
"$lf" add fetch "$registry/latticeflow/http-fetch:1.0" -c http.read
set +e
"$lf" lock
status=$?
set -e
[ "$status" -eq 1 ] || { echo "demo: expected exit 1, got $status" >&2; exit 1; }

step "signed, but asking for more than it is granted: refused too"
"$lf" sign "$registry/latticeflow/http-fetch:1.0" --key "$work/cosign.key"
"$lf" add fetch "$registry/latticeflow/http-fetch:1.0"
set +e
"$lf" lock
status=$?
set -e
[ "$status" -eq 1 ] || { echo "demo: expected exit 1, got $status" >&2; exit 1; }
"$lf" remove fetch

step "lf-resolve vendor + generate: the locked artifacts in vendor/oci, wrapper crates in vendor/crates"
# The crates depend on vendor/crates/lf-runtime, the copy of the runtime that
# generate writes beside them: nothing refers back to this checkout.
"$lf" lock
"$lf" vendor
"$lf" generate
ls vendor/crates vendor/crates/*/src >&2

step "lf-resolve list: what each locked connector may do, who signed it, how it certified"
"$lf" list

step "lf-resolve outdated: has any tag moved since the lock? (HEAD requests; nothing written)"
"$lf" outdated --exit-code

step "lf-resolve sbom: a CycloneDX 1.6 bill of materials of the bundle (same lock, same bytes)"
"$lf" sbom -o bom.json
head -c 600 bom.json >&2; echo " ..." >&2

step "lf-resolve vendor --archive: the locked artifacts as one reproducible tar, for an air gap"
"$lf" vendor --archive bundle.tar
ls -l bundle.tar >&2

step "cargo fetch: while online, download what the example bundle needs to build offline"
mkdir -p flow/src
cp "$root/examples/flow/Cargo.toml.in" flow/Cargo.toml
# This checkout's profiles (Cranelift optimised, as in its own build), so the
# shared target directory's build is reused.
sed -n '/^\[profile\./,$p' "$root/Cargo.toml" >> flow/Cargo.toml
cp "$root/examples/flow/src/main.rs" flow/src/
# The dependency versions this checkout was tested with.
cp "$root/Cargo.lock" flow/Cargo.lock
(cd flow && cargo fetch --quiet)

step "stop the registry and empty the cache: everything from the vendor directory"
stop_registry
rm -rf "$LF_CACHE_DIR"
"$lf" lock --frozen
"$lf" verify
"$lf" generate --check

step "across the air gap: a fresh project and an empty cache lock from the archive alone"
mkdir -p "$work/airgap"
cp latticeflow.toml cosign.pub "$work/airgap/"
(cd "$work/airgap" && LF_CACHE_DIR="$work/airgap-cache" "$lf" lock --offline --from-archive "$work/bundle.tar")
cmp latticeflow.lock "$work/airgap/latticeflow.lock"
echo "the lock made from the archive is byte-identical" >&2

if command -v skopeo >/dev/null 2>&1; then
    step "vendor/oci is an OCI image layout: skopeo reads it"
    skopeo inspect --raw "oci:$work/vendor/oci:$registry/latticeflow/hash:1.0" >&2
    echo >&2
fi

step "cargo build --offline: an example bundle that registers every connector, then run a flow"
# The target directory is shared with this checkout's build, to reuse what it
# has compiled; the sources all come from the project and cargo's cache.
(cd flow && CARGO_TARGET_DIR="$root/target" cargo build --offline --quiet)
echo "flow: text-upper → kv-counter (twice) → hash → greet (a JavaScript component)" >&2
"$root/target/debug/lf-example-flow" "hello, latticeflow"

step "done: pushed, signed, locked, verified, vendored, generated, built offline and invoked"
