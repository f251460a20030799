#!/usr/bin/env bash
# The main job, end to end, on a throwaway registry and project.
#
# It grows with the product: today it starts a real registry, creates a
# project, edits it with `lf-resolve add`/`remove`, and validates it with
# `lf-resolve check`. Locking, vendoring, generating, the offline build and the
# connector invocation join as they land (see README, "Status").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "build lf-resolve and the test registry"
cargo build --quiet --locked -p lf-resolve -p lf-registry-fixtures
lf="$root/target/debug/lf-resolve"

step "start a throwaway CNCF distribution registry on 127.0.0.1"
coproc REGISTRY { "$root/target/debug/lf-test-registry"; }
read -r line <&"${REGISTRY[0]}"
registry=${line#LF_REGISTRY=}
echo "registry at http://$registry" >&2
curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && echo "GET /v2/ -> 200" >&2 || true

work=$(mktemp -d)
cleanup() { exec {REGISTRY[1]}>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

step "lf-resolve init"
"$lf" init --name demo-flow

step "lf-resolve add: three connectors from the registry"
"$lf" add text_upper "$registry/latticeflow/text-upper:1.0"
"$lf" add kv_counter "$registry/latticeflow/kv-counter:1.0" -c kv.read -c kv.write
"$lf" add http_fetch "$registry/latticeflow/http-fetch:1.0" -c http.read

step "lf-resolve remove http_fetch"
"$lf" remove http_fetch

step "latticeflow.toml now reads"
cat latticeflow.toml

step "lf-resolve check (no lock yet: exits 1 and says what to do)"
set +e
"$lf" check
status=$?
set -e
[ "$status" -eq 1 ] || { echo "demo: expected exit 1 from check, got $status" >&2; exit 1; }

step "lf-resolve check --message-format json"
"$lf" check --message-format json || true

step "done: the project is valid; pinning it needs \`lf-resolve lock\`, which lands next"
