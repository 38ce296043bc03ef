"""When is a file in a drop folder finished? When it has stopped changing.

A writer (Outlook saving an attachment, a browser finishing a download, a copy over a network share) gives
no reliable "done" signal: events arrive late, twice or never. So a file counts as *stable* once its size
and modification time have been seen unchanged for ``settle_seconds`` on the monotonic clock. The first
observation starts the wait; every observation that differs restarts it.

This module is pure: it never touches the file system and never reads the system clock. The caller stats the
file and reports what it saw; tests drive it with :class:`~retention_agent.clock.ManualClock`. Stability is
necessary, not sufficient: the folder watcher still needs an exclusive open to succeed before it takes a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from retention_agent.clock import Clock


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic seconds at which this (size, mtime_ns) was first seen


class StabilityTracker:
    """Remembers, per path, what the file looked like and since when it has looked like that."""

    def __init__(self, clock: Clock, settle_seconds: float) -> None:
        if settle_seconds < 0:
            raise ValueError("settle_seconds must not be negative")
        self._clock = clock
        self._settle = float(settle_seconds)
        self._seen: dict[str, _Seen] = {}

    @property
    def settle_seconds(self) -> float:
        return self._settle

    def observe(self, path: str, size: int, mtime_ns: int) -> None:
        """Record what a stat of ``path`` showed; a change (or a first sight) restarts its settle time."""
        previous = self._seen.get(path)
        if previous is not None and previous.size == size and previous.mtime_ns == mtime_ns:
            return
        self._seen[path] = _Seen(size, mtime_ns, self._clock.monotonic())

    def ready(self, path: str) -> bool:
        """True when ``path`` was observed and has not changed for at least ``settle_seconds``."""
        seen = self._seen.get(path)
        return seen is not None and self._clock.monotonic() - seen.since >= self._settle

    def remaining(self, path: str) -> float | None:
        """Seconds until ``path`` can be ready if nothing changes (0 when ready); None when never observed."""
        seen = self._seen.get(path)
        if seen is None:
            return None
        return max(0.0, self._settle - (self._clock.monotonic() - seen.since))

    def forget(self, path: str) -> None:
        """Drop what is known about ``path`` (it was taken, vanished or must be observed afresh)."""
        self._seen.pop(path, None)

    def retain(self, paths: set[str]) -> None:
        """Forget every path not in ``paths`` (after a full scan: whatever is gone is no longer tracked)."""
        for path in [p for p in self._seen if p not in paths]:
            del self._seen[path]

    def __contains__(self, path: object) -> bool:
        return path in self._seen

    def __len__(self) -> int:
        return len(self._seen)
