"""Mail that cannot flood and cannot pass for AgII's: RFC 8601 Authentication-Results (pure), then the mailbox
watcher and the router against a real Dovecot, with the 3,500-attachment message of the attack.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_mail_trust.py.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from email.message import EmailMessage

from retention_agent.intake.base import NOT_AUTHENTICATED, TOO_MANY_FILES, DeliverResult, MessageFile
from tests.support.dovecot import DovecotServer
from tests.support.mail import (
    AGII,
    PDF,
    SUBJECT,
    Recorder,
    aes_zip,
    append,
    folder_state,
    make_message,
    watcher,
)
from tests.unit.test_mail_trust import DOMAIN, TRUSTED

# ---- the mailbox watcher against Dovecot ----------------------------------------------------------------------


def signed(raw: bytes, *results: str) -> bytes:
    """``raw`` with Authentication-Results headers on top, as the receiving server adds them."""
    return b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results) + raw


class MessageRecorder(Recorder):
    """The recorder, also as ``deliver_message``: one list of files per message, as the router gets it."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[list[tuple[str, bool, str]]] = []

    def deliver_message(self, files: Sequence[MessageFile], *, channel: str, source: str) -> list[DeliverResult]:
        results = [self(io.BytesIO(f.data), channel=channel, source=source, quarantine=f.quarantine, reason=f.reason)
                   for f in files]
        self.messages.append([(hashlib.sha256(f.data).hexdigest(), f.quarantine, f.reason) for f in files])
        return results


def flood_message(count: int) -> bytes:
    """The attack: one small message from a forged AgII sender with thousands of tiny '%PDF-' files."""
    message = EmailMessage()
    message["From"] = f"AgII <{AGII}>"
    message["Subject"] = SUBJECT
    message["Message-ID"] = "<flood@attacker.example>"
    message.set_content("Zie bijlagen.")
    for n in range(count):
        message.add_attachment(b"%PDF-" + str(n).encode(), maintype="application", subtype="pdf",
                               filename=f"lijst-{n}.pdf")
    return message.as_bytes()


def test_a_message_with_3500_files_becomes_one_quarantined_delivery(dovecot: DovecotServer) -> None:
    raw = flood_message(3500)
    assert len(raw) < 700_000  # the size of the attack message: small enough for any mail server
    append(dovecot, raw)
    recorder = MessageRecorder()
    w = watcher(dovecot, recorder)
    w._deliver_message = recorder.deliver_message
    report = w.poll_once()
    assert (report.error_id, report.delivered, report.quarantined, report.expunged) == (None, 1, 1, 1)
    ((digest, quarantined, reason),) = recorder.messages[0]
    assert (len(recorder.messages), quarantined, reason) == (1, True, TOO_MANY_FILES)
    assert recorder.store[digest].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")  # the whole message
    assert folder_state(dovecot) == {}


def test_up_to_the_limit_every_file_is_its_own_delivery(dovecot: DovecotServer) -> None:
    files = [(f"lijst-{n}.pdf", PDF + bytes([n])) for n in range(5)]
    append(dovecot, make_message(files))
    recorder = MessageRecorder()
    w = watcher(dovecot, recorder, max_files_per_message=5)
    w._deliver_message = recorder.deliver_message
    assert w.poll_once().delivered == 5
    assert len(recorder.messages) == 1 and [q for _, q, _ in recorder.messages[0]] == [False] * 5


def test_with_an_authserv_id_only_mail_the_server_vouches_for_is_trusted(dovecot: DovecotServer) -> None:
    genuine = signed(make_message([("lijst.zip", aes_zip())]), f"{TRUSTED}; dkim=pass header.d={DOMAIN}")
    forged_below = signed(make_message([("lijst.pdf", PDF)]), f"{TRUSTED}; dkim=fail header.d={DOMAIN}",
                          "relay.example; none", f"{TRUSTED}; dmarc=pass header.from={DOMAIN}")
    unsigned = make_message([("lijst2.pdf", PDF + b"2")])
    for raw in (genuine, forged_below, unsigned):
        append(dovecot, raw)
    recorder = MessageRecorder()
    w = watcher(dovecot, recorder, authserv_id=TRUSTED, agii_domain=DOMAIN)
    w._deliver_message = recorder.deliver_message
    report = w.poll_once()
    assert (report.delivered, report.quarantined, report.expunged) == (3, 2, 3)
    verdicts = sorted((q, r) for message in recorder.messages for _, q, r in message)
    assert verdicts == [(False, ""), (True, NOT_AUTHENTICATED), (True, NOT_AUTHENTICATED)]


def test_without_an_authserv_id_recognition_alone_decides(dovecot: DovecotServer) -> None:
    append(dovecot, make_message([("lijst.pdf", PDF)]))
    recorder = Recorder()
    report = watcher(dovecot, recorder).poll_once()  # the plain Deliver: one call per file, as before
    assert (report.delivered, report.quarantined) == (1, 0)
