#!/usr/bin/env bash
# The first `invoke` of a component node after process start (issue 11,
# "Performance"): a fresh process loads the greet-js component (~12 MB, built
# by componentize-js) with `ComponentNode::new` and invokes it once
# (runtime/benches/component_start.rs). hyperfine times the whole process:
#
#   cold: an empty LF_CODE_CACHE dir before each run (Cranelift compiles);
#   warm: the cache filled by an earlier run (the native code is loaded).
#
#   scripts/bench/component_start.sh [--runs N] [--cold-runs N] [--no-build] [--out FILE]
#
# The component: $LF_BENCH_GREET_JS (the .wasm.gz), else
# registry-fixtures/components/greet-js/module.wasm.gz, else
# `git show authoring:…` or `main:…`;
# its connector.yaml the same way. Prints a Markdown table (and appends it to
# --out if given).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=10
COLD_RUNS=3
BUILD=1
OUT=
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift ;;
        --cold-runs) COLD_RUNS=$2; shift ;;
        --no-build) BUILD=0 ;;
        --out) OUT=$2; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "component_start.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
command -v hyperfine >/dev/null || { echo "component_start.sh: hyperfine is required" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lf-component-start.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fixture() { # fixture FILE: from the env var, the work tree, or the authoring branch
    local rel=registry-fixtures/components/greet-js/$1 dir=${LF_BENCH_GREET_JS:+$(dirname "$LF_BENCH_GREET_JS")}
    if [ -n "$dir" ] && [ -f "$dir/$1" ]; then cat "$dir/$1"
    elif [ -f "$ROOT/$rel" ]; then cat "$ROOT/$rel"
    else git -C "$ROOT" show "authoring:$rel" 2>/dev/null || git -C "$ROOT" show "main:$rel"
    fi
}
fixture module.wasm.gz | gunzip >"$WORK/greet.wasm"
fixture connector.yaml >"$WORK/connector.yaml"

if [ "$BUILD" = 1 ]; then
    echo "==> cargo bench --no-run (release)" >&2
    (cd "$ROOT" && timeout 1800 cargo bench -q -p lf-runtime --bench component_start --no-run </dev/null)
fi
BIN=$(cd "$ROOT" && cargo bench -q -p lf-runtime --bench component_start --no-run \
    --message-format=json 2>/dev/null </dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "component_start" and m.get("executable"):
        print(m["executable"])')
[ -x "$BIN" ] || { echo "component_start.sh: no component_start binary" >&2; exit 1; }

export LF_BENCH_COMPONENT=$WORK/greet.wasm LF_BENCH_MANIFEST=$WORK/connector.yaml
export LF_BENCH_INPUT='{"name":"bench"}'
CACHE=$WORK/cache
# One run to show it works (and what it answers).
LF_CODE_CACHE=$CACHE LF_BENCH_EXPECT=Compiled "$BIN"
rm -rf "$CACHE"

hyperfine -N --style basic --runs "$COLD_RUNS" --export-json "$WORK/cold.json" \
    --prepare "rm -rf $CACHE" \
    "env LF_CODE_CACHE=$CACHE LF_BENCH_EXPECT=Compiled $BIN" >&2
LF_CODE_CACHE=$CACHE "$BIN" 2>/dev/null   # fill the cache
hyperfine -N --style basic --runs "$RUNS" --warmup 2 --export-json "$WORK/warm.json" \
    "env LF_CODE_CACHE=$CACHE LF_BENCH_EXPECT=Cached $BIN" >&2
ENTRY=$(du -sh "$CACHE" | cut -f1)

stats() { python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.0f ms | %.0f ms | %.0f ms" % (r["median"]*1e3, r["min"]*1e3, r["max"]*1e3))' "$1"; }
warm_ms=$(python3 -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1e3))' "$WORK/warm.json")
{
    echo
    echo "### First invoke of greet-js ($(du -h "$WORK/greet.wasm" | cut -f1), componentize-js) after process start"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- runtime 2>/dev/null || echo ', with local changes'); $(hyperfine --version), $COLD_RUNS cold and $RUNS warm runs"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo
    echo "| code | median | min | max |"
    echo "|---|---|---|---|"
    echo "| cold: Cranelift compile (empty \`LF_CODE_CACHE\`) | $(stats "$WORK/cold.json") |"
    echo "| warm: compiled-code cache ($ENTRY on disk) | $(stats "$WORK/warm.json") |"
    echo
    echo "Target: warm first invoke under 100 ms: ${warm_ms} ms — $([ "$warm_ms" -lt 100 ] && echo met || echo '**MISSED**')"
} | tee -a "${OUT:-/dev/null}"
