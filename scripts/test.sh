#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, lints, type-checks, runs pytest over
# both tiers (tests/unit, then tests/integration: the real agent, Dovecot, OS accounts, mounts, an X server).
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --fast     ruff, mypy and the unit tier only, spread over the machine's cores
# Extra arguments go to pytest (e.g. scripts/test.sh -k audit, scripts/test.sh --fast -k audit).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=""
if [ "${1:-}" = "--fast" ]; then
    fast=1
    shift
fi
scripts/setup-venv.sh --test
.venv/bin/ruff check retention_agent installer tests benchmarks
.venv/bin/mypy retention_agent installer
if [ -n "$fast" ]; then
    # Unit tests share nothing between them (no agent, no account, no fixed path): one worker per core is safe.
    .venv/bin/pytest -q -p no:cacheprovider -n auto tests/unit "$@"
else
    .venv/bin/pytest -q -p no:cacheprovider "$@"
fi
