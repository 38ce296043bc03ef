#!/usr/bin/env python3
"""Run the crash harness for many runs (not part of CI, which runs a short version of the same test).

    scripts/crash_harness.py --runs 300            # 300 SIGKILLs and restarts, every invariant checked each time
    scripts/crash_harness.py --runs 200 --long     # larger files (up to 40 MB) and longer timers
    scripts/crash_harness.py --seed 1234567 --runs 50

The fault points of the agent are honoured only inside the test suite (RETENTION_AGENT_TESTING=1 under
pytest), so this script runs ``tests/integration/test_crash_harness.py::test_random_sigkills_break_no_invariant`` through
pytest with ``CRASH_RUNS`` / ``CRASH_LONG`` / ``CRASH_SEED`` set. Every run prints one line; a broken invariant
stops the harness and prints the seed, the run, what broke and the tail of the agent's log. Exit code: pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/integration/test_crash_harness.py::test_random_sigkills_break_no_invariant"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="how many kill-and-restart runs (default 200)")
    parser.add_argument("--long", action="store_true", help="larger files and longer timers")
    parser.add_argument("--seed", type=int, help="replay the random choices of a failed run")
    options = parser.parse_args()
    env = {**os.environ, "CRASH_RUNS": str(options.runs)}
    if options.long:
        env["CRASH_LONG"] = "1"
    if options.seed is not None:
        env["CRASH_SEED"] = str(options.seed)
    python = ROOT / ".venv" / "bin" / "python"
    command = [str(python if python.exists() else sys.executable), "-m", "pytest", "-p", "no:cacheprovider", "-s",
               "-q", TEST]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
