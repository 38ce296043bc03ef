"""Drop folders: take each finished file out of a watched folder, into the vault, and remove it.

Deliberation VCMP 05/2024 nr. 10 wants a received file moved "as soon as possible" out of the transport
medium into a controlled environment. Staff save AgII's encrypted attachments (or Zivver downloads) into a
drop folder; a :class:`FolderWatcher` hands every finished file to the agent's ``deliver`` function and
removes the file once the vault holds it.

How a file is taken (the contract, in order):

0. **The folder is pinned by handle** (:mod:`.pinned`). It is opened once, its path walked from the root
   without following any link, and every list, ``lstat``, open, rename, link and unlink is relative to that
   handle. Before every scan the path must still lead to the same directory (``st_dev``, ``st_ino``); when it
   does not (``folder-swapped``: renamed away, replaced by a link to the agent's own keys), intake from the
   folder stops for good — the new path is never followed — until the agent is restarted, and the refusal is
   reported once. A folder inside the agent's home or key store (``folder-inside-home``), reached through a
   link (``folder-link-in-path``) or under an ancestor that other accounts may write without a sticky bit
   (``folder-unsafe-parent``) is refused at start-up and at every scan, and taken again once it is fixed.
1. **Events are hints; a scan is the truth.** watchdog events (inotify, FSEvents, ReadDirectoryChangesW, or
   a :class:`~watchdog.observers.polling.PollingObserver` for network shares) only mark names as
   candidates. A full scan runs at start-up, every ``scan_interval_s`` and after every observer restart;
   files that were there before start-up, or whose events were lost, are found by it. ``moved`` events are
   followed through ``dest_path`` (writers that write a temporary name and rename it at the end). A polling
   observer on Linux watches the pinned handle (``/proc/self/fd/N``), not the path.
2. **Only plain regular files directly in the folder.** There is no recursion: deliveries are single files,
   and a tree walk would widen what a writer to the folder can make the agent read (nested links, mounts).
   Left where they are, each refused once (reported, audited, shown in status with its code) until it is
   gone or changed: symbolic links, directories, FIFOs, sockets and devices (``source-refused``, never
   followed or opened); files with more than one name (``source-hard-link``: another name, perhaps outside
   the folder, would keep the bytes, and overwriting them would destroy that other file);
   sparse files, mostly holes (``source-sparse``: a 2 GB file of a few blocks would become a 2 GB vault
   object); files larger than ``max_file_bytes`` (``source-too-large``); and, when ``refuse_agent_files``
   is set (shared mode, where the agent has an account of its own), files owned by the agent's account
   (``source-owned-by-agent``: nobody but the agent should have made them).
3. **Temporary names are ignored entirely** (:func:`is_temporary_name`): browser partial downloads, Office
   and LibreOffice owner/lock files, dotfiles, ``Thumbs.db``. A file whose download or editor sibling still
   exists (``x.pdf`` beside ``x.pdf.part`` or ``~$x.docx``) is waited for: Firefox creates an empty
   placeholder under the final name while it downloads into ``.part``.
4. **Stable, then exclusive.** A file must keep its size and modification time for ``settle_seconds``
   (:class:`~.stability.StabilityTracker`), then open without following links (``O_NOFOLLOW``; on Windows
   ``CreateFile`` with no sharing and ``FILE_FLAG_OPEN_REPARSE_POINT``). The open file must be the very
   inode that was scanned. Then nobody may be writing it: on Linux a read lease is refused while any
   process has the file open for writing (only for the file's owner or with CAP_LEASE, and not on network
   file systems); on POSIX a writer holding an ``flock`` or ``fcntl`` lock is detected with non-blocking
   lock attempts; on Windows a sharing violation (``PermissionError``: Outlook still holds the file) is
   the signal. A busy file is re-checked at least every 2 s (a lock release makes no event), never failed.
5. **Zero-byte files are taken** after the same settle time: an empty file is still something someone
   dropped, and silently ignoring it would hide it from the officer. (Firefox's empty placeholder is
   protected by rule 3.)
6. **Patterns decide quarantine, not intake.** A file matching none of the folder's patterns (matched
   case-insensitively, as Windows names are) is delivered with ``quarantine=True``: it is still out of
   the transport medium, encrypted, and the officer decides.
7. **Remove only what was delivered, and overwrite it first.** After ``deliver`` returns, the open file must
   be unchanged (same size and mtime, fully read). The name is then renamed to a private claim name in the
   same folder and the renamed file is compared with the delivered one before it is removed, so a file that
   replaced it at the last instant is put back instead of deleted. If anything changed the source stays and
   is delivered again later (``deliver`` is idempotent by content hash). The claimed file is then
   overwritten with zeros of the same length through a handle on the very file that was read
   (:meth:`~.pinned.PinnedFolder.reopen_for_writing`), fsynced, and only then unlinked. When the
   overwrite is impossible (the agent's account may not write the file, a read-only file system), the
   ``source_kept`` callback records it with the deliveries *before* the unlink, so the proof of deletion
   can say so. A claim file left by a crash is delivered again with ``quarantine=True`` (normally a
   duplicate, so nothing new is stored), overwritten and removed; one that holds only zeros is what a crash
   between the overwrite and the unlink left, and is simply removed.

Failures never stop the watcher: unreadable files and ``deliver`` errors are retried with back-off (at most
one ``scan_interval_s`` apart) and turn the status ``retrying``/``failing`` until the file is taken or gone.
A dead observer thread or emitter is restarted by :meth:`FolderWatcher.supervise` (followed by a scan); if
native events cannot be had (inotify limits), the watcher polls instead. Logs and status carry error ids,
counts and a short keyed hash of a name (keyed per process), never the name itself: a name may be personal
data. Refusals are reported through the ``report`` callback once per item and episode, never per scan.

Not done: where leases are unavailable, a writer that takes no lock and pauses longer than the settle time
with the file closed or open can be cut short; its later bytes then arrive as a second delivery (both kept).
A drop folder on a network share that is unmounted while the agent runs counts as swapped (its path leads
to another directory): intake from it resumes after a restart. ``settle_seconds=0`` is for tests. The
Windows paths are written but not run by the Linux test machines.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fnmatch
import hashlib
import hmac
import logging
import os
import secrets
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from retention_agent.clock import Clock
from retention_agent.intake import pinned
from retention_agent.intake.base import (
    Channel,
    Deliver,
    DeliverResult,
    IntakeState,
    IntakeStatus,
    RefusalReport,
    SourceKept,
)
from retention_agent.intake.rules import sniff_file_type
from retention_agent.intake.stability import StabilityTracker
from retention_agent.system import wipe
from retention_agent.testing_hooks import fault_point

log = logging.getLogger(__name__)

# Error ids (stable; logs and status carry these, never file names).
ERR_REFUSED = "source-refused"  # a symlink, directory or special file in a drop folder
ERR_UNREADABLE = "source-unreadable"  # open/stat failed for a reason other than a lock
ERR_DELIVER = "intake-deliver-failed"  # deliver raised something that is not a catalogue error
ERR_CHANGED = "intake-source-changed"  # the file changed while it was being delivered
ERR_REMOVE = "intake-remove-failed"  # delivered, but the source could not be removed yet
ERR_FOLDER = "intake-folder-unavailable"  # the folder cannot be listed or watched
ERR_OBSERVER = "intake-observer-restarted"  # the observer or an emitter thread died and was restarted
ERR_OBSERVER_FALLBACK = "intake-observer-polling"  # native events unavailable (e.g. inotify limits): polling
ERR_INTERNAL = "intake-internal"  # a bug caught by the worker loop so that intake keeps running
ERR_HARD_LINK = "source-hard-link"  # a file with more than one name
ERR_SPARSE = "source-sparse"  # a file that is mostly holes
ERR_TOO_LARGE = "source-too-large"  # larger than max_file_bytes
ERR_AGENTS_OWN = "source-owned-by-agent"  # owned by the agent's own account (shared mode)

CHANNELS = ("folder", "zivver")
_CLAIM_PREFIX = ".retention-agent-claim-"
MAX_FILE_BYTES = 512 * 1024 * 1024
_SUPERVISE_EVERY_S = 5.0  # the longest the worker sleeps, so a dead observer is noticed quickly
_POLL_S = 0.25  # re-check delay for a file that is busy (locked, sibling present) before back-off
_BUSY_RETRY_MAX_S = 2.0  # a lock release makes no event: re-check a busy file at least this often
_POLLING_OBSERVER_INTERVAL_S = 1.0
_MAX_EXTENTS = 4096  # data/hole pairs looked at before the sparse check falls back to allocated blocks
_WINDOWS = sys.platform == "win32"
_WINDOWS_IN_USE = (32, 33)  # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION (ACCESS_DENIED stays an error)

_TEMP_SUFFIXES = (
    ".crdownload",  # Chrome, Edge
    ".part",  # Firefox
    ".partial",  # old Edge, IE
    ".download",  # Safari
    ".opdownload",  # Opera
    ".filepart",  # WinSCP
    ".aria2",  # aria2 control file
    ".tmp",  # Office (~WRL0001.tmp), many tools
    ".temp",
    ".swp",  # vim
    "~",  # editor backups
)
_SYSTEM_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})
_BUSY_SIBLING_SUFFIXES = (
    ".part",
    ".crdownload",
    ".partial",
    ".download",
    ".opdownload",
    ".filepart",
    ".aria2",
)
_HINT_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]


def is_temporary_name(name: str) -> bool:
    """True for names that are never a delivery: partial downloads, owner/lock files, dotfiles, OS litter."""
    folded = name.casefold()
    return (
        folded.startswith((".", "~$"))
        or (folded.startswith("#") and folded.endswith("#"))
        or folded.endswith(_TEMP_SUFFIXES)
        or folded in _SYSTEM_NAMES
    )


def _busy_siblings(name: str) -> list[str]:
    """Names whose presence says ``name`` is still being downloaded or is open in an editor."""
    names = [name + suffix for suffix in _BUSY_SIBLING_SUFFIXES]
    names += ["~$" + name, ".~lock." + name + "#"]
    if len(name) > 2:
        names.append("~$" + name[2:])  # Word shortens long names: ~$port.docx for report.docx
    return names


# ---- configuration and status ------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderConfig:
    """One drop folder. ``name`` is what deliveries record as their source: a label, no personal data."""

    name: str
    path: Path
    patterns: tuple[str, ...] = ("*",)
    channel: Channel = "folder"
    polling: bool = False
    settle_seconds: float = 2.0
    scan_interval_s: float = 30
    max_file_bytes: int = MAX_FILE_BYTES
    """Larger files stay where they are, as a refusal (``source-too-large``)."""
    refuse_agent_files: bool = False
    """Refuse files owned by the agent's own account (shared mode, where it has an account of its own)."""
    protected: tuple[Path, ...] = ()
    """Folders a drop folder may not lie in: the agent's home and the key store's folders."""
    select: Callable[[str, os.stat_result], bool] | None = None
    """When set, only entries it accepts (from their name and ``lstat``) are considered; every other entry is
    ignored without being opened or reported (a Downloads folder, :mod:`.downloads`)."""
    file_types: tuple[str, ...] = ()
    """When set, a file whose type (read from its bytes) is not one of these is left where it is, unreported,
    and not read again until it changes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "patterns", tuple(self.patterns))
        object.__setattr__(self, "protected", tuple(Path(p) for p in self.protected))
        problem = self._problem()
        if problem:
            raise ValueError(f"drop folder {self.name!r}: {problem}")

    def _problem(self) -> str | None:
        if not self.name.strip():
            return "name must not be empty"
        if self.channel not in CHANNELS:
            return f"channel must be one of {', '.join(CHANNELS)}, not {self.channel!r}"
        if not self.patterns or any(not p for p in self.patterns):
            return "patterns must be a non-empty list of non-empty glob patterns"
        if self.settle_seconds < 0:
            return "settle_seconds must not be negative"
        if self.scan_interval_s <= 0:
            return "scan_interval_s must be positive"
        if self.max_file_bytes <= 0:
            return "max_file_bytes must be positive"
        return None

    def matches(self, file_name: str) -> bool:
        """True when ``file_name`` matches one of the patterns (case-insensitive on every platform)."""
        folded = file_name.casefold()
        return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in self.patterns)


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


class _Outcome(enum.Enum):
    TAKEN = "taken"
    WAITING = "waiting"
    REFUSED = "refused"
    FAILED = "failed"
    IGNORED = "ignored"


@dataclass(frozen=True)
class _Identity:
    """The parts of a stat that must not change between scan, open, deliver and removal."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> _Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


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


# ---- opening a source file without following links ---------------------------------------------------

def _open_source(folder: pinned.PinnedFolder, name: str) -> int:
    """Open read-only, relative to the pinned folder; a link fails (ELOOP) and a FIFO does not block.

    On Windows the pinned folder opens with no sharing at all: PermissionError while another program has it.
    """
    return folder.open_read(name)


if sys.platform == "win32":  # pragma: no cover - Windows; not run on the Linux test machines

    def _in_use_elsewhere(fd: int) -> bool:
        return False  # the unshared open already proved nobody else has the file open

else:
    import fcntl

    def _in_use_elsewhere(fd: int) -> bool:
        """True when a writer still has the file open (Linux leases) or holds an flock or record lock."""
        return _open_for_writing(fd) or _locked_by_another(fd)

    def _open_for_writing(fd: int) -> bool:
        """Linux: a read lease is refused (EAGAIN) while any process has the file open for writing.

        Only the file's owner (or a process with CAP_LEASE) may take a lease, and network file systems
        refuse them: then this says False and the stability wait and the locks have to do.
        """
        setlease = getattr(fcntl, "F_SETLEASE", None)
        if setlease is None:
            return False
        try:
            fcntl.fcntl(fd, setlease, fcntl.F_RDLCK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.fcntl(fd, setlease, fcntl.F_UNLCK)  # never hold it: a lease break would signal this process
        return False

    def _locked_by_another(fd: int) -> bool:
        """True when another process holds an flock or a POSIX record lock that excludes readers."""
        attempts: list[Callable[[], object]] = [
            lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
            lambda: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB),
        ]
        for attempt in attempts:
            try:
                attempt()
            except (BlockingIOError, PermissionError):
                return True
            except OSError:
                continue  # this kind of lock is not supported here (some network file systems)
        return False


# ---- the watcher -------------------------------------------------------------------------------------


class _Hints(FileSystemEventHandler):
    """Turns watchdog events into candidate names. Must never raise: that would kill the observer thread."""

    def __init__(self, mark: Callable[[str], None]) -> None:
        self._mark = mark

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._mark(os.fsdecode(event.src_path))
            if event.dest_path:
                self._mark(os.fsdecode(event.dest_path))
        except Exception:
            log.error("intake: %s in the event handler (ignored; the next scan covers it)", ERR_INTERNAL)


class FolderWatcher:
    """Watches one drop folder and delivers each finished file exactly once, then removes it.

    ``start()`` runs a worker thread; ``scan_once()`` does one full pass synchronously (tests drive it with a
    :class:`~retention_agent.clock.ManualClock`); ``supervise()`` restarts a dead observer.
    """

    def __init__(
        self,
        config: FolderConfig,
        deliver: Deliver,
        clock: Clock,
        *,
        observer_factory: Callable[[], BaseObserver] | None = None,
        supervise_every_s: float = _SUPERVISE_EVERY_S,
        report: RefusalReport | None = None,
        source_kept: SourceKept | None = None,
    ) -> None:
        self.config = config
        self._deliver = deliver
        self._clock = clock
        self._observer_factory = observer_factory or self._default_observer
        self._supervise_every = supervise_every_s
        self._report = report
        self._source_kept = source_kept
        self._folder = Path(os.path.normpath(config.path.absolute()))
        self._pin: pinned.PinnedFolder | None = None
        self._watched: str = str(self._folder)  # the path the observer watches (events name it)
        self._tracker = StabilityTracker(clock, config.settle_seconds)
        self._name_key = secrets.token_bytes(16)
        self._lock = threading.Lock()  # guards _candidates and _counters
        self._work = threading.Lock()  # one pass at a time
        self._supervising = threading.Lock()
        self._candidates: set[str] = set()
        self._retry_at: dict[str, float] = {}  # name -> monotonic time of its next attempt
        self._failures: dict[str, int] = {}  # name -> consecutive failed attempts (back-off)
        self._reported: dict[str, str] = {}  # name -> error id already logged for it
        self._failing: set[str] = set()  # names whose last attempt failed (not merely busy)
        self._left_alone: dict[str, tuple[int, ...]] = {}  # name -> episode of a file of another type
        self._folder_ok = True
        self._counters = _Counters()
        self._next_scan = float("-inf")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None

    # -- public surface --

    def start(self) -> None:
        """Start watching: pin the folder, the observer, then a worker that scans at once and periodically."""
        if self._thread is not None:
            raise RuntimeError("this FolderWatcher is already started")
        self._stopping.clear()
        self._next_scan = float("-inf")
        with self._lock:
            self._counters.intake = replace(self._counters.intake, state="ok")
        with self._work:
            if self._pinned():
                self._start_observer()
        name = f"intake-folder-{self.config.name}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker and the observer; a file being delivered is finished first."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._stop_observer()
        if self._work.acquire(timeout=1.0):  # a worker stuck in deliver keeps its handle; the process ends anyway
            try:
                self._unpin()
            finally:
                self._work.release()
        with self._lock:
            self._counters.intake = self._counters.intake.stopped()

    def scan_once(self) -> PassResult:
        """One full scan of the folder: every entry is considered, whatever the events said."""
        with self._work:
            self._next_scan = self._clock.monotonic() + self.config.scan_interval_s
            if not self._pinned():
                return PassResult()
            assert self._pin is not None
            try:
                names = self._pin.names()
            except OSError:
                self._folder_unavailable()
                return PassResult()
            self._folder_ok = True
            self._forget_all_but(names)
            return self._consider_all(sorted(names))

    def request_scan(self) -> None:
        """Scan the whole folder soon (a Zivver notification arrived: files ignored so far may now be taken)."""
        self._next_scan = float("-inf")
        self._wake.set()

    def supervise(self) -> bool:
        """Restart the observer if its thread or an emitter thread died. True when it was restarted.

        A folder that is not pinned (not there yet, unavailable, refused but for a swap) is tried again at once:
        the next pass is a scan, which pins it first.
        """
        with self._supervising:
            if self._thread is None or self._stopping.is_set():
                return False
            refusal = self._counters.folder_refusal
            if self._pin is None or refusal:
                if refusal != pinned.FOLDER_SWAPPED:
                    self._next_scan = float("-inf")
                return False
            if self._observer_healthy():
                return False
            self._stop_observer()
            if not self._start_observer():
                return False
        with self._lock:
            self._counters.observer_restarts += 1
            restarts = self._counters.observer_restarts
            self._counters.intake = self._counters.intake.noted(ERR_OBSERVER)
        log.warning("intake %s: %s (restart %d); scanning", self.config.name, ERR_OBSERVER, restarts)
        self._next_scan = float("-inf")
        self._wake.set()
        return True

    @property
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
                refused_items=tuple(sorted(self._item_id(n) for n in c.refused_items)),
                stopped_because=c.folder_refusal,
            )

    # -- the pinned folder --

    def _pinned(self) -> bool:
        """Pin the folder, or check that the pinned one is still there and safe; False when nothing may be
        taken from it now. Called before every scan (with ``_work`` held)."""
        if self._counters.folder_refusal == pinned.FOLDER_SWAPPED:
            return False  # for good: the new path is never followed, until the agent starts again
        try:
            if self._pin is None:
                self._pin = pinned.pin(self._folder, protected=self.config.protected)
                if self._thread is not None and self._observer is None:
                    self._start_observer()
            else:
                self._pin.check()
        except pinned.FolderRefused as refused:
            if refused.code in pinned.RETRIED:
                self._folder_unavailable()
            else:
                self._refuse_folder(refused.code)
            return False
        except OSError:
            self._folder_unavailable()
            return False
        self._accept_folder()
        return True

    def _refuse_folder(self, code: str) -> None:
        """No file is taken from the folder while ``code`` holds; reported once per episode."""
        if code == pinned.FOLDER_SWAPPED:
            self._stop_observer()
            self._unpin()
        with self._lock:
            new = self._counters.folder_refusal != code
            self._counters.folder_refusal = code
            self._counters.intake = self._counters.intake.failed(code, self._clock.now(), self._supervise_every,
                                                                 permanent=True)
            self._refresh_refusals()
        self._folder_ok = False
        if new:
            log.error("intake %s: %s; no file is taken from this folder", self.config.name, code)
            self._tell(code, "")

    def _accept_folder(self) -> None:
        with self._lock:
            cleared, self._counters.folder_refusal = self._counters.folder_refusal, None
            if cleared:
                self._refresh_refusals()
        if cleared:
            log.warning("intake %s: %s no longer holds; taking files again", self.config.name, cleared)

    def _unpin(self) -> None:
        folder, self._pin = self._pin, None
        if folder is not None:
            folder.close()

    # -- worker --

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.supervise()
                self._tick()
            except Exception as exc:  # the worker must outlive any bug; the message may hold a name
                self._fail(ERR_INTERNAL, self._supervise_every)
                log.error("intake %s: %s (%s)", self.config.name, ERR_INTERNAL, type(exc).__name__)
            self._wake.wait(self._idle_seconds())
            self._wake.clear()

    def _tick(self) -> None:
        if self._clock.monotonic() >= self._next_scan:
            self.scan_once()
        else:
            self._pass_candidates()

    def _pass_candidates(self) -> PassResult:
        """Consider the names events pointed at, and the waiting names whose re-check time has come."""
        with self._lock:
            names = self._candidates
            self._candidates = set()
        with self._work:
            if self._pin is None or self._counters.folder_refusal:
                return PassResult()  # only a scan, after its check of the folder, takes files again
            now = self._clock.monotonic()
            names |= {n for n, at in self._retry_at.items() if at <= now}
            return self._consider_all(sorted(names))

    def _idle_seconds(self) -> float:
        with self._work:
            now = self._clock.monotonic()
            wake_at = min([self._next_scan, *self._retry_at.values()])
        return min(max(wake_at - now, 0.01), self._supervise_every)

    def _mark(self, path: str) -> None:
        hinted = Path(path)
        if str(hinted.parent) != self._watched:
            return  # the folder itself, or a moved-out destination elsewhere
        with self._lock:
            self._candidates.add(hinted.name)
        self._wake.set()

    # -- one name --

    def _consider_all(self, names: Iterable[str]) -> PassResult:
        tally = dict.fromkeys(_Outcome, 0)
        for name in names:
            try:
                outcome = self._consider(name)
            except OSError:
                outcome = self._problem(name, ERR_UNREADABLE, failed=True)
            tally[outcome] += 1
        self._pass_done()
        return PassResult(
            taken=tally[_Outcome.TAKEN],
            waiting=tally[_Outcome.WAITING],
            refused=tally[_Outcome.REFUSED],
            failed=tally[_Outcome.FAILED],
            ignored=tally[_Outcome.IGNORED],
        )

    def _consider(self, name: str) -> _Outcome:
        if is_temporary_name(name) and not name.startswith(_CLAIM_PREFIX):
            return self._drop(name)
        folder = self._pin
        assert folder is not None
        try:
            st = folder.lstat(name)
        except FileNotFoundError:
            return self._drop(name)
        if not self._selected(name, st):
            return self._drop(name)
        refusal = self._refusal_for(st) or self._still_sparse(name, st)
        if refusal:
            return self._refuse(name, refusal, st)
        self._clear_refusal(name)
        self._tracker.observe(name, st.st_size, st.st_mtime_ns)
        remaining = self._tracker.remaining(name) or 0.0
        if remaining > 0:
            return self._wait(name, remaining)
        if not name.startswith(_CLAIM_PREFIX) and self._has_busy_sibling(name):
            return self._wait(name, _POLL_S)
        return self._take(name, _Identity.of(st))

    def _selected(self, name: str, st: os.stat_result) -> bool:
        """Whether the folder's selection rules let the agent look at this entry (a claim file is its own)."""
        if name.startswith(_CLAIM_PREFIX):
            return True
        if self.config.select is not None and not self.config.select(name, st):
            return False
        return self._left_alone.get(name) != _episode(st)

    def _refusal_for(self, st: os.stat_result) -> str | None:
        """Why a directory entry is left where it is, from its ``lstat`` alone (sparse needs the open file)."""
        if not stat.S_ISREG(st.st_mode):
            return ERR_REFUSED
        if st.st_nlink > 1:
            return ERR_HARD_LINK
        if st.st_size > self.config.max_file_bytes:
            return ERR_TOO_LARGE
        if self.config.refuse_agent_files and hasattr(os, "geteuid") and st.st_uid == os.geteuid():
            return ERR_AGENTS_OWN
        return None

    def _still_sparse(self, name: str, st: os.stat_result) -> str | None:
        """A file found sparse when it was opened, and unchanged since: refused again without opening it."""
        with self._lock:
            known = self._counters.refused_items.get(name)
        return ERR_SPARSE if known == (ERR_SPARSE, _episode(st)) else None

    def _take(self, name: str, scanned: _Identity) -> _Outcome:
        folder = self._pin
        assert folder is not None
        try:
            fd = _open_source(folder, name)
        except FileNotFoundError:
            return self._drop(name)
        except PermissionError as exc:
            if getattr(exc, "winerror", None) in _WINDOWS_IN_USE:
                return self._busy(name)  # another program has it open (Outlook, a browser)
            return self._problem(name, ERR_UNREADABLE, failed=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # replaced by a symlink since the scan: the next look refuses it
                return self._wait(name, 0.0)
            return self._problem(name, ERR_UNREADABLE, failed=True)
        with os.fdopen(fd, "rb") as stream:
            outcome, delivered = self._deliver_open(name, scanned, stream)
            if delivered is not None and not _WINDOWS:
                return self._remove(name, delivered, stream.fileno())  # POSIX: locked until the name is gone
        if delivered is not None:
            return self._remove(name, delivered, None)  # Windows cannot rename a file it holds unshared
        return outcome

    def _deliver_open(self, name: str, scanned: _Identity, stream: BinaryIO) -> tuple[_Outcome, _Delivered | None]:
        """Deliver an open source if it is the scanned file and nobody holds it; what was delivered."""
        fd = stream.fileno()
        st = os.fstat(fd)
        opened = _Identity.of(st)
        if opened != scanned or not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            self._tracker.forget(name)  # replaced or changed between the scan and the open
            return self._wait(name, 0.0), None
        if pinned.is_sparse(st.st_size, _allocated(fd, st)):
            return self._refuse(name, ERR_SPARSE, st), None
        if _in_use_elsewhere(fd):
            return self._busy(name), None
        claim = name.startswith(_CLAIM_PREFIX)
        if self.config.file_types and not claim and sniff_file_type(stream) not in self.config.file_types:
            self._left_alone[name] = _episode(st)  # not the kind of file this folder takes: not ours to touch
            self._forget_progress(name)
            return _Outcome.IGNORED, None
        if claim and _only_zeros(stream, st.st_size):
            return _Outcome.TAKEN, _Delivered(opened, None)  # overwritten before a crash: nothing to deliver
        quarantine = claim or not self.config.matches(name)
        try:
            result = self._deliver(stream, channel=self.config.channel, source=self.config.name, quarantine=quarantine)
        except Exception as exc:
            return self._problem(name, getattr(exc, "error_id", ERR_DELIVER), failed=True), None
        fault_point("intake.after-deliver")
        after = _Identity.of(os.fstat(fd))  # deliver must leave the stream open (it is ours to close)
        if after != opened or stream.tell() != after.size or _in_use_elsewhere(fd):
            self._tracker.forget(name)
            return self._problem(name, ERR_CHANGED), None
        if result.duplicate:
            with self._lock:
                self._counters.duplicates += 1
        return _Outcome.TAKEN, _Delivered(after, result)

    def _remove(self, name: str, delivered: _Delivered, fd: int | None) -> _Outcome:
        """Claim the name by rename, check what was claimed, overwrite it through its handle, then unlink it."""
        folder = self._pin
        assert folder is not None
        claim = _CLAIM_PREFIX + secrets.token_hex(8)
        try:
            folder.rename(name, claim)
        except FileNotFoundError:
            return self._taken(name)  # someone else removed it; the vault holds it
        except OSError:
            return self._problem(name, ERR_REMOVE, failed=True)
        claimed = _Identity.of(folder.lstat(claim))
        if claimed != delivered.identity:
            _put_back(folder, claim, name)
            self._tracker.forget(name)
            return self._problem(name, ERR_CHANGED)
        if delivered.result is not None:
            kept_because = self._overwrite(folder, claim, fd, claimed.size)
            if kept_because is not None:
                try:
                    self._record_kept(delivered.result, kept_because)
                except Exception:  # not recorded: the claim stays and is delivered again (a duplicate) later
                    return self._problem(name, ERR_REMOVE, failed=True)
            fault_point("intake.after-overwrite")
        try:
            folder.unlink(claim)
        except OSError:
            log.warning("intake %s: %s (the next scan removes it)", self.config.name, ERR_REMOVE)
        return self._taken(name)

    def _overwrite(self, folder: pinned.PinnedFolder, claim: str, fd: int | None, size: int) -> str | None:
        """Overwrite the claimed file with zeros through a handle on the file that was read; why not, or None."""
        try:
            target = folder.reopen_for_writing(-1 if fd is None else fd, claim)
        except OSError as exc:
            return wipe.reason(exc)
        try:
            wipe.overwrite(target, size)
        except OSError as exc:
            return wipe.reason(exc)
        finally:
            os.close(target)
        return None

    def _record_kept(self, result: DeliverResult, why: str) -> None:
        log.warning("intake %s: source-not-overwritten (%s) for delivery %s", self.config.name, why,
                    result.delivery_id)
        if self._source_kept is not None:
            self._source_kept(result.delivery_ids, why)

    # -- bookkeeping --

    def _taken(self, name: str) -> _Outcome:
        self._forget(name)
        with self._lock:
            self._counters.taken += 1
            self._counters.last_taken = self._clock.now()
        log.info("intake %s: delivered item %s", self.config.name, self._item_id(name))
        return _Outcome.TAKEN

    def _wait(self, name: str, seconds: float) -> _Outcome:
        self._retry_at[name] = self._clock.monotonic() + seconds
        return _Outcome.WAITING

    def _problem(self, name: str, error_id: str, *, failed: bool = False) -> _Outcome:
        """Log ``error_id`` once per name and episode and retry with back-off.

        ``failed`` problems (the file cannot be read, ``deliver`` raised, removal failed) count against the
        watcher's state until the file is taken or gone; others (it changed meanwhile) are only noted.
        """
        if self._reported.get(name) != error_id:
            self._reported[name] = error_id
            item = self._item_id(name)
            log.warning("intake %s: %s for item %s; retrying", self.config.name, error_id, item)
        delay = self._back_off(name, cap=None)
        if not failed:
            self._note(error_id)
            return _Outcome.WAITING
        self._failing.add(name)
        self._fail(error_id, delay)
        return _Outcome.FAILED

    def _busy(self, name: str) -> _Outcome:
        """Locked or held open by another program: normal while Outlook or a browser writes; retry soon."""
        self._back_off(name, cap=_BUSY_RETRY_MAX_S)
        return _Outcome.WAITING

    def _back_off(self, name: str, *, cap: float | None) -> float:
        """Retry later: 0.25 s, doubling per attempt, at most ``cap`` and never beyond the next scan."""
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        limit = float(self.config.scan_interval_s) if cap is None else min(cap, self.config.scan_interval_s)
        delay = min(_POLL_S * 2 ** min(failures - 1, 12), limit)
        self._wait(name, delay)
        return delay

    def _refuse(self, name: str, code: str, st: os.stat_result) -> _Outcome:
        """Leave the item where it is; report it once per episode (the same code for the same file)."""
        self._forget_progress(name)
        episode = (code, _episode(st))
        with self._lock:
            if self._counters.refused_items.get(name) == episode:
                return _Outcome.REFUSED
            self._counters.refused_items[name] = episode
            self._counters.refused += 1
            self._counters.intake = self._counters.intake.noted(code)
            self._refresh_refusals()
        item = self._item_id(name)
        log.warning("intake %s: %s: %s item %s left in place", self.config.name, code, _kind(st.st_mode), item)
        self._tell(code, item)
        return _Outcome.REFUSED

    def _tell(self, code: str, item: str) -> None:
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

    def _drop(self, name: str) -> _Outcome:
        self._forget(name)
        return _Outcome.IGNORED

    def _forget(self, name: str) -> None:
        self._forget_progress(name)
        self._clear_refusal(name)

    def _forget_progress(self, name: str) -> None:
        self._tracker.forget(name)
        self._retry_at.pop(name, None)
        self._failures.pop(name, None)
        self._reported.pop(name, None)
        self._failing.discard(name)

    def _clear_refusal(self, name: str) -> None:
        with self._lock:
            if self._counters.refused_items.pop(name, None) is not None:
                self._refresh_refusals()

    def _forget_all_but(self, present: set[str]) -> None:
        self._tracker.retain(present)
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

    def _pass_done(self) -> None:
        """A pass over a readable, watched folder with no file failing is a success for ``status``."""
        if self._folder_ok and not self._failing and (self._thread is None or self._observer is not None):
            with self._lock:
                self._counters.intake = self._counters.intake.succeeded(self._clock.now())

    def _note(self, error_id: str) -> None:
        with self._lock:
            self._counters.intake = self._counters.intake.noted(error_id)

    def _fail(self, error_id: str, delay_s: float) -> None:
        with self._lock:
            self._counters.intake = self._counters.intake.failed(error_id, self._clock.now(), delay_s)

    def _folder_unavailable(self) -> None:
        """The folder cannot be listed or watched (a share offline, a folder not yet created)."""
        if self._folder_ok:
            log.error("intake %s: %s; retrying", self.config.name, ERR_FOLDER)
        self._folder_ok = False
        self._fail(ERR_FOLDER, self._supervise_every)

    def _item_id(self, name: str) -> str:
        """A short keyed hash of a name: lets status and log lines refer to one item without naming it."""
        digest = hmac.new(self._name_key, os.fsencode(name), hashlib.sha256).hexdigest()
        return digest[:12]

    def _has_busy_sibling(self, name: str) -> bool:
        folder = self._pin
        assert folder is not None
        return any(folder.exists(s) for s in _busy_siblings(name))

    # -- observer --

    def _default_observer(self) -> BaseObserver:
        if self.config.polling:
            return PollingObserver(timeout=_POLLING_OBSERVER_INTERVAL_S)
        return Observer()

    def _start_observer(self) -> bool:
        """Start the configured observer; if it cannot watch (inotify limits), fall back to polling.

        A polling observer lists the pinned handle where the platform names it (``/proc/self/fd/N``); inotify
        watches an inode, found by the path once: either way events are only hints for the pinned scan.
        """
        folder = self._pin
        if folder is None:
            return False
        factories = [self._observer_factory]
        if not self.config.polling:
            factories.append(lambda: PollingObserver(timeout=_POLLING_OBSERVER_INTERVAL_S))
        for attempt, factory in enumerate(factories):
            observer = factory()
            polls = isinstance(observer, PollingObserver)
            watched = folder.handle_path if polls and folder.handle_path else str(self._folder)
            try:
                observer.schedule(_Hints(self._mark), watched, recursive=False, event_filter=_HINT_EVENTS)
                observer.start()
            except OSError:
                continue
            if attempt:
                log.warning("intake %s: %s; polling the folder instead", self.config.name, ERR_OBSERVER_FALLBACK)
                self._note(ERR_OBSERVER_FALLBACK)
            self._watched = watched
            self._observer = observer
            return True
        self._folder_unavailable()
        return False

    def _stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return
        with contextlib.suppress(Exception):
            observer.stop()
            if observer.is_alive():
                observer.join(5.0)

    def _observer_healthy(self) -> bool:
        observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() for emitter in list(observer.emitters))


@dataclass(frozen=True)
class _Delivered:
    """What ``deliver`` took: the file as it was, and what the vault answered (None: nothing to deliver)."""

    identity: _Identity
    result: DeliverResult | None


def _put_back(folder: pinned.PinnedFolder, claim: str, name: str) -> None:
    """Return a claimed file to its name without overwriting whatever may have appeared there meanwhile.

    If the name is taken again (or hard links are unsupported and the name exists) the file stays under its
    claim name, where the next scan delivers it as quarantined.
    """
    try:
        folder.link(claim, name)
    except FileExistsError:
        return
    except (OSError, NotImplementedError):
        if not folder.exists(name):
            with contextlib.suppress(OSError):
                folder.rename(claim, name)
        return
    with contextlib.suppress(OSError):
        folder.unlink(claim)


def _allocated(fd: int, st: os.stat_result) -> int:
    """Bytes of the file that are not holes: SEEK_DATA/SEEK_HOLE where offered, else allocated blocks."""
    size = st.st_size
    if _WINDOWS:  # pragma: no cover - Windows; not run on the Linux test machines
        from retention_agent.intake.pinned_windows import allocated_bytes

        return min(size, allocated_bytes(fd))
    seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
    fallback = getattr(st, "st_blocks", size // 512 + 1) * 512
    if seek_data is None or seek_hole is None or size == 0:
        return min(size, fallback)
    holes, offset = 0, 0
    try:
        for _ in range(_MAX_EXTENTS):
            if offset >= size:
                return size - holes
            try:
                data = os.lseek(fd, offset, seek_data)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no data after offset, the rest is one hole
                    raise
                return size - holes - (size - offset)
            holes += data - offset
            offset = os.lseek(fd, data, seek_hole)
        return min(size, fallback)  # a file of very many extents: judge by its blocks
    except OSError:
        return min(size, fallback)
    finally:
        os.lseek(fd, 0, os.SEEK_SET)


def _episode(st: os.stat_result) -> tuple[int, ...]:
    """What must stay the same for a refused item to be the same refusal (reported once)."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _only_zeros(stream: BinaryIO, size: int) -> bool:
    """Whether a claim file holds nothing but zeros (then rewinds it)."""
    try:
        while block := stream.read(1 << 20):
            if block.count(0) != len(block):
                return False
        return size > 0
    finally:
        stream.seek(0)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    return "special-file"
