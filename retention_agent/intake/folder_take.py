"""Deliver each finished file of a pinned drop folder exactly once, then remove it (steps 2 to 7 of :mod:`.folder`).

One name at a time: look at it without following links, refuse or wait, open it, check it is the very file that
was scanned and that nobody holds it, hand it to ``deliver``, then claim the name by rename, check what was
claimed, overwrite it through its handle and unlink it. What happened to each name goes to the
:class:`~.folder_ledger.FolderLedger`.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from retention_agent.intake import pinned, source_file
from retention_agent.intake.base import Deliver, DeliverResult, SourceKept
from retention_agent.intake.folder_ledger import POLL_S, FolderLedger, Outcome, PassResult
from retention_agent.intake.folder_rules import (
    CLAIM_PREFIX,
    ERR_CHANGED,
    ERR_DELIVER,
    ERR_REMOVE,
    ERR_SPARSE,
    ERR_UNREADABLE,
    FolderConfig,
    Identity,
    busy_siblings,
    episode,
    is_claim,
    is_temporary_name,
    refusal_for,
)
from retention_agent.intake.rules import sniff_file_type
from retention_agent.testing_hooks import fault_point

log = logging.getLogger("retention_agent.intake.folder")  # one logger name for every line of the watcher

_WINDOWS_IN_USE = (32, 33)  # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION (ACCESS_DENIED stays an error)


@dataclass(frozen=True)
class _Delivered:
    """What ``deliver`` took: the file as it was, and what the vault answered (None: nothing to deliver)."""

    identity: Identity
    result: DeliverResult | None


class FolderTaker:
    """Takes the files of one drop folder, name by name, through a pinned handle."""

    def __init__(self, config: FolderConfig, deliver: Deliver, ledger: FolderLedger, *,
                 source_kept: SourceKept | None = None) -> None:
        self.config = config
        self._deliver = deliver
        self._ledger = ledger
        self._source_kept = source_kept

    def consider_all(self, folder: pinned.PinnedFolder, names: Iterable[str]) -> PassResult:
        tally = dict.fromkeys(Outcome, 0)
        for name in names:
            try:
                outcome = self._consider(folder, name)
            except OSError:
                outcome = self._ledger.problem(name, ERR_UNREADABLE, failed=True)
            tally[outcome] += 1
        return PassResult(
            taken=tally[Outcome.TAKEN],
            waiting=tally[Outcome.WAITING],
            refused=tally[Outcome.REFUSED],
            failed=tally[Outcome.FAILED],
            ignored=tally[Outcome.IGNORED],
        )

    def _consider(self, folder: pinned.PinnedFolder, name: str) -> Outcome:
        ledger = self._ledger
        if is_temporary_name(name) and not is_claim(name):
            return ledger.drop(name)
        try:
            st = folder.lstat(name)
        except FileNotFoundError:
            return ledger.drop(name)
        if not self._selected(name, st):
            return ledger.drop(name)
        refusal = refusal_for(self.config, st) or self._still_sparse(name, st)
        if refusal:
            return ledger.refuse(name, refusal, st)
        ledger.clear_refusal(name)
        ledger.tracker.observe(name, st.st_size, st.st_mtime_ns)
        remaining = ledger.tracker.remaining(name) or 0.0
        if remaining > 0:
            return ledger.wait(name, remaining)
        if not is_claim(name) and any(folder.exists(s) for s in busy_siblings(name)):
            return ledger.wait(name, POLL_S)
        return self._take(folder, name, Identity.of(st))

    def _selected(self, name: str, st: os.stat_result) -> bool:
        """Whether the folder's selection rules let the agent look at this entry (a claim file is its own)."""
        if is_claim(name):
            return True
        if self.config.select is not None and not self.config.select(name, st):
            return False
        return not self._ledger.left_alone(name, st)

    def _still_sparse(self, name: str, st: os.stat_result) -> str | None:
        """A file found sparse when it was opened, and unchanged since: refused again without opening it."""
        return ERR_SPARSE if self._ledger.refusal_of(name) == (ERR_SPARSE, episode(st)) else None

    def _take(self, folder: pinned.PinnedFolder, name: str, scanned: Identity) -> Outcome:
        try:
            fd = source_file.open_source(folder, name)
        except FileNotFoundError:
            return self._ledger.drop(name)
        except PermissionError as exc:
            if getattr(exc, "winerror", None) in _WINDOWS_IN_USE:
                return self._ledger.busy(name)  # another program has it open (Outlook, a browser)
            return self._ledger.problem(name, ERR_UNREADABLE, failed=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # replaced by a symlink since the scan: the next look refuses it
                return self._ledger.wait(name, 0.0)
            return self._ledger.problem(name, ERR_UNREADABLE, failed=True)
        with os.fdopen(fd, "rb") as stream:
            outcome, delivered = self._deliver_open(name, scanned, stream)
            if delivered is not None and not source_file.WINDOWS:
                return self._remove(folder, name, delivered, stream.fileno())  # POSIX: locked until the name is gone
        if delivered is not None:
            return self._remove(folder, name, delivered, None)  # Windows cannot rename a file it holds unshared
        return outcome

    def _deliver_open(self, name: str, scanned: Identity, stream: BinaryIO) -> tuple[Outcome, _Delivered | None]:
        """Deliver an open source if it is the scanned file and nobody holds it; what was delivered."""
        ledger = self._ledger
        fd = stream.fileno()
        st = os.fstat(fd)
        opened = Identity.of(st)
        if opened != scanned or not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            ledger.tracker.forget(name)  # replaced or changed between the scan and the open
            return ledger.wait(name, 0.0), None
        if pinned.is_sparse(st.st_size, source_file.allocated(fd, st)):
            return ledger.refuse(name, ERR_SPARSE, st), None
        if source_file.in_use_elsewhere(fd):
            return ledger.busy(name), None
        claim = is_claim(name)
        if self.config.file_types and not claim and sniff_file_type(stream) not in self.config.file_types:
            return ledger.leave_alone(name, st), None
        if claim and source_file.only_zeros(stream, st.st_size):
            return Outcome.TAKEN, _Delivered(opened, None)  # overwritten before a crash: nothing to deliver
        quarantine = claim or not self.config.matches(name)
        try:
            result = self._deliver(stream, channel=self.config.channel, source=self.config.name, quarantine=quarantine)
        except Exception as exc:
            return ledger.problem(name, getattr(exc, "error_id", ERR_DELIVER), failed=True), None
        fault_point("intake.after-deliver")
        after = Identity.of(os.fstat(fd))  # deliver must leave the stream open (it is ours to close)
        if after != opened or stream.tell() != after.size or source_file.in_use_elsewhere(fd):
            ledger.tracker.forget(name)
            return ledger.problem(name, ERR_CHANGED), None
        if result.duplicate:
            ledger.counted_duplicate()
        return Outcome.TAKEN, _Delivered(after, result)

    def _remove(self, folder: pinned.PinnedFolder, name: str, delivered: _Delivered, fd: int | None) -> Outcome:
        """Claim the name by rename, check what was claimed, overwrite it through its handle, then unlink it."""
        ledger = self._ledger
        claim = CLAIM_PREFIX + secrets.token_hex(8)
        try:
            folder.rename(name, claim)
        except FileNotFoundError:
            return ledger.taken(name)  # someone else removed it; the vault holds it
        except OSError:
            return ledger.problem(name, ERR_REMOVE, failed=True)
        claimed = Identity.of(folder.lstat(claim))
        if claimed != delivered.identity:
            source_file.put_back(folder, claim, name)
            ledger.tracker.forget(name)
            return ledger.problem(name, ERR_CHANGED)
        if delivered.result is not None:
            kept_because = source_file.overwrite(folder, claim, fd, claimed.size)
            if kept_because is not None:
                try:
                    self._record_kept(delivered.result, kept_because)
                except Exception:  # not recorded: the claim stays and is delivered again (a duplicate) later
                    return ledger.problem(name, ERR_REMOVE, failed=True)
            fault_point("intake.after-overwrite")
        try:
            folder.unlink(claim)
        except OSError:
            log.warning("intake %s: %s (the next scan removes it)", self.config.name, ERR_REMOVE)
        return ledger.taken(name)

    def _record_kept(self, result: DeliverResult, why: str) -> None:
        log.warning("intake %s: source-not-overwritten (%s) for delivery %s", self.config.name, why,
                    result.delivery_id)
        if self._source_kept is not None:
            self._source_kept(result.delivery_ids, why)
