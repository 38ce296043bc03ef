"""Mailbox intake: recognition rules and mail parsing.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_intake_mail.py.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapclient.exceptions import LoginError

from retention_agent.backoff import Backoff
from retention_agent.clock import ManualClock
from retention_agent.intake.base import FAILING_AFTER, IntakeStatus
from retention_agent.intake.mailbox import (
    ERR_AUTH,
    MailboxConfig,
    MailboxWatcher,
)
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
from tests.support.mail import (
    AGII,
    PDF,
    RULE,
    SUBJECT,
    Recorder,
    _wrap,
    aes_zip,
    encrypted_xlsx,
    make_message,
    plain_xlsx,
    seven_zip,
)

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
