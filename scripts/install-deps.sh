#!/usr/bin/env bash
# Installs what the tests and the demo need beyond the Rust toolchain:
# Debian's docker-registry (CNCF distribution 2.8.2). Idempotent and quiet
# when everything is already there.
set -euo pipefail

need=()
[ -x /usr/bin/docker-registry ] || command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)

if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]} (apt-get)" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
