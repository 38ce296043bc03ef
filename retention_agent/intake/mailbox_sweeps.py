"""After a taken message is deleted: its copy in the trash, and every other copy of its files in the mailbox.

Steps 5 and 6 of :mod:`.mailbox`. A deleted message that the server moved to the trash is searched there by
its ``Message-ID`` and deleted too. The copy search that step 4 recorded (``copies.begin``, durable, before the
delete) is run here over every folder (:func:`~.copies.sweep`) and its result recorded (``copies.finish``);
a search that a dropped connection interrupted stays pending and runs again in a later cycle.
"""

from __future__ import annotations

import logging

from .copies import CopyLedger, CopyProbe, CopyReport, CopySettings, sweep
from .mail_driver import FolderError, MailboxDriver
from .mailbox_rules import ERR_COPIES, CycleReport

log = logging.getLogger("retention_agent.intake.mailbox")  # one logger name for every line of the watcher

_TRASH = b"\\Trash"  # RFC 6154 special-use flag


class MailboxSweeps:
    """The trash copies and copy searches still to do for one mailbox."""

    def __init__(self, name: str, folder: str, settings: CopySettings, ledger: CopyLedger) -> None:
        self.ledger = ledger
        self._name = name
        self._folder = folder
        self._settings = settings
        self._trash_pending: set[str] = set()
        self._trash_folder: str | None = None
        self._message_ids: dict[str, str] = {}  # copy check -> Message-ID, for this process only

    def trash_later(self, message_id: str) -> None:
        """Look for this deleted message in the trash at the end of the cycle."""
        self._trash_pending.add(message_id)

    def remember_message_id(self, check: str, message_id: str) -> None:
        """The Message-ID of a recorded copy search (not stored: it may say something about the sender)."""
        self._message_ids[check] = message_id

    def forget_trash_folder(self) -> None:
        """A new connection may see other folders: look the trash up again."""
        self._trash_folder = None

    def sweep_trash(self, driver: MailboxDriver, report: CycleReport) -> None:
        """Delete the trash copies that deleting the taken messages made (servers that keep deleted mail)."""
        if not self._trash_pending:
            return
        trash = self._find_trash(driver)
        if trash is None or trash == self._folder:
            self._trash_pending.clear()
            return
        for mid in sorted(self._trash_pending):
            refs = driver.search_message_id(trash, mid)
            if refs:
                driver.delete(trash, refs)
                report.trash_expunged += len(refs)
            self._trash_pending.discard(mid)

    def _find_trash(self, driver: MailboxDriver) -> str | None:
        if self._trash_folder is None:
            found = next((f.name for f in driver.folders() if f.special_use == _TRASH.decode()), None)
            self._trash_folder = found
        return self._trash_folder

    def sweep_copies(self, driver: MailboxDriver, report: CycleReport) -> None:
        for check, probe in self.ledger.pending(self._name):
            mid = self._message_ids.get(check)
            full = CopyProbe(parts=probe.parts, message_id=mid, since=probe.since)
            try:
                result = sweep(driver, full, self._settings)
            except FolderError:
                report.error_id = ERR_COPIES
                log.warning("mailbox %s: %s; the search is repeated at the next cycle", self._name, ERR_COPIES)
                continue
            self.ledger.finish(check, result)
            self._message_ids.pop(check, None)
            self._count_copies(result, report)

    def _count_copies(self, result: CopyReport, report: CycleReport) -> None:
        report.copies_found += result.found
        report.copies_removed += result.removed
        report.copies_remaining += result.remaining
        if result.found:
            log.info("mailbox %s: %d copies found in %d folders, %d removed, %d remain", self._name,
                     result.found, len(result.folders), result.removed, result.remaining)
