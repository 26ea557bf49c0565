#!/usr/bin/env bash
# Install scitq with its test dependencies, check the import layering, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test]'
lint-imports
# pytest exits 5 when it collects no test: that is a failure for us too (set -e keeps it).
python3 -m pytest -n "${SCITQ_TEST_WORKERS:-2}" --dist loadgroup "$@"
