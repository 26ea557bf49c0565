#!/usr/bin/env bash
# Install what the tests need (system pieces, then scitq with its test extras) and run the whole suite.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# System pieces (Docker engine, Azurite, ...): one idempotent script each.
for script in .ci/install-*.sh; do
    [ -e "$script" ] || continue
    echo "== $script"
    bash "$script"
done

python3 -m pip install -q -e '.[test]'
lint-imports
# pytest exits 5 when it collects no test: with `set -e` that fails the run, as it should.
python3 -m pytest -n "${SCITQ_TEST_WORKERS:-2}" --dist loadgroup "$@"
