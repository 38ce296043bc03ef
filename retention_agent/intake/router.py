"""What happens to a file between a watcher and the vault: recognition, mail files, announcements.

- A file's first bytes decide whether it looks like an AgII delivery (password-protected .xlsx, .zip, .7z,
  .pdf); one that does not is vaulted as ``quarantined`` for the officer to decide.
- A mail file (``.eml``) dropped in a drop folder is opened and each attachment is vaulted on its own, like a
  message from the mailbox; the mail file itself (headers and body may hold personal data) is not kept. Its
  attachments are held in memory only and never written outside the vault, so the one plaintext file to
  overwrite is the ``.eml`` itself (the folder watcher does that). A mail file with more than
  ``max_files_per_message`` attachments is vaulted whole, as one quarantined delivery with the reason
  ``mail-too-many-files``: one forged message must not become thousands of deliveries.
  Outlook ``.msg`` needs a GPL parser, so it is vaulted whole as quarantined.
- New deliveries are announced once per file or message, never once per attachment (a quarantined one to
  the officer, the others to staff).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from typing import BinaryIO, Protocol, cast

from retention_agent.chunks import ChunkReader
from retention_agent.intake.base import TOO_MANY_FILES, Deliver, DeliverResult, MessageFile
from retention_agent.intake.mailfile import MailFileError, attachments, looks_like_mail
from retention_agent.intake.rules import HEAD_BYTES, detect_file_type

AGII_FILE_TYPES = frozenset({"xlsx-encrypted", "xlsx", "zip", "7z", "pdf"})
MAX_MAIL_FILE = 32 * 1024 * 1024
"""A mail file is opened in memory up to this size (mail servers refuse larger messages: 25-35 MB); a larger
one is vaulted whole, as quarantined, so the agent's memory stays bounded whatever is dropped."""
MAX_FILES_PER_MESSAGE = 20
_HEAD = HEAD_BYTES  # enough to find an encrypted workbook's OLE directory
MAIL_FILE_CHANNELS = ("folder", "zivver")  # the mailbox unpacks its own messages


def read_head(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first bytes of ``stream`` (enough to recognise a file), and a stream that still yields them all."""
    head = stream.read(_HEAD)
    rest = iter(lambda: stream.read(1 << 20), b"")
    return head, cast(BinaryIO, io.BufferedReader(ChunkReader(itertools.chain([head], rest)), 1 << 20))


def is_agii_file(head: bytes) -> bool:
    """Whether a file starting with ``head`` is of a type AgII sends; anything else is quarantined."""
    return detect_file_type(head) in AGII_FILE_TYPES


class Announce(Protocol):
    def __call__(self, new: Sequence[tuple[str, bool, str]]) -> None:
        """Tell people once about the new deliveries of one file or message: (id, quarantined, reason)."""
        ...


class Router:
    """A :class:`Deliver` that recognises, unpacks mail files and announces, in front of the vault's."""

    def __init__(self, deliver: Deliver, announce: Announce | None = None, *,
                 max_files_per_message: int = MAX_FILES_PER_MESSAGE) -> None:
        self.deliver = deliver
        self.announce = announce
        self.max_files_per_message = max_files_per_message

    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool,
                 reason: str = "") -> DeliverResult:
        head, buffered = read_head(stream)
        if channel in MAIL_FILE_CHANNELS and looks_like_mail(head) and detect_file_type(head) is None:
            return self._mail_file(buffered, channel=channel, source=source)
        recognised = is_agii_file(head)
        return self._announced([self._one(buffered, channel, source, quarantine=quarantine or not recognised,
                                          reason=reason)])

    def deliver_message(self, files: Sequence[MessageFile], *, channel: str, source: str) -> list[DeliverResult]:
        """Deliver the files of one mail message, then announce the new ones once."""
        results = self._files(files, channel, source)
        self._announce(results)
        return [result for result, _quarantined, _reason in results]

    def _files(self, files: Sequence[MessageFile], channel: str,
               source: str) -> list[tuple[DeliverResult, bool, str]]:
        """Deliver each file; when one fails, those already stored are announced before the error goes on
        (taken again later they are duplicates, which are never announced)."""
        results: list[tuple[DeliverResult, bool, str]] = []
        try:
            for f in files:
                results.append(self._one(io.BytesIO(f.data), channel, source, quarantine=f.quarantine,
                                         reason=f.reason))
        except BaseException:
            self._announce(results)
            raise
        return results

    def _one(self, stream: BinaryIO, channel: str, source: str, *, quarantine: bool,
             reason: str = "") -> tuple[DeliverResult, bool, str]:
        result = self.deliver(stream, channel=channel, source=source, quarantine=quarantine,
                              reason=reason if quarantine else "")
        return result, quarantine, reason

    def _announced(self, results: list[tuple[DeliverResult, bool, str]]) -> DeliverResult:
        """Announce, and answer for the whole source: the first delivery, with the others it became."""
        self._announce(results)
        first = results[0][0]
        others = tuple(result.delivery_id for result, _q, _r in results[1:])
        return DeliverResult(first.delivery_id, all(r.duplicate for r, _q, _r in results), others)

    def _announce(self, results: list[tuple[DeliverResult, bool, str]]) -> None:
        new = [(result.delivery_id, quarantined, reason) for result, quarantined, reason in results
               if not result.duplicate]
        if self.announce and new:
            self.announce(new)

    def _mail_file(self, stream: BinaryIO, *, channel: str, source: str) -> DeliverResult:
        data = stream.read(MAX_MAIL_FILE + 1)
        if len(data) > MAX_MAIL_FILE:  # too large to open in memory: the whole file, as it is, quarantined
            rest = iter(lambda: stream.read(1 << 20), b"")
            whole = cast(BinaryIO, io.BufferedReader(ChunkReader(itertools.chain([data], rest)), 1 << 20))
            del data
            return self._announced([self._one(whole, channel, source, quarantine=True)])
        try:
            parts = attachments(data, MAX_MAIL_FILE)
        except MailFileError:
            return self._announced([self._one(io.BytesIO(data), channel, source, quarantine=True)])
        if not parts:
            return self._announced([self._one(io.BytesIO(data), channel, source, quarantine=True)])
        if len(parts) > self.max_files_per_message:
            return self._announced([self._one(io.BytesIO(data), channel, source, quarantine=True,
                                             reason=TOO_MANY_FILES)])
        files = [MessageFile(part.data, detect_file_type(part.data[:_HEAD]) not in AGII_FILE_TYPES)
                 for part in parts]
        return self._announced(self._files(files, channel, source))
