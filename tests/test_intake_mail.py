"""Mailbox intake: recognition rules, mail parsing, and the IMAP watcher against a real Dovecot on loopback.

The IMAP tests APPEND realistic AgII messages (password-protected .xlsx made with msoffcrypto-tool, AES zip
with pyzipper, 7z with py7zr, PDF) to a throwaway Dovecot (``tests/dovecot.py``) and check the server
afterwards: what was taken is gone (also from Trash), what was not is untouched (flags included).

``deliver`` is played by :class:`Recorder`, an in-test stand-in that stores by SHA-256 and answers
``duplicate=True`` for bytes it already holds, like the vault's deliver-once path does. A stand-in is used
because the real ingest path was not finished when these tests were written; the contract it emulates is
``retention_agent.intake.base.Deliver``. The crash test keeps its store on disk so that it survives SIGKILL.
"""

from __future__ import annotations

import email.policy
import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import BinaryIO

import py7zr
import pytest
import pyzipper
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from msoffcrypto.format.ooxml import OOXMLFile

from retention_agent.backoff import Backoff
from retention_agent.clock import ManualClock, SystemClock
from retention_agent.intake.base import FAILING_AFTER, DeliverResult, IntakeStatus
from retention_agent.intake.copies import CopySettings
from retention_agent.intake.mailbox import (
    ERR_AUTH,
    ERR_CONNECT,
    ERR_CONNECTION_LOST,
    ERR_TLS,
    MailboxWatcher,
)
from retention_agent.intake.mailbox_rules import ERR_NO_ATTACHMENTS, MailboxConfig
from retention_agent.intake.mailfile import (
    AttachmentTooLargeError,
    MailFileError,
    NestingTooDeepError,
    NotAMessageError,
    attachments,
    envelope,
    message_id,
)
from retention_agent.intake.rules import (
    HEAD_BYTES,
    Rule,
    classify,
    detect_file_type,
    matches,
    message_rules,
    sniff_file_type,
)
from tests.dovecot import (  # noqa: F401
    CuttingProxy,
    DovecotServer,
    dovecot_fixture,
    dovecot_tls_fixture,
    dovecot_trash_fixture,
)
from tests.retention_support import wait_for

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


# ---- rules (pure) ------------------------------------------------------------------------------------


def test_file_types_are_recognised_from_the_bytes() -> None:
    assert detect_file_type(encrypted_xlsx()) == "xlsx-encrypted"
    assert detect_file_type(plain_xlsx()) == "xlsx"
    assert detect_file_type(aes_zip()) == "zip"
    assert detect_file_type(seven_zip()) == "7z"
    assert detect_file_type(PDF) == "pdf"
    assert detect_file_type(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)) == "cfb"  # .xls/.doc/.msg
    assert detect_file_type(b"PK\x05\x06" + bytes(18)) == "zip"  # empty archive
    for other in (b"", b"hello", b"\x89PNG\r\n\x1a\n", b"7z", b"%PDF"):
        assert detect_file_type(other) is None


def test_sniff_finds_the_encryption_stream_beyond_the_head() -> None:
    # A compound file whose first directory sector lies past HEAD_BYTES.
    sector = (HEAD_BYTES // 512) + 4
    header = bytearray(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512 - 8))
    header[0x1E:0x20] = (9).to_bytes(2, "little")
    header[0x30:0x34] = sector.to_bytes(4, "little")
    body = bytearray(bytes(header) + bytes((sector + 1) * 512 - 512) + "EncryptionInfo".encode("utf-16-le"))
    stream = io.BytesIO(bytes(body) + bytes(1024))
    stream.seek(0)
    assert detect_file_type(bytes(body[:HEAD_BYTES])) == "cfb"
    assert sniff_file_type(stream) == "xlsx-encrypted"
    assert stream.tell() == 0
    assert sniff_file_type(io.BytesIO(aes_zip())) == "zip"


def test_rules_match_case_insensitive_globs_and_file_types() -> None:
    ok = {"sender": "NoReply@AgII.be", "subject": "FW: Lijst Inburgeringsattesten", "filename": "lijst.XLSX",
          "file_type": "xlsx-encrypted"}
    assert matches(RULE, **ok)
    assert not matches(RULE, **{**ok, "sender": "noreply@agii.be.evil.example"})
    assert not matches(RULE, **{**ok, "subject": "Nieuwsbrief"})
    assert not matches(RULE, **{**ok, "filename": "lijst.docx"})
    assert not matches(RULE, **{**ok, "file_type": "xlsx"})  # AgII never sends a workbook without password
    assert not matches(RULE, **{**ok, "file_type": None})  # unrecognised bytes
    # A file in a drop folder: no sender, no subject -> recognised by name and type alone.
    assert matches(RULE, filename="lijst.7z", file_type="7z")
    assert classify([Rule(name="pdf", file_types=("pdf",)), RULE], filename="x.pdf", file_type="pdf") == "pdf"
    assert classify([RULE], filename="x.exe", file_type=None) is None


def test_message_rules_need_envelope_criteria() -> None:
    folder_only = Rule(name="folder", filename_patterns=("*.xlsx",))
    assert message_rules([folder_only, RULE], sender=AGII, subject=SUBJECT) == (RULE,)
    assert message_rules([folder_only, RULE], sender="someone@example.org", subject=SUBJECT) == ()
    with pytest.raises(ValueError, match="unknown file type"):
        Rule(name="bad", file_types=("docx",))


# ---- base (pure) -------------------------------------------------------------------------------------


def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(base_s=1, factor=2, max_s=10)
    assert [backoff.delay(n) for n in range(6)] == [0, 1, 2, 4, 8, 10]
    assert backoff.delay(10_000) == 10
    jittered = Backoff(base_s=1, factor=2, max_s=10, jitter=0.5, random=lambda: 1.0)
    assert jittered.delay(3) == 2.0
    with pytest.raises(ValueError):
        Backoff(jitter=2)


def test_status_turns_failing_after_repeated_or_permanent_failures() -> None:
    clock = ManualClock()
    status = IntakeStatus()
    for n in range(1, FAILING_AFTER):
        status = status.failed("imap-connect", clock.now(), 5)
        assert (status.state, status.consecutive_failures) == ("retrying", n)
    status = status.failed("imap-connect", clock.now(), 5)
    assert status.state == "failing"
    assert status.next_retry == clock.now() + timedelta(seconds=5)
    status = status.succeeded(clock.now())
    assert (status.state, status.consecutive_failures, status.last_error_id) == ("ok", 0, "imap-connect")
    assert IntakeStatus().failed(ERR_AUTH, clock.now(), 1, permanent=True).state == "failing"


# ---- mail files (pure) -------------------------------------------------------------------------------


def test_attachments_of_a_message_with_several_files() -> None:
    files = [("lijst.xlsx", encrypted_xlsx()), ("lijst.zip", aes_zip()), ("lijst.7z", seven_zip())]
    found = attachments(make_message(files), max_attachment_bytes=10_000_000)
    assert [(a.filename, a.data) for a in found] == files
    assert found[0].content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_filenames_rfc2231_encoded_words_and_paths() -> None:
    raw = (
        b"From: AgII <noreply@agii.be>\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''%C3%A9l%C3%A8ves%20lijst.zip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
        b"--b\r\nContent-Type: application/octet-stream; name=\"=?UTF-8?B?w6lsw6h2ZXMueGxzeA==?=\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
        b"--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="..\\\\..\\\\Windows\\\\evil.pdf"\r\n\r\n%PDF-1.4\r\n'
        b"--b\r\nContent-Type: application/pdf; name*0=\"lange \"; name*1=\"naam.pdf\"\r\n\r\n%PDF-1.4\r\n"
        b"--b--\r\n"
    )
    names = [a.filename for a in attachments(raw, 1000)]
    assert names == ["élèves lijst.zip", "élèves.xlsx", "evil.pdf", "lange naam.pdf"]


def test_inline_parts_and_bodies() -> None:
    message = EmailMessage()
    message["From"] = AGII
    message["Subject"] = SUBJECT
    message.set_content("plain body")
    message.add_alternative("<p>html body</p>", subtype="html")
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG\r\n\x1a\nlogo", maintype="image", subtype="png", cid="<logo>")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="inline.pdf",
                           disposition="inline")
    message.add_attachment("naam;adres\n", subtype="csv", filename="lijst.csv")
    found = attachments(message.as_bytes(), 1_000_000)
    assert [(a.filename, a.content_type) for a in found] == [
        ("", "image/png"),  # no name, but not body text: kept, so nothing is lost when the message goes
        ("inline.pdf", "application/pdf"),
        ("lijst.csv", "text/csv"),
    ]


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


def test_attached_messages_are_opened_up_to_a_limit() -> None:
    xlsx = encrypted_xlsx()
    inner = make_message([("lijst.xlsx", xlsx)])
    found = attachments(_wrap(inner, 2), 10_000_000)
    assert [(a.filename, a.data) for a in found] == [("lijst.xlsx", xlsx)]
    with pytest.raises(NestingTooDeepError):
        attachments(_wrap(inner, 6), 10_000_000)


def test_limits_and_garbage_raise_mail_file_errors() -> None:
    raw = make_message([("lijst.zip", aes_zip())])
    with pytest.raises(AttachmentTooLargeError):
        attachments(raw, max_attachment_bytes=100)
    with pytest.raises(NotAMessageError):
        attachments(os.urandom(300).replace(b":", b"") + b"\n\nbody", 1000)
    assert issubclass(NotAMessageError, MailFileError)


def test_envelope_and_message_id() -> None:
    raw = make_message([], sender="=?utf-8?q?AgII_=C3=A9?= <NoReply@AgII.be>",
                       subject="=?utf-8?q?caf=C3=A9?=", mid="<abc@agii.example>")
    assert envelope(raw) == ("NoReply@AgII.be", "café")
    assert message_id(raw) == "<abc@agii.example>"
    assert envelope(b"Subject: only\r\n\r\n") == ("", "only")
    assert message_id(b"Subject: only\r\n\r\n") is None


REAL = make_message([("lijst.zip", aes_zip())])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda cut, junk: REAL[:cut] + junk, st.integers(0, len(REAL)), st.binary(max_size=200)),
    st.builds(lambda pos, byte: REAL[:pos] + bytes([byte]) + REAL[pos + 1:],
              st.integers(0, len(REAL) - 1), st.integers(0, 255)),
    st.builds(lambda parts: b"\r\n".join(parts), st.lists(st.sampled_from([
        b"From: a@b", b"Content-Type: multipart/mixed; boundary=x", b"--x", b"--x--", b"",
        b"Content-Type: message/rfc822", b"Content-Transfer-Encoding: base64", b"=?utf-8?b?###?=",
        b"Content-Disposition: attachment; filename*=bogus''%ZZ", b"AAAA====",
        b"Content-Type: text/plain; charset=x-nope",
    ]), max_size=40)),
))
def test_fuzz_mail_parsing_raises_only_mail_file_errors(raw: bytes) -> None:
    try:
        found = attachments(raw, max_attachment_bytes=10_000)
        assert all(isinstance(a.data, bytes) and "/" not in a.filename for a in found)
    except MailFileError:
        pass
    try:
        sender, subject = envelope(raw)
        assert isinstance(sender, str) and isinstance(subject, str)
    except MailFileError:
        pass
    assert message_id(raw) is None or isinstance(message_id(raw), str)


# ---- configuration -----------------------------------------------------------------------------------


def test_tls_is_the_default_and_rules_must_name_senders() -> None:
    base = {"name": "agii-inbox", "host": "imap.example", "port": 993, "username": "u", "secret_name": "s",
            "rules": (RULE,)}
    assert MailboxConfig(**base).tls == "tls"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no rule names a sender"):
        MailboxConfig(**{**base, "rules": (Rule(name="f", filename_patterns=("*",)),)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="address"):
        MailboxConfig(**{**base, "name": "ceremonie@gemeente.example"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tls"):
        MailboxConfig(**{**base, "tls": "off"})  # type: ignore[arg-type]


# ---- against Dovecot ---------------------------------------------------------------------------------


def test_one_attachment_is_vaulted_and_the_message_expunged(dovecot: DovecotServer) -> None:
    xlsx = encrypted_xlsx()
    append(dovecot, make_message([("Inburgeringsattesten.xlsx", xlsx)]))
    recorder = Recorder()
    report = watcher(dovecot, recorder).poll_once()
    assert (report.error_id, report.delivered, report.quarantined, report.expunged) == (None, 1, 0, 1)
    assert list(recorder.store.values()) == [xlsx]
    assert recorder.calls[0][1:] == ("email", "agii-inbox", False)
    assert folder_state(dovecot) == {}
    assert folder_state(dovecot, "Trash") == {}
    assert not list((dovecot.maildir / "cur").iterdir()) and not list((dovecot.maildir / "new").iterdir())


def test_several_attachments_and_an_unrecognised_one(dovecot: DovecotServer) -> None:
    files = [("a.xlsx", encrypted_xlsx()), ("b.zip", aes_zip()), ("c.7z", seven_zip()), ("d.pdf", PDF),
             ("open.xlsx", plain_xlsx())]
    append(dovecot, make_message(files))
    recorder = Recorder()
    w = watcher(dovecot, recorder)
    report = w.poll_once()
    assert (report.delivered, report.quarantined, report.expunged) == (5, 1, 1)
    assert recorder.quarantined() == {hashlib.sha256(plain_xlsx()).hexdigest()}
    assert folder_state(dovecot) == {}
    assert w.status.state == "ok"


def test_messages_that_match_no_rule_are_left_untouched(dovecot: DovecotServer) -> None:
    append(dovecot, make_message([("lijst.xlsx", encrypted_xlsx())], sender="iemand@example.org",
                                 mid="<other@x>"))
    append(dovecot, make_message([("lijst.xlsx", encrypted_xlsx())], subject="Nieuwsbrief", mid="<news@x>"),
           flags=(b"\\Flagged",))
    append(dovecot, make_message([], mid="<empty@x>"))  # matches, but nothing to move
    before = folder_state(dovecot)
    recorder = Recorder()
    w = watcher(dovecot, recorder)
    first, second = w.poll_once(), w.poll_once()
    assert (first.examined, first.matched, first.left, first.error_id) == (3, 1, 1, ERR_NO_ATTACHMENTS)
    assert second.examined == 0  # settled messages are not read again
    assert folder_state(dovecot) == before
    assert before[b"<news@x>"] == (b"\\Flagged",) and before[b"<other@x>"] == ()  # no \Seen was set
    assert recorder.calls == []


def test_the_copy_the_server_moved_to_trash_is_expunged_too(dovecot_trash: DovecotServer) -> None:
    append(dovecot_trash, make_message([("old.pdf", PDF)], subject="iets anders", mid="<keep@x>"), "Trash")
    append(dovecot_trash, make_message([("lijst.zip", aes_zip())], mid="<agii-1@x>"))
    report = watcher(dovecot_trash, Recorder(), copies=CopySettings(mode="off")).poll_once()  # the trash alone
    assert (report.expunged, report.trash_expunged) == (1, 1)
    assert folder_state(dovecot_trash) == {}
    assert set(folder_state(dovecot_trash, "Trash")) == {b"<keep@x>"}


def test_a_connection_dropped_mid_fetch_is_finished_next_cycle(dovecot: DovecotServer) -> None:
    big = os.urandom(400_000)
    files = [("lijst.zip", aes_zip()), ("bijlage.7z", b"7z\xbc\xaf\x27\x1c" + big)]
    append(dovecot, make_message(files))
    proxy = CuttingProxy(dovecot.host, dovecot.port)
    try:
        recorder = Recorder()
        w = watcher(dovecot, recorder, port=proxy.port)
        proxy.cut_after(50_000)  # greeting, login and headers are small; the body fetch crosses this
        first = w.poll_once()
        assert proxy.cuts == 1
        assert first.error_id == ERR_CONNECTION_LOST and first.expunged == 0
        assert (first.examined, first.matched, recorder.calls) == (1, 1, [])  # cut while fetching the body
        assert w.status.state == "retrying"
        assert len(folder_state(dovecot)) == 1  # still on the server
        second = w.poll_once()
        assert (second.error_id, second.delivered, second.expunged) == (None, 2, 1)
        assert len(recorder.store) == 2 and len(recorder.calls) == 2
        assert folder_state(dovecot) == {}
    finally:
        proxy.close()


def test_server_restart_between_deliver_and_expunge(dovecot: DovecotServer) -> None:
    files = [("a.xlsx", encrypted_xlsx()), ("b.zip", aes_zip())]
    append(dovecot, make_message(files))
    recorder = Recorder()
    recorder.after = lambda count: dovecot.restart() if count == 2 else None
    w = watcher(dovecot, recorder)
    first = w.poll_once()
    assert first.error_id == ERR_CONNECTION_LOST and (first.delivered, first.expunged) == (2, 0)
    assert len(folder_state(dovecot)) == 1
    recorder.after = None
    second = w.poll_once()
    assert (second.error_id, second.delivered, second.duplicates, second.expunged) == (None, 0, 2, 1)
    assert len(recorder.store) == 2
    assert folder_state(dovecot) == {}


CRASH_SCRIPT = textwrap.dedent("""
    import hashlib, os, signal, sys
    from pathlib import Path
    from retention_agent.clock import SystemClock
    from retention_agent.intake.base import DeliverResult
    from retention_agent.intake.mailbox import MailboxWatcher
    from retention_agent.intake.mailbox_rules import MailboxConfig
    from retention_agent.intake.rules import Rule

    port, password, store, kill_after = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    calls = []

    def deliver(stream, *, channel, source, quarantine, reason=""):
        data = stream.read()
        digest = hashlib.sha256(data).hexdigest()
        target = store / digest
        duplicate = target.exists()
        if not duplicate:  # committed: written, fsynced, renamed
            tmp = store / (digest + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data); f.flush(); os.fsync(f.fileno())
            os.rename(tmp, target)
        calls.append(duplicate)
        if len(calls) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return DeliverResult(digest[:12], duplicate)

    rule = Rule(name="agii", senders=("*@agii.be",), file_types=("xlsx-encrypted", "zip"))
    config = MailboxConfig(name="agii-inbox", host="127.0.0.1", port=port, username="agii-intake",
                           secret_name="s", tls="none", rules=(rule,))
    report = MailboxWatcher(config, deliver, lambda name: password, SystemClock()).poll_once()
    print(report.error_id, report.delivered, report.duplicates, report.expunged)
""")


def test_sigkill_between_commit_and_expunge_loses_nothing_and_duplicates_nothing(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    store = tmp_path / "vault"
    store.mkdir()
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT)
    files = [("a.xlsx", encrypted_xlsx()), ("b.zip", aes_zip())]
    append(dovecot, make_message(files))

    def run(kill_after: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), str(dovecot.port), dovecot.password, str(store),
                               str(kill_after)], capture_output=True, text=True, timeout=30)

    killed = run(kill_after=2)  # both attachments committed, message not yet expunged
    assert killed.returncode == -signal.SIGKILL
    assert len(folder_state(dovecot)) == 1
    assert sorted(p.name for p in store.iterdir()) == sorted(hashlib.sha256(d).hexdigest() for _, d in files)
    finished = run(kill_after=0)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["None", "0", "2", "1"]
    assert folder_state(dovecot) == {}
    assert len(list(store.iterdir())) == 2


def test_a_message_already_flagged_deleted_is_finished(dovecot: DovecotServer) -> None:
    append(dovecot, make_message([("lijst.zip", aes_zip())]), flags=(b"\\Deleted",))
    report = watcher(dovecot, Recorder()).poll_once()
    assert (report.delivered, report.expunged) == (1, 1)
    assert folder_state(dovecot) == {}


def test_an_unreadable_matching_message_is_vaulted_whole_in_quarantine(dovecot: DovecotServer) -> None:
    raw = _wrap(make_message([("lijst.zip", aes_zip())], sender=AGII), 6).replace(
        b"collega@gemeente.example", AGII.encode())
    append(dovecot, raw)
    recorder = Recorder()
    report = watcher(dovecot, recorder).poll_once()
    assert (report.error_id, report.quarantined, report.expunged) == ("mail-nesting-too-deep", 1, 1)
    assert len(recorder.store) == 1 and recorder.calls[0][3] is True
    assert folder_state(dovecot) == {}


def test_keep_message_vaults_the_message_too(dovecot: DovecotServer) -> None:
    append(dovecot, make_message([("lijst.zip", aes_zip())]))
    recorder = Recorder()
    report = watcher(dovecot, recorder, keep_message=True).poll_once()
    assert (report.delivered, report.expunged) == (2, 1)
    assert any(data.startswith(b"From:") or b"\r\nFrom:" in data[:500] for data in recorder.store.values())


def test_a_refusing_vault_leaves_the_message_and_is_retried(dovecot: DovecotServer) -> None:
    class DiskFullError(Exception):
        error_id = "disk-full"

    append(dovecot, make_message([("lijst.zip", aes_zip())]))
    recorder = Recorder(fail_with=DiskFullError())
    w = watcher(dovecot, recorder)
    report = w.poll_once()
    assert (report.error_id, report.expunged) == ("disk-full", 0)
    assert (w.status.state, w.status.last_error_id) == ("retrying", "disk-full")
    assert len(folder_state(dovecot)) == 1
    recorder.fail_with = None
    assert w.poll_once().expunged == 1
    assert w.status.state == "ok"


def test_wrong_password_is_reported_and_the_thread_keeps_trying(dovecot: DovecotServer) -> None:
    append(dovecot, make_message([("lijst.zip", aes_zip())]))
    secrets = {"imap/agii-inbox": "wrong"}
    w = MailboxWatcher(config(dovecot), Recorder(), lambda name: secrets[name], SystemClock(),
                       backoff=Backoff(base_s=0.05, max_s=0.1))
    w.start()
    try:
        assert wait_until(lambda: w.status.last_error_id == ERR_AUTH)
        assert w.status.state == "failing" and w.is_alive()
        assert len(folder_state(dovecot)) == 1
        secrets["imap/agii-inbox"] = dovecot.password  # the officer fixes the key store entry
        assert wait_until(lambda: folder_state(dovecot) == {})
        assert wait_until(lambda: w.status.state == "ok")
    finally:
        w.stop()
    assert not w.is_alive() and state(w) == "stopped"


def test_server_down_is_retried(dovecot: DovecotServer) -> None:
    dovecot.stop()
    w = watcher(dovecot, Recorder())
    assert w.poll_once().error_id == ERR_CONNECT
    assert w.status.state == "retrying"
    dovecot.start()
    assert w.poll_once().error_id is None and state(w) == "ok"


def test_idle_takes_new_mail_within_seconds_and_stop_is_prompt(dovecot: DovecotServer) -> None:
    recorder = Recorder()
    w = MailboxWatcher(config(dovecot, poll_interval_s=60.0), recorder, {"imap/agii-inbox": dovecot.password}
                       .__getitem__, SystemClock())
    w.start()
    try:
        assert wait_until(lambda: w.status.last_success is not None)
        # until it has sent IDLE (imapclient keeps the command's tag): from then on only IDLE wakes it early
        wait_for(lambda: getattr(w.driver._client, "_idle_tag", None) is not None, 10, "the watcher in IDLE")
        started = time.monotonic()
        append(dovecot, make_message([("lijst.zip", aes_zip())]))
        assert wait_until(lambda: len(recorder.calls) == 1, timeout=6)
        assert time.monotonic() - started < 5  # far below the 60 s poll interval: IDLE woke it
        assert wait_until(lambda: folder_state(dovecot) == {})
    finally:
        started = time.monotonic()
        w.stop()
        assert time.monotonic() - started < 2
    assert not w.is_alive()


def test_mail_that_lands_just_before_idle_is_found_by_the_recheck(dovecot: DovecotServer) -> None:
    """Dovecot does not announce a message that arrived between the last command and IDLE (tried)."""

    class Racing(MailboxWatcher):
        raced = False

        def _changed_since_scan(self, client: IMAPClient) -> bool:
            changed = super()._changed_since_scan(client)
            if not self.raced:  # the first time: right after this EXAMINE, right before IDLE
                self.raced = True
                append(dovecot, make_message([("lijst.zip", aes_zip())]))
            return changed

    recorder = Recorder()
    w = Racing(config(dovecot, poll_interval_s=60.0, idle_recheck_s=0.5), recorder,
               {"imap/agii-inbox": dovecot.password}.__getitem__, SystemClock())
    w.start()
    try:
        assert wait_until(lambda: w.raced)
        started = time.monotonic()
        assert wait_until(lambda: len(recorder.calls) == 1, timeout=5)
        assert time.monotonic() - started < 3  # the re-check, not Dovecot's 30 s or our 60 s poll
    finally:
        w.stop()


def test_xoauth2_uses_the_token_from_the_key_store() -> None:
    """Dovecot here has no OAuth2 set-up, so the client is a stand-in that records the login call."""
    seen: list[tuple[str, str, str]] = []

    class Client:
        def __init__(self, host: str, port: int, **kwargs: object) -> None:
            seen.append(("connect", host, str(kwargs["ssl"])))

        def oauth2_login(self, user: str, token: str) -> None:
            seen.append(("oauth2", user, token))
            raise LoginError("[AUTHENTICATIONFAILED] token expired")

        def shutdown(self) -> None:
            seen.append(("shutdown", "", ""))

    cfg = MailboxConfig(name="agii-m365", host="outlook.office365.com", port=993, username="svc-ceremonie",
                        secret_name="oauth/agii-m365", auth="xoauth2", rules=(RULE,))
    w = MailboxWatcher(cfg, Recorder(), {"oauth/agii-m365": "eyJ0eXAi.token"}.__getitem__, ManualClock(),
                       client_factory=Client)
    assert w.poll_once().error_id == ERR_AUTH
    assert seen == [("connect", "outlook.office365.com", "True"), ("oauth2", "svc-ceremonie", "eyJ0eXAi.token"),
                    ("shutdown", "", "")]
    assert w.status.state == "failing"
    nothing: dict[str, str] = {}
    missing = MailboxWatcher(cfg, Recorder(), nothing.__getitem__, ManualClock(), client_factory=Client)
    assert missing.poll_once().error_id == "imap-secret-missing"


def test_tls_default_refuses_a_plaintext_server(dovecot: DovecotServer) -> None:
    append(dovecot, make_message([("lijst.zip", aes_zip())]))
    w = watcher(dovecot, Recorder(), tls="tls")
    assert w.poll_once().error_id == ERR_TLS
    assert w.status.state == "failing"
    assert len(folder_state(dovecot)) == 1


def test_tls_and_starttls_verify_the_certificate(dovecot_tls: DovecotServer) -> None:
    assert dovecot_tls.tls_port is not None and dovecot_tls.ca_file is not None
    untrusted = watcher(dovecot_tls, Recorder(), tls="tls", port=dovecot_tls.tls_port)
    assert untrusted.poll_once().error_id == ERR_TLS  # self-signed, not in the system store: refused
    for tls, port in (("tls", dovecot_tls.tls_port), ("starttls", dovecot_tls.port)):
        append(dovecot_tls, make_message([("lijst.zip", aes_zip())]))
        w = watcher(dovecot_tls, Recorder(), tls=tls, port=port, ca_file=str(dovecot_tls.ca_file))
        report = w.poll_once()
        assert (report.error_id, report.expunged) == (None, 1), tls


def test_logs_carry_no_personal_data(dovecot: DovecotServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")  # everything, imapclient's own logger included
    append(dovecot, make_message([], mid="<empty@x>"))
    append(dovecot, make_message([("Jan Janssens attest.zip", aes_zip())]))
    w = watcher(dovecot, Recorder(), secrets={"imap/agii-inbox": "wrong"})
    w.poll_once()
    w2 = watcher(dovecot, Recorder())
    w2.poll_once()
    text = caplog.text
    assert "imap-auth" in text and ERR_NO_ATTACHMENTS in text
    for secret in ("agii.be", "Janssens", "inburgeringsattesten", dovecot.user, "wrong", dovecot.password):
        assert secret.lower() not in text.lower()
