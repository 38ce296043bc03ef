"""Every copy of a taken message in the same mailbox: found by its files, then removed (or reported).

When the watcher has taken an AgII message, copies of its files may still be in the mailbox: a copy the clerk
filed in a folder ("Archief"), a forward or re-send in Sent Items, a colleague's forward in the inbox, a copy
left in the trash. Deliberation nr. 10 wants the file out of the transport medium, so after each taken
message the watcher runs :func:`sweep`:

1. **which folders**: every selectable folder (IMAP ``LIST``), minus those the configuration excludes
   (:class:`CopySettings`, glob patterns on the folder name); the trash is searched last, because servers that
   copy expunged mail to the trash (Dovecot's lazy_expunge, Gmail) put there what the sweep removed elsewhere;
2. **candidates** in each folder: messages with the same ``Message-ID`` (a filed copy, a second delivery), and
   messages larger than the smallest file that arrived since the day before the original (forwards, re-sends);
3. **what makes a copy**: a candidate is a copy only if one of its body parts decodes to exactly the bytes of
   one of the taken files (same size and SHA-256). The ``Message-ID`` is only a way to find candidates: a
   message that merely carries the same ``Message-ID`` (which any sender can write) is never removed;
4. **remove** (the default) or **report**: every copy is removed with the driver's method (IMAP expunge,
   Graph ``permanentDelete``); then every folder is searched again, and what is still there is counted as
   remaining (a copy the server put in the trash during the sweep is removed once more first).

Only files that were recognised as AgII's (and, with ``authserv_id``, from a message the mail server
authenticated) are looked for: a forged message must not be able to make the agent delete other mail.

The result (:class:`CopyReport`) holds counts per folder and the folder names — which a clerk chose, so a
name that looks like personal data (an address, a national register number, a file name) is replaced by a
short hash (:func:`folder_label`). Counts are capped by :data:`MAX_CANDIDATES` per folder; a folder with more
candidates is searched partly and the report says so (``complete = False``).

The matching rules (:func:`could_hold`, :func:`search_order`, :func:`selected`) are pure; :func:`sweep` does its
I/O through a :class:`~.mail_driver.MailboxDriver`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import secrets
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from retention_agent.evidence.personal_data import scan_personal_data
from retention_agent.store.mail_copies import CopyLedger, CopyMode, CopyProbe, CopyReport, FolderCopies

from .mail_driver import FolderError

if TYPE_CHECKING:
    from .mail_driver import FolderInfo, MailboxDriver, MessageRef

# The records of a search (probe, report, ledger) are the store's (store/mail_copies.py keeps them); named here
# too, for the watcher that runs the searches.
__all__ = ["COPY_MODES", "MAX_CANDIDATES", "CopyLedger", "CopyMode", "CopyProbe", "CopyReport", "CopySettings",
           "FolderCopies", "MemoryLedger", "could_hold", "folder_label", "search_order", "selected", "sweep"]

log = logging.getLogger(__name__)

COPY_MODES = ("remove", "report", "off")
MAX_CANDIDATES = 500
"""Candidates examined per folder and search; beyond this a folder counts as searched partly."""
_TRASH = "\\Trash"


@dataclass(frozen=True)
class CopySettings:
    mode: CopyMode = "remove"
    include: tuple[str, ...] = ("*",)
    """Folder names searched (glob patterns, case-insensitive)."""
    exclude: tuple[str, ...] = ()
    """Folder names never searched, even when ``include`` matches them."""


class MemoryLedger:
    """A :class:`CopyLedger` in memory (tests, and watchers built without the agent's database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending_checks: dict[str, tuple[str, tuple[str, ...], CopyProbe]] = {}
        self.finished: dict[str, tuple[tuple[str, ...], CopyReport]] = {}

    def begin(self, source: str, delivery_ids: Sequence[str], probe: CopyProbe) -> str:
        check = secrets.token_hex(8)
        with self._lock:
            self.pending_checks[check] = (source, tuple(delivery_ids), probe)
        return check

    def pending(self, source: str) -> list[tuple[str, CopyProbe]]:
        with self._lock:
            return [(check, probe) for check, (src, _, probe) in self.pending_checks.items() if src == source]

    def finish(self, check: str, report: CopyReport) -> None:
        with self._lock:
            _, deliveries, _ = self.pending_checks.pop(check)
            self.finished[check] = (deliveries, report)


# ---- pure rules ----------------------------------------------------------------------------------------


def could_hold(encoding: str, encoded_size: int, sizes: Collection[int]) -> bool:
    """Whether a body part of ``encoded_size`` octets in ``encoding`` may decode to a file of one of ``sizes``.

    base64 turns 3 bytes into 4 characters and breaks lines (76 characters plus CRLF in MIME, 64 in some
    mailers); quoted-printable can triple a byte; 7bit, 8bit and binary keep the size, give or take line ends.
    """
    encoding = encoding.lower()
    for size in sizes:
        if size <= 0:
            continue
        if encoding == "base64":
            chars = 4 * -(-size // 3)
            if chars <= encoded_size <= chars + 2 * -(-chars // 64) + 4:
                return True
        elif encoding == "quoted-printable":
            if size <= encoded_size <= 3 * size + 3 * (size // 70 + 1):
                return True
        elif size <= encoded_size <= size + 2 * (size // 64 + 1):
            return True
    return False


def selected(folder: FolderInfo, settings: CopySettings) -> bool:
    name = folder.name.casefold()
    included = any(fnmatch.fnmatchcase(name, p.casefold()) for p in settings.include)
    return included and not any(fnmatch.fnmatchcase(name, p.casefold()) for p in settings.exclude)


def search_order(folders: Sequence[FolderInfo]) -> list[FolderInfo]:
    """The folders in a stable order, the trash last."""
    return sorted(folders, key=lambda f: (f.special_use == _TRASH, f.name))


def folder_label(name: str) -> str:
    """The folder's name for a proof or status, or ``folder-<hash>`` when the name may hold personal data."""
    printable = name.isprintable() and 0 < len(name) <= 100
    if printable and not scan_personal_data({"folder": name}):
        return name
    return "folder-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# ---- the sweep ---------------------------------------------------------------------------------------------


@dataclass
class _Folder:
    info: FolderInfo
    found: list[MessageRef] = field(default_factory=list)
    removed: int = 0
    remaining: int = 0
    complete: bool = True


def sweep(driver: MailboxDriver, probe: CopyProbe, settings: CopySettings) -> CopyReport:
    """Find (and with ``mode = "remove"`` remove) every copy of the probe's files in the mailbox."""
    if settings.mode == "off" or not probe.parts:
        return CopyReport(mode=settings.mode, method=driver.removal_method)
    folders = [_Folder(info) for info in search_order([f for f in driver.folders() if selected(f, settings)])]
    seen = _Digests(driver)
    for folder in folders:
        folder.found, folder.complete = _copies(seen, folder.info.name, probe)
    if settings.mode == "remove":
        for folder in folders:
            folder.removed += _remove(driver, folder.info.name, folder.found)
        for folder in folders:
            left, complete = _copies(seen, folder.info.name, probe)
            if left and folder.info.special_use == _TRASH:  # put there by the server while the sweep ran
                folder.removed += _remove(driver, folder.info.name, left)
                left, complete = _copies(seen, folder.info.name, probe)
            folder.remaining, folder.complete = len(left), folder.complete and complete
    else:
        for folder in folders:
            folder.remaining = len(folder.found)
    return CopyReport(
        mode=settings.mode, method=driver.removal_method, folders_searched=len(folders),
        folders=tuple(FolderCopies(folder_label(f.info.name), f.info.special_use, len(f.found), f.removed,
                                   f.remaining, f.complete)
                      for f in folders if f.found or f.removed or f.remaining or not f.complete))


def _remove(driver: MailboxDriver, folder: str, refs: list[MessageRef]) -> int:
    """Remove ``refs`` from ``folder``; how many (0 when the folder refused: they then count as remaining)."""
    if not refs:
        return 0
    try:
        driver.delete(folder, refs)
    except FolderError:
        log.warning("copies: a folder refused the removal; its copies are counted as remaining")
        return 0
    return len(refs)


class _Digests:
    """The driver's part digests, remembered for one sweep: a message's content never changes under its
    reference (IMAP UIDs, Graph ids), so the verification pass reads only messages it has not seen."""

    def __init__(self, driver: MailboxDriver) -> None:
        self.driver = driver
        self._known: dict[tuple[str, MessageRef], set[tuple[int, str]]] = {}

    def of(self, folder: str, refs: list[MessageRef], sizes: frozenset[int]) -> dict[MessageRef, set[tuple[int, str]]]:
        new = [ref for ref in refs if (folder, ref) not in self._known]
        if new:
            for ref, found in self.driver.part_digests(folder, new, sizes).items():
                self._known[(folder, ref)] = found
        return {ref: self._known.get((folder, ref), set()) for ref in refs}


def _copies(seen: _Digests, folder: str, probe: CopyProbe) -> tuple[list[MessageRef], bool]:
    """The copies in ``folder``, and whether every candidate could be examined (a folder that refuses the
    search counts as not searched completely)."""
    try:
        return _search(seen, folder, probe)
    except FolderError:
        log.warning("copies: a folder refused the search; it is reported as searched partly")
        return [], False


def _search(seen: _Digests, folder: str, probe: CopyProbe) -> tuple[list[MessageRef], bool]:
    driver = seen.driver
    by_id = driver.search_message_id(folder, probe.message_id) if probe.message_id else []
    larger = [ref for ref in driver.search_larger(folder, min(probe.sizes) - 1, probe.since) if ref not in by_id]
    room = max(0, MAX_CANDIDATES - len(by_id))
    chosen = [*by_id[:MAX_CANDIDATES], *(larger[-room:] if room else [])]  # the newest, when there are too many
    complete = len(by_id) + len(larger) <= MAX_CANDIDATES
    digests = seen.of(folder, chosen, probe.sizes)
    return [ref for ref, found in digests.items() if found & probe.parts], complete
