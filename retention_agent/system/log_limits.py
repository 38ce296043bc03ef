"""Logging that a caller cannot turn into a flood, and tracebacks that carry no caller's text.

A hostile client that triggers the same warning or error a thousand times a second must not fill the disk
with ``agent.log``: :class:`LogLimiter` lets one line per key through per interval and says, on the next one,
how many were left out. An exception's message may quote what the caller sent (a ``KeyError`` holds the
missing key), so :func:`traceback_lines` gives the stack — files, lines, functions — and the exception's
type, never its message.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

INTERVAL_S = 60.0


class LogLimiter:
    """At most one log line per key and interval; the number left out is reported with the next one."""

    def __init__(self, monotonic: Callable[[], float], interval_s: float = INTERVAL_S) -> None:
        self.monotonic = monotonic
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> int | None:
        """None if this line is to be left out; otherwise how many were left out since the last one."""
        now = self.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._left_out[key] = self._left_out.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._left_out.pop(key, 0)


def traceback_lines(exc: BaseException) -> str:
    """The stack of ``exc`` and its type, without the exception's message (it may hold a caller's text)."""
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__module__}.{type(exc).__qualname__}"


def left_out(count: int) -> str:
    return f" ({count} more like it left out of this log)" if count else ""
