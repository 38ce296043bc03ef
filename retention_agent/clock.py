"""The one source of time. No other module reads the system clock.

Tests travel in time by handing a :class:`ManualClock` to the code under test. A running agent started
by the test suite can be given a clock offset through the test-only setting (see ``testing_hooks.py``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for timeouts and intervals)."""
        ...


def _steady() -> float:
    """A clock that never jumps and keeps counting while the machine sleeps (Linux CLOCK_BOOTTIME).

    The schedule's clock guard compares wall time with it: with CLOCK_MONOTONIC, which stops during
    suspend, a laptop closed over a weekend would look like a forward jump of the wall clock.
    """
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return _steady()


class ManualClock:
    """A clock that only moves when told to. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta
            self._mono += max(delta.total_seconds(), 0.0)

    def set(self, when: datetime) -> None:
        """Jump the wall clock (forwards or backwards); the monotonic clock does not move."""
        with self._lock:
            self._now = when


def utc_iso(moment: datetime) -> str:
    """The stored form of a moment: UTC, second precision, ``Z`` suffix."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def local_date(moment: datetime) -> date:
    """The calendar date in Brussels at that moment."""
    return moment.astimezone(BRUSSELS).date()


def start_of_local_day(day: date) -> datetime:
    """00:00 in Brussels on ``day``, as a UTC moment."""
    return datetime(day.year, day.month, day.day, tzinfo=BRUSSELS).astimezone(UTC)
