#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, lints, type-checks, runs pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k audit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh --test
.venv/bin/ruff check retention_agent installer tests benchmarks
.venv/bin/mypy retention_agent installer
.venv/bin/pytest -q -p no:cacheprovider "$@"
