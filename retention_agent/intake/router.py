"""What happens to a file between a watcher and the vault: recognition, mail files, announcements.

- A file's first bytes decide whether it looks like an AgII delivery (password-protected .xlsx, .zip, .7z,
  .pdf); one that does not is vaulted as ``quarantined`` for the officer to decide.
- A mail file (``.eml``) dropped in a drop folder is opened and each attachment is vaulted on its own, like a
  message from the mailbox; the mail file itself (headers and body may hold personal data) is not kept.
  Outlook ``.msg`` needs a GPL parser, so it is vaulted whole as quarantined.
- Every new delivery is announced to staff (a quarantined one to the officer).
"""

from __future__ import annotations

import io
import itertools
from typing import BinaryIO, Protocol, cast

from retention_agent.intake.base import Deliver, DeliverResult
from retention_agent.intake.mailfile import MailFileError, attachments, looks_like_mail
from retention_agent.intake.rules import HEAD_BYTES, detect_file_type
from retention_agent.vault.vault import ChunkReader

AGII_FILE_TYPES = frozenset({"xlsx-encrypted", "xlsx", "zip", "7z", "pdf"})
MAX_MAIL_FILE = 32 * 1024 * 1024
"""A mail file is opened in memory up to this size (mail servers refuse larger messages: 25-35 MB); a larger
one is vaulted whole, as quarantined, so the agent's memory stays bounded whatever is dropped."""
_HEAD = HEAD_BYTES  # enough to find an encrypted workbook's OLE directory
MAIL_FILE_CHANNELS = ("folder", "zivver")  # the mailbox unpacks its own messages

class Announce(Protocol):
    def __call__(self, result: DeliverResult, *, quarantined: bool) -> None: ...


class Router:
    """A :class:`Deliver` that recognises, unpacks mail files and announces, in front of the vault's."""

    def __init__(self, deliver: Deliver, announce: Announce | None = None) -> None:
        self.deliver = deliver
        self.announce = announce

    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool) -> DeliverResult:
        head = stream.read(_HEAD)
        rest = iter(lambda: stream.read(1 << 20), b"")
        buffered = cast(BinaryIO, io.BufferedReader(ChunkReader(itertools.chain([head], rest)), 1 << 20))
        if channel in MAIL_FILE_CHANNELS and looks_like_mail(head) and detect_file_type(head) is None:
            return self._mail_file(buffered, channel=channel, source=source)
        recognised = detect_file_type(head) in AGII_FILE_TYPES
        return self._one(buffered, channel=channel, source=source, quarantine=quarantine or not recognised)

    def _one(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool) -> DeliverResult:
        result = self.deliver(stream, channel=channel, source=source, quarantine=quarantine)
        if self.announce and not result.duplicate:
            self.announce(result, quarantined=quarantine)
        return result

    def _mail_file(self, stream: BinaryIO, *, channel: str, source: str) -> DeliverResult:
        data = stream.read(MAX_MAIL_FILE + 1)
        if len(data) > MAX_MAIL_FILE:  # too large to open in memory: the whole file, as it is, quarantined
            rest = iter(lambda: stream.read(1 << 20), b"")
            whole = cast(BinaryIO, io.BufferedReader(ChunkReader(itertools.chain([data], rest)), 1 << 20))
            del data
            return self._one(whole, channel=channel, source=source, quarantine=True)
        try:
            parts = attachments(data, MAX_MAIL_FILE)
        except MailFileError:
            return self._one(io.BytesIO(data), channel=channel, source=source, quarantine=True)
        if not parts:
            return self._one(io.BytesIO(data), channel=channel, source=source, quarantine=True)
        results = [self._one(io.BytesIO(part.data), channel=channel, source=source,
                             quarantine=detect_file_type(part.data[:_HEAD]) not in AGII_FILE_TYPES)
                   for part in parts]
        return results[0]
