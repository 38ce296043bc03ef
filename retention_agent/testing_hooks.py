"""Test-only hooks: fault points and a shifted clock for the real agent process.

Both are switched on only through environment variables *and* only while the test suite runs
(``RETENTION_AGENT_TESTING=1`` together with pytest's ``PYTEST_CURRENT_TEST``, which pytest sets for the
processes a test starts). Outside the test suite, setting them makes the agent refuse to start, and
``status`` reports it if they were ever on.

- ``RETENTION_AGENT_FAULTS="ingest.after-rename,purge.after-key"``: SIGKILL the agent when it reaches one
  of these named points (each name may carry ``@N`` to fire on the N-th time).
- ``RETENTION_AGENT_CLOCK_FILE=PATH``: the agent's clock is the system clock plus the number of seconds
  written in PATH (re-read on every call), so a test can move time forward or back while it runs.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retention_agent.clock import SystemClock
from retention_agent.errors import ConfigError

FAULTS_ENV = "RETENTION_AGENT_FAULTS"
CLOCK_ENV = "RETENTION_AGENT_CLOCK_FILE"
TESTING_ENV = "RETENTION_AGENT_TESTING"

FAULT_POINTS = (
    "ingest.after-pending", "ingest.after-key", "ingest.after-rename", "ingest.after-commit",
    "intake.after-deliver", "intake.after-overwrite", "mailbox.after-deliver",
    "purge.after-start", "purge.after-key", "purge.after-object", "purge.after-workspace",
    "purge.after-copies", "purge.after-rows", "purge.after-scrub", "purge.after-proof",
)

_hits: Counter[str] = Counter()
_lock = threading.Lock()


def hooks_requested() -> bool:
    return bool(os.environ.get(FAULTS_ENV) or os.environ.get(CLOCK_ENV))


def check_allowed() -> None:
    """Refuse test hooks outside the test suite (called at agent start-up)."""
    if hooks_requested() and not _in_test_suite():
        raise ConfigError(file=FAULTS_ENV, key=FAULTS_ENV,
                          problem="test-only settings are set outside the test suite")


def _in_test_suite() -> bool:
    return os.environ.get(TESTING_ENV) == "1" and "PYTEST_CURRENT_TEST" in os.environ


def fault_point(name: str) -> None:
    """SIGKILL this process here if the test suite asked for it."""
    spec = os.environ.get(FAULTS_ENV)
    if not spec or not _in_test_suite():
        return
    with _lock:
        _hits[name] += 1
        count = _hits[name]
    for wanted in spec.split(","):
        point, _, nth = wanted.strip().partition("@")
        if point == name and count == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


class FileOffsetClock:
    """The system clock plus an offset (seconds) read from a file the test suite controls."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _offset(self) -> timedelta:
        try:
            return timedelta(seconds=float(self.path.read_text().strip() or 0))
        except (OSError, ValueError):
            return timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset()

    def monotonic(self) -> float:
        return SystemClock().monotonic()


def test_clock() -> FileOffsetClock | None:
    path = os.environ.get(CLOCK_ENV)
    return FileOffsetClock(Path(path)) if path and _in_test_suite() else None
