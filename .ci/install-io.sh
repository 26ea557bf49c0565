#!/usr/bin/env bash
# Installs what the data-layer tests need beyond pip's `.[test]` on Debian 12: Azurite (the Azure Blob
# emulator, from npm), rclone (remotes), ncdu and pigz (v1 fetch verbs, gunzip action).
# Idempotent and quiet: does nothing when everything is there; prints the install log only when it fails.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log=$(mktemp)
trap 'rm -f "$log"' EXIT

needed=()
for tool in rclone ncdu pigz; do
    command -v "$tool" >/dev/null 2>&1 || needed+=("$tool")
done
command -v npm >/dev/null 2>&1 || needed+=(npm)
if [ ${#needed[@]} -gt 0 ]; then
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${needed[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-io.sh: could not install ${needed[*]}" >&2
        exit 1
    fi
fi

if ! command -v azurite-blob >/dev/null 2>&1; then
    if ! npm install -g --no-fund --no-audit --loglevel=error azurite@3 >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-io.sh: could not install azurite@3 with npm" >&2
        exit 1
    fi
fi
azurite-blob --version >/dev/null
