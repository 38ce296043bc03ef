"""Recognition rules: what an AgII delivery looks like. Pure functions over plain data.

A :class:`Rule` lists glob patterns (``fnmatch`` syntax, case-insensitive) for the sender address, the
subject and the file name, and the file types it accepts. An empty tuple means "anything". A criterion is
checked only when the value is known: a file in a drop folder has no sender and no subject, so a rule with
sender patterns still recognises it by name and type there.

Mailboxes are stricter (:func:`message_rules`): a rule takes part only if it names senders or subjects, so a
rule written for drop folders can never sweep up every message of a mailbox.

The file type comes from the bytes (:func:`detect_file_type`), never from the extension. Recognition is not
authentication: a sender address can be forged, which is why what does not match is quarantined (vaulted
and shown to the officer) rather than trusted or dropped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import BinaryIO

FILE_TYPES = ("xlsx-encrypted", "xlsx", "zip", "7z", "pdf", "cfb")
"""Every value :func:`detect_file_type` can return. ``cfb`` is an OLE compound file that is not an
encrypted OOXML package as far as the bytes read show (legacy .xls/.doc, Outlook .msg)."""

HEAD_BYTES = 64 * 1024
"""How much of a file :func:`detect_file_type` wants to see; :func:`sniff_file_type` reads this much."""

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_ZIP_EMPTY = b"PK\x05\x06"
_SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
_PDF_MAGIC = b"%PDF-"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_CFB_DIR_SECTOR_SIZE = 512  # one directory sector holds at least four entries in either CFB version


@dataclass(frozen=True)
class Rule:
    name: str
    senders: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    filename_patterns: tuple[str, ...] = ()
    file_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [t for t in self.file_types if t not in FILE_TYPES]
        if unknown:
            raise ValueError(f"rule {self.name!r}: unknown file type(s) {unknown}; known: {list(FILE_TYPES)}")
        if not self.name:
            raise ValueError("a rule needs a name")

    @property
    def has_envelope_criteria(self) -> bool:
        return bool(self.senders or self.subjects)


def detect_file_type(head: bytes) -> str | None:
    """The type of a file from its first bytes (see :data:`FILE_TYPES`), or ``None`` if unrecognised.

    Give it at least :data:`HEAD_BYTES` (or the whole file if smaller). An OLE compound file counts as
    ``xlsx-encrypted`` when its ``EncryptionInfo`` stream name is within ``head``; otherwise it is ``cfb``.
    An AES-encrypted zip is still a ``zip``; a plain (unencrypted) Excel workbook is ``xlsx``.
    """
    if head.startswith(_CFB_MAGIC):
        return "xlsx-encrypted" if _ENCRYPTION_INFO in head else "cfb"
    if head.startswith((_ZIP_MAGIC, _ZIP_EMPTY)):
        return "xlsx" if _looks_like_xlsx(head) else "zip"
    if head.startswith(_SEVEN_ZIP_MAGIC):
        return "7z"
    if head.startswith(_PDF_MAGIC):
        return "pdf"
    return None


def sniff_file_type(stream: BinaryIO) -> str | None:
    """:func:`detect_file_type` for a seekable stream; reads the CFB directory even when it lies far in."""
    start = stream.tell()
    try:
        head = stream.read(HEAD_BYTES)
        if head.startswith(_CFB_MAGIC) and _ENCRYPTION_INFO not in head:
            offset = _cfb_first_directory_offset(head)
            if offset is not None and offset >= len(head):
                stream.seek(start + offset)
                head += stream.read(_CFB_DIR_SECTOR_SIZE * 8)
        return detect_file_type(head)
    finally:
        stream.seek(start)


def _cfb_first_directory_offset(head: bytes) -> int | None:
    if len(head) < 0x34:
        return None
    (sector_shift,) = struct.unpack_from("<H", head, 0x1E)
    (first_dir_sector,) = struct.unpack_from("<I", head, 0x30)
    if sector_shift not in (9, 12) or first_dir_sector >= 0xFFFFFFFA:
        return None
    sector_size = 1 << sector_shift
    return (first_dir_sector + 1) * sector_size


def _looks_like_xlsx(head: bytes) -> bool:
    # Member names of an OOXML spreadsheet sit in the local headers near the start of the archive.
    return b"[Content_Types].xml" in head and b"xl/" in head


def _glob_any(value: str, patterns: tuple[str, ...]) -> bool:
    folded = value.casefold()
    return any(fnmatchcase(folded, pattern.casefold()) for pattern in patterns)


def _criterion(value: str | None, patterns: tuple[str, ...]) -> bool:
    """True when the rule does not constrain this criterion, the value is unknown, or a pattern matches."""
    if not patterns or value is None:
        return True
    return _glob_any(value, patterns)


def matches(
    rule: Rule,
    *,
    sender: str | None = None,
    subject: str | None = None,
    filename: str | None = None,
    file_type: str | None = None,
) -> bool:
    """Whether one file (with what is known of the message around it) looks like what ``rule`` describes.

    For sender, subject and file name ``None`` means "not known here" (a file in a folder has no sender).
    ``file_type`` is what :func:`detect_file_type` said: ``None`` (unrecognised bytes) is accepted only by a
    rule that lists no file types.
    """
    if rule.file_types and file_type not in rule.file_types:
        return False
    return (
        _criterion(sender, rule.senders)
        and _criterion(subject, rule.subjects)
        and _criterion(filename, rule.filename_patterns)
    )


def classify(
    rules: Iterable[Rule],
    *,
    sender: str | None = None,
    subject: str | None = None,
    filename: str | None = None,
    file_type: str | None = None,
) -> str | None:
    """The name of the first rule that :func:`matches`, or ``None`` (then the file is quarantined)."""
    for rule in rules:
        if matches(rule, sender=sender, subject=subject, filename=filename, file_type=file_type):
            return rule.name
    return None


def message_rules(rules: Iterable[Rule], *, sender: str, subject: str) -> tuple[Rule, ...]:
    """The rules a mail message answers to by its envelope (sender and subject).

    Only rules that name senders or subjects take part: a rule without envelope criteria would otherwise
    match every message in the mailbox. A message that answers to no rule is left alone on the server.
    """
    return tuple(
        rule
        for rule in rules
        if rule.has_envelope_criteria
        and _criterion(sender, rule.senders)
        and _criterion(subject, rule.subjects)
    )
