#!/usr/bin/env bash
# Run the test suite. pytest's exit 5 (no test collected) is a failure, as is any skip of a test that
# CI must run (see tests/conftest.py: ODOOOPS_REQUIRE_ENGINES).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
