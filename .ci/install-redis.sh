#!/usr/bin/env bash
# Installs Debian's redis-server (built with TLS), used by the TLS and compatibility tests as a second
# Redis implementation beside the embedded Valkey. Idempotent and quiet: does nothing when it is there;
# prints the install log only when it fails. The Debian service is not started (tests start their own).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-redis.sh: could not install redis-server" >&2
    exit 1
fi
command -v service >/dev/null 2>&1 && service redis-server stop >/dev/null 2>&1 || true
redis-server --version >/dev/null
