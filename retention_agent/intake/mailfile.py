"""Mail messages as bytes (an IMAP fetch, or an ``.eml`` file dropped in a folder): their attachments.

Only the standard library's ``email`` package is used (``policy.default``), and the message is parsed in
memory; the caller bounds its size. What counts as an attachment:

- every non-multipart part with a file name (``Content-Disposition`` ``filename`` or ``Content-Type``
  ``name``, RFC 2231 continuations and charsets, and encoded words, as Outlook writes them), whether its
  disposition is ``attachment`` or ``inline`` (Outlook sends files ``inline`` too);
- every part whose disposition is ``attachment``, even without a name;
- every non-text part without a name (an inline image, a bare ``application/pdf`` body): a message is deleted
  from the server once its attachments are vaulted, so whatever is not body text must not be lost.

Text parts (``text/*``) without a name and not marked ``attachment`` are the message body and are not kept
(the body may hold personal data and is not the delivery).

**Attached messages** (``message/rfc822``, an ``.eml`` inside the mail, as when someone forwards the AgII mail
"as attachment") are opened, up to :data:`MAX_NESTING` levels deep, and *their* attachments are returned as if
they were attached to the outer message; their headers and body are not kept, exactly like the outer
message's. Deeper nesting is refused with :class:`MailFileError`.

**Outlook .msg files** are not opened: the one maintained Python reader (extract-msg) is GPL-licensed and a
reader of our own would need an OLE parser that is not a dependency of the default install. A ``.msg`` is an
OLE compound file (type ``cfb`` in :mod:`.rules`) and is quarantined as an unrecognised file, where the
officer can open it with Outlook.

Malformed input raises :class:`MailFileError` and never any other exception. Its message carries no part of
the mail (no address, subject or file name), so it can be logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parseaddr
from pathlib import PurePosixPath
from typing import ClassVar

MAX_NESTING = 5
"""How many ``message/rfc822`` levels are opened (a forward of a forward of a forward...)."""

MAX_MULTIPART_DEPTH = 50
"""How deep multipart containers may nest inside one message (real mail uses three or four levels)."""

MAX_FILENAME_CHARS = 255
_ENVELOPE_HEADERS = ("from", "date", "message-id", "subject", "content-type", "mime-version", "to")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class MailFileError(Exception):
    """A mail message that cannot be read. ``error_id`` is stable; the text has no personal data.

    Not part of the user-facing catalogue in ``retention_agent.errors``: callers turn it into a quarantine
    or a status entry, and log only the ``error_id``.
    """

    error_id: ClassVar[str] = "mail-unreadable"

    def __init__(self, reason: str) -> None:
        super().__init__(f"{self.error_id}: {reason}")
        self.reason = reason


class NotAMessageError(MailFileError):
    error_id = "mail-not-a-message"


class NestingTooDeepError(MailFileError):
    error_id = "mail-nesting-too-deep"


class AttachmentTooLargeError(MailFileError):
    error_id = "mail-attachment-too-large"


@dataclass(frozen=True)
class Attachment:
    filename: str
    """Base name only (no directories), control characters removed; ``""`` when the part has no name."""
    content_type: str
    data: bytes = field(repr=False)


def attachments(message: bytes, max_attachment_bytes: int) -> list[Attachment]:
    """The attachments of ``message`` in the order they appear (see the module documentation).

    Raises :class:`AttachmentTooLargeError` when one attachment is larger than ``max_attachment_bytes``,
    and :class:`MailFileError` for anything unreadable.
    """
    try:
        root = BytesParser(policy=policy.default).parsebytes(bytes(message))
        _require_headers(root)
        found: list[Attachment] = []
        _collect(root, found, max_attachment_bytes, depth=0, level=0)
        return found
    except MailFileError:
        raise
    except Exception as exc:  # the email package raises many kinds on hostile input
        raise MailFileError(f"the message cannot be parsed ({type(exc).__name__})") from exc


def envelope(message: bytes) -> tuple[str, str]:
    """``(sender address, subject)`` for rule matching only: never store or log them.

    Missing headers give ``""``. The sender is the first address of ``From``.
    """
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(bytes(message))
        return _sender(headers), _header_text(headers, "Subject")
    except Exception as exc:
        raise MailFileError(f"the headers cannot be parsed ({type(exc).__name__})") from exc


def message_id(message: bytes) -> str | None:
    """The ``Message-ID`` (with its angle brackets), or ``None`` if absent or unreadable."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(bytes(message))
        value = headers.get("Message-ID")
    except Exception:
        return None
    if value is None:
        return None
    text = "".join(str(value).split())
    return text or None


def header_fields(message: bytes) -> list[tuple[str, str]]:
    """Every header field of the message as ``(name, value)``, top first, values unfolded; ``[]`` if unreadable."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(bytes(message))
        return [(str(name), " ".join(str(value).split())) for name, value in headers.raw_items()]
    except Exception:
        return []


def looks_like_mail(head: bytes) -> bool:
    """Whether the first bytes of a file read as RFC 5322 headers (for ``.eml`` files in drop folders)."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(bytes(head))
        return any(name.lower() in _ENVELOPE_HEADERS for name in headers.keys())
    except Exception:
        return False


def _require_headers(root: Message) -> None:
    if not any(name.lower() in _ENVELOPE_HEADERS for name in root.keys()):
        raise NotAMessageError("no mail headers found")


def _collect(part: Message, found: list[Attachment], limit: int, depth: int, level: int) -> None:
    if level > MAX_MULTIPART_DEPTH:
        raise NestingTooDeepError(f"multipart parts nested more than {MAX_MULTIPART_DEPTH} levels")
    if part.get_content_type() == "message/rfc822":
        _collect_nested(part, found, limit, depth, level)
    elif part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                _collect(sub, found, limit, depth, level + 1)
    elif not _is_body_text(part):
        found.append(_leaf_attachment(part, limit))


def _collect_nested(part: Message, found: list[Attachment], limit: int, depth: int, level: int) -> None:
    if depth + 1 > MAX_NESTING:
        raise NestingTooDeepError(f"attached messages nested more than {MAX_NESTING} levels")
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = [sub for sub in payload if isinstance(sub, Message)]
    else:  # a message/rfc822 part sent base64-encoded: parse the decoded bytes
        raw = part.get_payload(decode=True)
        inner = [BytesParser(policy=policy.default).parsebytes(raw)] if isinstance(raw, bytes) else []
    for message in inner:
        _collect(message, found, limit, depth + 1, level + 1)


def _is_body_text(part: Message) -> bool:
    return (
        part.get_content_maintype() == "text"
        and part.get_filename() is None
        and part.get_content_disposition() != "attachment"
    )


def _leaf_attachment(part: Message, limit: int) -> Attachment:
    encoded = part.get_payload()
    if isinstance(encoded, str) and len(encoded) * 3 // 4 > limit + 3:
        raise AttachmentTooLargeError(f"an attachment is larger than {limit} bytes")
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = b""
    if len(data) > limit:
        raise AttachmentTooLargeError(f"an attachment is larger than {limit} bytes")
    return Attachment(filename=clean_filename(part.get_filename()), content_type=part.get_content_type(),
                      data=data)


def clean_filename(name: str | None) -> str:
    """A file name from a mail header made safe to match: decoded, base name only, no control characters."""
    if not name:
        return ""
    text = str(name)
    if "=?" in text:
        text = _decode_words(text)
    text = _CONTROL.sub("", text).replace("\\", "/")
    base = PurePosixPath(text).name if text.strip("/ ") else ""
    return base.strip()[:MAX_FILENAME_CHARS]


def _decode_words(text: str) -> str:
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # a broken encoded word: keep the text as written
        return text


def _sender(headers: Message) -> str:
    try:
        value = headers.get("From")
        addresses = getattr(value, "addresses", ())
        if addresses:
            return str(addresses[0].addr_spec).strip()
    except Exception:  # fall back to the raw header text
        value = None
    raw = _raw_header(headers, "From")
    return parseaddr(raw)[1].strip() if raw else ""


def _header_text(headers: Message, name: str) -> str:
    try:
        value = headers.get(name)
        if value is not None:
            return str(value).strip()
    except Exception:  # fall back to the raw header text
        pass
    raw = _raw_header(headers, name)
    return _decode_words(raw).strip() if raw else ""


def _raw_header(headers: Message, name: str) -> str:
    for key, value in headers.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return ""
