"""Mail for the mailbox tests: realistic AgII messages and attachments (password-protected .xlsx made with
msoffcrypto-tool, AES zip with pyzipper, 7z with py7zr, PDF), a recording ``deliver`` and a watcher on a test
Dovecot (tests/support/dovecot.py).

``deliver`` is played by :class:`Recorder`, a stand-in that stores by SHA-256 and answers ``duplicate=True``
for bytes it already holds, like the vault's deliver-once path does; the contract it emulates is
``retention_agent.intake.base.Deliver``.
"""
from __future__ import annotations

import email.policy
import hashlib
import io
import os
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import BinaryIO

import py7zr
import pyzipper
from msoffcrypto.format.ooxml import OOXMLFile

from retention_agent.backoff import Backoff
from retention_agent.clock import ManualClock
from retention_agent.intake.base import DeliverResult
from retention_agent.intake.mailbox import (
    MailboxConfig,
    MailboxWatcher,
)
from retention_agent.intake.rules import (
    Rule,
)
from tests.support.dovecot import DovecotServer

AGII = "noreply@agii.be"
PASSWORD = "Inburgering-2026!"
RULE = Rule(
    name="agii",
    senders=("*@agii.be",),
    subjects=("*inburgeringsattest*",),
    filename_patterns=("*.xlsx", "*.zip", "*.7z", "*.pdf"),
    file_types=("xlsx-encrypted", "zip", "7z", "pdf"),
)
SUBJECT = "Lijst inburgeringsattesten november"


# ---- realistic files ---------------------------------------------------------------------------------


def _rows() -> str:
    # Synthetic people (no real data): enough rows that the workbook passes 4 KiB, which msoffcrypto needs.
    cells = []
    for n in range(1, 60):
        cells.append(
            f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>00.01.{n:02d}-123.45</t></is></c>'
            f'<c r="B{n}" t="inlineStr"><is><t>Testpersoon {n}</t></is></c></row>'
        )
    return "".join(cells)


FIXED_ZIP_TIME = (2026, 11, 1, 9, 0, 0)


def plain_xlsx() -> bytes:
    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{ns}/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{ns}/spreadsheetml/2006/main" '
            f'xmlns:r="{ns}/officeDocument/2006/relationships">'
            '<sheets><sheet name="Attesten" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{ns}/spreadsheetml/2006/main"><sheetData>{_rows()}</sheetData></worksheet>'
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # stored, not deflated: stays above 4 KiB
        for name, text in parts.items():
            entry = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)  # the same bytes at every call
            archive.writestr(entry, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + text)
    return buffer.getvalue()


def encrypted_xlsx(password: str = PASSWORD) -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(plain_xlsx())).encrypt(password, out)
    return out.getvalue()


def aes_zip(password: str = PASSWORD) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED,
                             encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password.encode())
        archive.writestr("attesten.csv", "rijksregisternummer;naam\n00.01.01-123.45;Testpersoon\n" * 20)
    return buffer.getvalue()


def seven_zip(password: str = PASSWORD) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password=password) as archive:
        archive.writestr("rijksregisternummer;naam\n00.01.01-123.45;Testpersoon\n" * 20, "attesten.csv")
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n" \
      b"trailer<</Root 1 0 R>>\n%%EOF\n"


def make_message(
    files: list[tuple[str, bytes]],
    *,
    sender: str = f"AgII <{AGII}>",
    subject: str = SUBJECT,
    mid: str | None = None,
    body: str = "Beste, in bijlage de lijst. Het wachtwoord volgt apart.",
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ceremonie@gemeente.example"
    message["Subject"] = subject
    message["Message-ID"] = mid or f"<{hashlib.sha256(os.urandom(8)).hexdigest()[:16]}@agii.example>"
    message.set_content(body)
    for name, data in files:
        maintype, subtype = _mime(name)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes(policy=email.policy.SMTP)


def _mime(name: str) -> tuple[str, str]:
    return {
        "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "zip": ("application", "zip"),
        "7z": ("application", "x-7z-compressed"),
        "pdf": ("application", "pdf"),
    }.get(name.rsplit(".", 1)[-1], ("application", "octet-stream"))


# ---- the deliver stand-in ----------------------------------------------------------------------------


@dataclass
class Recorder:
    """Stores delivered bytes by SHA-256; a second delivery of the same bytes is a duplicate."""

    store: dict[str, bytes] = field(default_factory=dict)
    calls: list[tuple[str, str, str, bool]] = field(default_factory=list)
    after: Callable[[int], None] | None = None  # called with the number of calls so far, after storing
    fail_with: Exception | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool,
                 reason: str = "") -> DeliverResult:
        if self.fail_with is not None:
            raise self.fail_with
        data = stream.read()
        digest = hashlib.sha256(data).hexdigest()
        with self.lock:
            duplicate = digest in self.store
            self.store[digest] = data
            self.calls.append((digest, channel, source, quarantine))
            count = len(self.calls)
        if self.after is not None:
            self.after(count)
        return DeliverResult(delivery_id=digest[:12], duplicate=duplicate)

    def quarantined(self) -> set[str]:
        return {digest for digest, _, _, q in self.calls if q}


def config(server: DovecotServer, **overrides: object) -> MailboxConfig:
    values: dict[str, object] = {
        "name": "agii-inbox", "host": server.host, "port": server.port, "username": server.user,
        "secret_name": "imap/agii-inbox", "tls": "none", "rules": (RULE,), "poll_interval_s": 30.0,
    }
    values.update(overrides)
    return MailboxConfig(**values)  # type: ignore[arg-type]


def watcher(server: DovecotServer, recorder: Recorder, secrets: dict[str, str] | None = None,
            **overrides: object) -> MailboxWatcher:
    known = secrets if secrets is not None else {"imap/agii-inbox": server.password}
    return MailboxWatcher(config(server, **overrides), recorder, known.__getitem__, ManualClock(),
                          backoff=Backoff(base_s=0.05, max_s=0.2))


def append(server: DovecotServer, raw: bytes, folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> None:
    client = server.client()
    client.append(folder, raw, flags=flags)
    client.logout()


def folder_state(server: DovecotServer, folder: str = "INBOX") -> dict[bytes, tuple[bytes, ...]]:
    """Message-ID -> flags, read without changing anything (EXAMINE, BODY.PEEK)."""
    client = server.client()
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    found = {}
    if uids:
        for item in client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values():
            header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]
            flags = tuple(sorted(f for f in item[b"FLAGS"] if f != b"\\Recent"))
            found[header.split(b":", 1)[1].strip()] = flags
    client.logout()
    return found


def state(w: MailboxWatcher) -> str:
    """The current state (a function, so that type checkers do not narrow it between two reads)."""
    return w.status.state


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _wrap(inner: bytes, depth: int) -> bytes:
    raw = inner
    for _ in range(depth):
        outer = EmailMessage()
        outer["From"] = "collega@gemeente.example"
        outer["Subject"] = "FW: " + SUBJECT
        outer.set_content("doorgestuurd")
        outer.add_attachment(email.message_from_bytes(raw, policy=email.policy.default))
        raw = outer.as_bytes()
    return raw
