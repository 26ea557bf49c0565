#!/usr/bin/env bash
# Installs what the Docker tests need on Debian 12: the Docker engine (docker.io), a static busybox to build
# test images from, Debian's registry server and htpasswd for the authenticated-pull tests.
# Idempotent and quiet: does nothing when everything is there; prints apt's log only when it fails.
# Installing starts no service: the tests run their own dockerd and registry on private sockets and ports.
set -euo pipefail

packages=(docker.io busybox-static docker-registry apache2-utils)
needed=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || needed+=("$p")
done
[ ${#needed[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-docker.sh: run as root to install: ${needed[*]}" >&2; exit 1; }
    SUDO="sudo"
fi

log=$(mktemp)
policy=/usr/sbin/policy-rc.d
added_policy=""
cleanup() {
    [ -n "$added_policy" ] && $SUDO rm -f "$policy"
    rm -f "$log"
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then            # keep the packages' services from starting during the install
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    added_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${needed[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-docker.sh: could not install ${needed[*]}" >&2
    exit 1
fi
