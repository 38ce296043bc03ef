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

Where each part lives: the names and ``lstat`` rules and the error ids in :mod:`.folder_rules` (pure); the
I/O on one open file (leases, locks, holes, the overwrite) in :mod:`.source_file`; steps 2 to 7, name by
name, in :mod:`.folder_take`; what is remembered per name and shown in ``status`` in :mod:`.folder_ledger`;
the watchdog observer in :mod:`.folder_events`. This module pins the folder (step 0), runs the scans and the
worker thread, and is the watcher's public face.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.observers.api import BaseObserver

from retention_agent.clock import Clock
from retention_agent.intake import pinned
from retention_agent.intake.base import Deliver, RefusalReport, SourceKept
from retention_agent.intake.folder_events import FolderEvents
from retention_agent.intake.folder_ledger import FolderLedger, FolderStatus, PassResult
from retention_agent.intake.folder_rules import ERR_FOLDER, ERR_INTERNAL, ERR_OBSERVER, FolderConfig
from retention_agent.intake.folder_take import FolderTaker

log = logging.getLogger(__name__)

_SUPERVISE_EVERY_S = 5.0  # the longest the worker sleeps, so a dead observer is noticed quickly


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
        self._clock = clock
        self._supervise_every = supervise_every_s
        self._folder = Path(os.path.normpath(config.path.absolute()))
        self._pin: pinned.PinnedFolder | None = None
        self._ledger = FolderLedger(config, clock, report=report)
        self._taker = FolderTaker(config, deliver, self._ledger, source_kept=source_kept)
        self._events = FolderEvents(config, self._folder, self._ledger, self._mark, factory=observer_factory)
        self._lock = threading.Lock()  # guards _candidates
        self._work = threading.Lock()  # one pass at a time
        self._supervising = threading.Lock()
        self._candidates: set[str] = set()
        self._folder_ok = True
        self._next_scan = float("-inf")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public surface --

    def start(self) -> None:
        """Start watching: pin the folder, the observer, then a worker that scans at once and periodically."""
        if self._thread is not None:
            raise RuntimeError("this FolderWatcher is already started")
        self._stopping.clear()
        self._next_scan = float("-inf")
        self._ledger.started()
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
        self._events.stop()
        if self._work.acquire(timeout=1.0):  # a worker stuck in deliver keeps its handle; the process ends anyway
            try:
                self._unpin()
            finally:
                self._work.release()
        self._ledger.stopped()

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
            self._ledger.forget_all_but(names)
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
            refusal = self._ledger.folder_refusal
            if self._pin is None or refusal:
                if refusal != pinned.FOLDER_SWAPPED:
                    self._next_scan = float("-inf")
                return False
            if self._events.healthy():
                return False
            self._events.stop()
            if not self._start_observer():
                return False
        restarts = self._ledger.observer_restarted(ERR_OBSERVER)
        log.warning("intake %s: %s (restart %d); scanning", self.config.name, ERR_OBSERVER, restarts)
        self._next_scan = float("-inf")
        self._wake.set()
        return True

    @property
    def status(self) -> FolderStatus:
        return self._ledger.status()

    # -- the pinned folder --

    def _pinned(self) -> bool:
        """Pin the folder, or check that the pinned one is still there and safe; False when nothing may be
        taken from it now. Called before every scan (with ``_work`` held)."""
        if self._ledger.folder_refusal == pinned.FOLDER_SWAPPED:
            return False  # for good: the new path is never followed, until the agent starts again
        try:
            if self._pin is None:
                self._pin = pinned.pin(self._folder, protected=self.config.protected)
                if self._thread is not None and self._events.observer is None:
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
            self._events.stop()
            self._unpin()
        new = self._ledger.folder_refused(code, self._supervise_every)
        self._folder_ok = False
        if new:
            log.error("intake %s: %s; no file is taken from this folder", self.config.name, code)
            self._ledger.tell(code, "")

    def _accept_folder(self) -> None:
        cleared = self._ledger.folder_accepted()
        if cleared:
            log.warning("intake %s: %s no longer holds; taking files again", self.config.name, cleared)

    def _unpin(self) -> None:
        folder, self._pin = self._pin, None
        if folder is not None:
            folder.close()

    def _folder_unavailable(self) -> None:
        """The folder cannot be listed or watched (a share offline, a folder not yet created)."""
        if self._folder_ok:
            log.error("intake %s: %s; retrying", self.config.name, ERR_FOLDER)
        self._folder_ok = False
        self._ledger.fail(ERR_FOLDER, self._supervise_every)

    def _start_observer(self) -> bool:
        folder = self._pin
        if folder is None:
            return False
        if self._events.start(folder):
            return True
        self._folder_unavailable()
        return False

    # -- worker --

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.supervise()
                self._tick()
            except Exception as exc:  # the worker must outlive any bug; the message may hold a name
                self._ledger.fail(ERR_INTERNAL, self._supervise_every)
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
            if self._pin is None or self._ledger.folder_refusal:
                return PassResult()  # only a scan, after its check of the folder, takes files again
            names |= self._ledger.due(self._clock.monotonic())
            return self._consider_all(sorted(names))

    def _consider_all(self, names: list[str]) -> PassResult:
        assert self._pin is not None
        result = self._taker.consider_all(self._pin, names)
        self._pass_done()
        return result

    def _pass_done(self) -> None:
        """A pass over a readable, watched folder with no file failing is a success for ``status``."""
        if self._folder_ok and not self._ledger.any_failing and (
                self._thread is None or self._events.observer is not None):
            self._ledger.succeeded()

    def _idle_seconds(self) -> float:
        with self._work:
            now = self._clock.monotonic()
            wake_at = min(self._next_scan, self._ledger.next_retry())
        return min(max(wake_at - now, 0.01), self._supervise_every)

    def _mark(self, name: str) -> None:
        """An event named ``name`` in the folder: look at it in the next round."""
        with self._lock:
            self._candidates.add(name)
        self._wake.set()
