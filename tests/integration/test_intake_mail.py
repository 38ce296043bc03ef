"""Mailbox intake: recognition rules, mail parsing, and the IMAP watcher against a real Dovecot on loopback.

The IMAP tests APPEND realistic AgII messages (password-protected .xlsx made with msoffcrypto-tool, AES zip
with pyzipper, 7z with py7zr, PDF) to a throwaway Dovecot (``tests/support/dovecot.py``) and check the server
afterwards: what was taken is gone (also from Trash), what was not is untouched (flags included).

``deliver`` is played by :class:`Recorder`, an in-test stand-in that stores by SHA-256 and answers
``duplicate=True`` for bytes it already holds, like the vault's deliver-once path does. A stand-in is used
because the real ingest path was not finished when these tests were written; the contract it emulates is
``retention_agent.intake.base.Deliver``. The crash test keeps its store on disk so that it survives SIGKILL.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient

from retention_agent.backoff import Backoff
from retention_agent.clock import SystemClock
from retention_agent.intake.copies import CopySettings
from retention_agent.intake.mailbox import (
    ERR_AUTH,
    ERR_CONNECT,
    ERR_CONNECTION_LOST,
    ERR_NO_ATTACHMENTS,
    ERR_TLS,
    MailboxWatcher,
)
from tests.support.dovecot import CuttingProxy, DovecotServer
from tests.support.mail import (
    AGII,
    PDF,
    Recorder,
    _wrap,
    aes_zip,
    append,
    config,
    encrypted_xlsx,
    folder_state,
    make_message,
    plain_xlsx,
    seven_zip,
    state,
    wait_until,
    watcher,
)
from tests.support.retention import wait_for

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
