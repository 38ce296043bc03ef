"""Refused requests, folded: the first is audited at once, its repeats within a minute in one entry (pure).

A caller who is refused over and over must not be able to fill the disk with audit entries. For each
(account, action, reason) the first refusal opens a window of :data:`WINDOW_S`: it is audited at once; the
refusals that follow inside the window are only counted, and when the window closes one follow-up entry
records how many there were and between which moments (``details``: ``reason``, ``repeated``, ``from``,
``until``). A periodic duty closes windows (:meth:`RefusalLedger.due`), so the follow-up is written even if
no further request arrives, and the agent writes every open count when it stops (:meth:`RefusalLedger.drain`).

Some refusals are never audited one by one (a connection turned away because the account holds all its
slots: that happens before the account's name is known); they are only counted (``at_once=False``).
No I/O: times are given, and the caller appends the returned records to the audit log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from retention_agent.clock import utc_iso

WINDOW_S = 60.0


@dataclass(frozen=True)
class RefusalKey:
    account: str  # may be "" when only the uid is known; the caller names it when writing
    uid: int
    action: str
    reason: str


@dataclass
class _Window:
    opened: float  # monotonic
    repeated: int = 0
    first: datetime | None = None
    last: datetime | None = None


@dataclass(frozen=True)
class FollowUp:
    """One entry to append: ``repeated`` refusals of ``key`` not audited one by one, from ``first`` to ``last``."""

    key: RefusalKey
    repeated: int
    first: datetime
    last: datetime

    def details(self) -> dict[str, Any]:
        return {"reason": self.key.reason, "repeated": self.repeated, "from": utc_iso(self.first),
                "until": utc_iso(self.last), "uid": self.key.uid}


class RefusalLedger:
    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._open: dict[RefusalKey, _Window] = {}
        self._closed: list[FollowUp] = []
        self._lock = threading.Lock()

    def note(self, key: RefusalKey, mono: float, wall: datetime, *, at_once: bool = True) -> bool:
        """Count one refusal; True when it opens a window and is to be audited now (``at_once``)."""
        with self._lock:
            window = self._open.get(key)
            if window is not None and mono - window.opened >= self.window_s:
                self._close(key, window)
                window = None
            if window is None:
                self._open[key] = window = _Window(opened=mono)
                if at_once:
                    return True
            window.repeated += 1
            window.first = window.first or wall
            window.last = wall
            return False

    def due(self, mono: float) -> list[FollowUp]:
        """Close every window older than the window length; the follow-ups of those that saw repeats."""
        with self._lock:
            for key, window in list(self._open.items()):
                if mono - window.opened >= self.window_s:
                    self._close(key, window)
            return self._take_closed()

    def drain(self) -> list[FollowUp]:
        """Close every window now (the agent stops)."""
        with self._lock:
            for key, window in list(self._open.items()):
                self._close(key, window)
            return self._take_closed()

    def give_back(self, follow_ups: list[FollowUp]) -> None:
        """Keep follow-ups that could not be written (a full disk), to be returned by the next call."""
        with self._lock:
            self._closed[:0] = follow_ups

    def pending(self) -> int:
        """Refusals counted and not yet written."""
        with self._lock:
            return sum(w.repeated for w in self._open.values()) + sum(f.repeated for f in self._closed)

    def _close(self, key: RefusalKey, window: _Window) -> None:
        del self._open[key]
        if window.repeated and window.first and window.last:
            self._closed.append(FollowUp(key, window.repeated, window.first, window.last))

    def _take_closed(self) -> list[FollowUp]:
        closed, self._closed = self._closed, []
        return closed
