"""What a drop-folder watcher knows about each name, and the status it adds up to.

Per name: when to look again (back-off), how often it failed, which error was already logged, whether it is
refused (reported once per item and episode, never per scan) or left alone as a file of another type. Per
folder: the counters and the refusal of the folder itself that ``status`` shows as a :class:`FolderStatus`.
Logs and status carry error ids and a short keyed hash of a name (keyed per process), never the name itself.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime

from retention_agent.clock import Clock
from retention_agent.intake.base import IntakeState, IntakeStatus, RefusalReport
from retention_agent.intake.folder_rules import FolderConfig, episode, kind
from retention_agent.intake.stability import StabilityTracker

log = logging.getLogger("retention_agent.intake.folder")  # one logger name for every line of the watcher

POLL_S = 0.25  # re-check delay for a file that is busy (locked, sibling present) before back-off
_BUSY_RETRY_MAX_S = 2.0  # a lock release makes no event: re-check a busy file at least this often


@dataclass(frozen=True)
class FolderStatus:
    """What the privacy officer's ``status`` shows for one drop folder. No personal data in here.

    ``intake`` is the part every watcher shares (:class:`~retention_agent.intake.base.IntakeStatus`):
    ``last_success`` is the last pass over the folder that left no file failing, ``state`` turns
    ``retrying``/``failing`` while the folder cannot be read or a file keeps failing (unreadable, ``deliver``
    raising). Refused items and observer restarts are noted in ``last_error_id`` without failing the state;
    what is refused right now is counted by code in ``intake.refused``. A refused folder (``stopped_because``)
    fails the state at once.
    """

    source: str
    channel: str
    intake: IntakeStatus
    files_taken: int = 0
    files_refused: int = 0
    observer_restarts: int = 0
    duplicates: int = 0
    waiting: int = 0  # files seen and not yet taken (settling, busy, or failing)
    last_taken: datetime | None = None
    refused_items: tuple[str, ...] = ()  # short keyed hashes of refused names still in the folder
    stopped_because: str | None = None  # a refusal of the folder itself: a folder-* code of .pinned

    @property
    def state(self) -> IntakeState:
        return self.intake.state

    @property
    def last_success(self) -> datetime | None:
        return self.intake.last_success

    @property
    def last_error_id(self) -> str | None:
        return self.intake.last_error_id


@dataclass(frozen=True)
class PassResult:
    """What one pass over the folder (a full scan or a round of candidates) did."""

    taken: int = 0
    waiting: int = 0
    refused: int = 0
    failed: int = 0
    ignored: int = 0


class Outcome(enum.Enum):
    TAKEN = "taken"
    WAITING = "waiting"
    REFUSED = "refused"
    FAILED = "failed"
    IGNORED = "ignored"


@dataclass
class _Counters:
    intake: IntakeStatus = field(default_factory=lambda: IntakeStatus().stopped())
    taken: int = 0
    refused: int = 0
    duplicates: int = 0
    observer_restarts: int = 0
    last_taken: datetime | None = None
    refused_items: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)  # name -> (code, episode)
    folder_refusal: str | None = None


class FolderLedger:
    """The watcher's memory of each name and its counters.

    The per-name tables belong to the pass that runs (the watcher's work lock); the counters are shared with
    ``status`` readers under this ledger's own lock.
    """

    def __init__(self, config: FolderConfig, clock: Clock, *, report: RefusalReport | None = None) -> None:
        self.config = config
        self.tracker = StabilityTracker(clock, config.settle_seconds)
        self._clock = clock
        self._report = report
        self._name_key = secrets.token_bytes(16)
        self._lock = threading.Lock()  # guards _counters
        self._retry_at: dict[str, float] = {}  # name -> monotonic time of its next attempt
        self._failures: dict[str, int] = {}  # name -> consecutive failed attempts (back-off)
        self._reported: dict[str, str] = {}  # name -> error id already logged for it
        self._failing: set[str] = set()  # names whose last attempt failed (not merely busy)
        self._left_alone: dict[str, tuple[int, ...]] = {}  # name -> episode of a file of another type
        self._counters = _Counters()

    # -- what status shows --

    def status(self) -> FolderStatus:
        with self._lock:
            c = self._counters
            return FolderStatus(
                source=self.config.name,
                channel=self.config.channel,
                intake=c.intake,
                files_taken=c.taken,
                files_refused=c.refused,
                observer_restarts=c.observer_restarts,
                duplicates=c.duplicates,
                waiting=len(self._retry_at),
                last_taken=c.last_taken,
                refused_items=tuple(sorted(self.item_id(n) for n in c.refused_items)),
                stopped_because=c.folder_refusal,
            )

    def started(self) -> None:
        with self._lock:
            self._counters.intake = replace(self._counters.intake, state="ok")

    def stopped(self) -> None:
        with self._lock:
            self._counters.intake = self._counters.intake.stopped()

    # -- when to look at a name again --

    def due(self, now: float) -> set[str]:
        """The waiting names whose re-check time has come."""
        return {n for n, at in self._retry_at.items() if at <= now}

    def next_retry(self) -> float:
        """The monotonic time of the earliest re-check (infinity when nothing waits)."""
        return min(self._retry_at.values(), default=float("inf"))

    @property
    def any_failing(self) -> bool:
        return bool(self._failing)

    # -- outcomes of one name --

    def taken(self, name: str) -> Outcome:
        self.forget(name)
        with self._lock:
            self._counters.taken += 1
            self._counters.last_taken = self._clock.now()
        log.info("intake %s: delivered item %s", self.config.name, self.item_id(name))
        return Outcome.TAKEN

    def counted_duplicate(self) -> None:
        with self._lock:
            self._counters.duplicates += 1

    def wait(self, name: str, seconds: float) -> Outcome:
        self._retry_at[name] = self._clock.monotonic() + seconds
        return Outcome.WAITING

    def problem(self, name: str, error_id: str, *, failed: bool = False) -> Outcome:
        """Log ``error_id`` once per name and episode and retry with back-off.

        ``failed`` problems (the file cannot be read, ``deliver`` raised, removal failed) count against the
        watcher's state until the file is taken or gone; others (it changed meanwhile) are only noted.
        """
        if self._reported.get(name) != error_id:
            self._reported[name] = error_id
            item = self.item_id(name)
            log.warning("intake %s: %s for item %s; retrying", self.config.name, error_id, item)
        delay = self._back_off(name, cap=None)
        if not failed:
            self.note(error_id)
            return Outcome.WAITING
        self._failing.add(name)
        self.fail(error_id, delay)
        return Outcome.FAILED

    def busy(self, name: str) -> Outcome:
        """Locked or held open by another program: normal while Outlook or a browser writes; retry soon."""
        self._back_off(name, cap=_BUSY_RETRY_MAX_S)
        return Outcome.WAITING

    def _back_off(self, name: str, *, cap: float | None) -> float:
        """Retry later: 0.25 s, doubling per attempt, at most ``cap`` and never beyond the next scan."""
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        limit = float(self.config.scan_interval_s) if cap is None else min(cap, self.config.scan_interval_s)
        delay = min(POLL_S * 2 ** min(failures - 1, 12), limit)
        self.wait(name, delay)
        return delay

    def refuse(self, name: str, code: str, st: os.stat_result) -> Outcome:
        """Leave the item where it is; report it once per episode (the same code for the same file)."""
        self.forget_progress(name)
        this = (code, episode(st))
        with self._lock:
            if self._counters.refused_items.get(name) == this:
                return Outcome.REFUSED
            self._counters.refused_items[name] = this
            self._counters.refused += 1
            self._counters.intake = self._counters.intake.noted(code)
            self._refresh_refusals()
        item = self.item_id(name)
        log.warning("intake %s: %s: %s item %s left in place", self.config.name, code, kind(st.st_mode), item)
        self.tell(code, item)
        return Outcome.REFUSED

    def refusal_of(self, name: str) -> tuple[str, tuple[int, ...]] | None:
        """The code and episode a name is refused with now, if it is."""
        with self._lock:
            return self._counters.refused_items.get(name)

    def leave_alone(self, name: str, st: os.stat_result) -> Outcome:
        """Not the kind of file this folder takes: not ours to touch, and not read again until it changes."""
        self._left_alone[name] = episode(st)
        self.forget_progress(name)
        return Outcome.IGNORED

    def left_alone(self, name: str, st: os.stat_result) -> bool:
        return self._left_alone.get(name) == episode(st)

    def tell(self, code: str, item: str) -> None:
        if self._report is not None:
            self._report(self.config.name, code, item)

    def _refresh_refusals(self) -> None:
        """Recount what is refused now into the shared status (``_lock`` held)."""
        counts: dict[str, int] = {}
        for code, _episode in self._counters.refused_items.values():
            counts[code] = counts.get(code, 0) + 1
        if self._counters.folder_refusal:
            counts[self._counters.folder_refusal] = 1
        self._counters.intake = self._counters.intake.refusing(counts)

    def drop(self, name: str) -> Outcome:
        self.forget(name)
        return Outcome.IGNORED

    def forget(self, name: str) -> None:
        self.forget_progress(name)
        self.clear_refusal(name)

    def forget_progress(self, name: str) -> None:
        self.tracker.forget(name)
        self._retry_at.pop(name, None)
        self._failures.pop(name, None)
        self._reported.pop(name, None)
        self._failing.discard(name)

    def clear_refusal(self, name: str) -> None:
        with self._lock:
            if self._counters.refused_items.pop(name, None) is not None:
                self._refresh_refusals()

    def forget_all_but(self, present: set[str]) -> None:
        self.tracker.retain(present)
        for table in (self._retry_at, self._failures, self._reported, self._left_alone):
            for name in [n for n in table if n not in present]:
                del table[name]
        self._failing &= present
        with self._lock:
            refused = self._counters.refused_items
            gone = [n for n in refused if n not in present]
            for name in gone:
                del refused[name]
            if gone:
                self._refresh_refusals()

    # -- the folder as a whole --

    @property
    def folder_refusal(self) -> str | None:
        return self._counters.folder_refusal

    def folder_refused(self, code: str, retry_s: float) -> bool:
        """Record a refusal of the folder itself; True when it is a new one (to be reported)."""
        with self._lock:
            new = self._counters.folder_refusal != code
            self._counters.folder_refusal = code
            self._counters.intake = self._counters.intake.failed(code, self._clock.now(), retry_s, permanent=True)
            self._refresh_refusals()
        return new

    def folder_accepted(self) -> str | None:
        """The folder is safe again: the refusal that no longer holds, if there was one."""
        with self._lock:
            cleared, self._counters.folder_refusal = self._counters.folder_refusal, None
            if cleared:
                self._refresh_refusals()
        return cleared

    def observer_restarted(self, error_id: str) -> int:
        with self._lock:
            self._counters.observer_restarts += 1
            self._counters.intake = self._counters.intake.noted(error_id)
            return self._counters.observer_restarts

    def succeeded(self) -> None:
        with self._lock:
            self._counters.intake = self._counters.intake.succeeded(self._clock.now())

    def note(self, error_id: str) -> None:
        with self._lock:
            self._counters.intake = self._counters.intake.noted(error_id)

    def fail(self, error_id: str, delay_s: float) -> None:
        with self._lock:
            self._counters.intake = self._counters.intake.failed(error_id, self._clock.now(), delay_s)

    def item_id(self, name: str) -> str:
        """A short keyed hash of a name: lets status and log lines refer to one item without naming it."""
        digest = hmac.new(self._name_key, os.fsencode(name), hashlib.sha256).hexdigest()
        return digest[:12]
