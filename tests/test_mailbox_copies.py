"""Every copy of a taken message in the mailbox: found by its files, removed (or reported), and in the proof.

Against a real Dovecot on loopback with the folders a clerk has: a copy filed in "Archief", a forward in Sent,
a copy in the trash, and a colleague's forward (as an attached message) in the inbox — and, beside them,
messages that must stay: one that forges the same Message-ID with another file, one with a file of the same
size but other bytes, and unrelated mail. Then the real agent: the copies leave the server and the proof of
deletion, checked with the real ``ssh-keygen``, says per folder how many were removed and how many remained.
"""

from __future__ import annotations

import email.policy
import hashlib
import json
import os
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from retention_agent.errors import DocumentInvalidError
from retention_agent.evidence import proof, proof_build, proof_verify
from retention_agent.intake.copies import (
    CopySettings,
    FolderCopies,
    MemoryLedger,
    could_hold,
    folder_label,
    search_order,
    selected,
)
from retention_agent.intake.mail_driver import FolderInfo
from tests.conftest import ME, AgentProcess, make_home
from tests.dovecot import DovecotServer, run_dovecot
from tests.retention_support import wait_for
from tests.test_intake_mail import SUBJECT, Recorder, aes_zip, append, folder_state, make_message, watcher

FOLDERS = ("Archief", "Sent")


@pytest.fixture(name="mailbox")
def mailbox_fixture() -> object:
    with run_dovecot(folders=FOLDERS) as server:
        yield server


@pytest.fixture(name="mailbox_lazy")
def mailbox_lazy_fixture() -> object:
    with run_dovecot(folders=FOLDERS, trash_on_expunge=True) as server:
        yield server


# ---- pure rules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 57, 100, 4096, 65_537, 400_000])
def test_a_part_that_holds_the_file_is_always_a_candidate_whatever_the_encoding(size: int) -> None:
    data = os.urandom(size)
    message = EmailMessage()
    message.set_content("x")
    message.add_attachment(data, maintype="application", subtype="octet-stream", filename="f.bin")
    encoded = message.get_payload()[1].get_payload().encode()  # base64, 76 characters a line, CRLF on the wire
    wire = encoded.replace(b"\n", b"\r\n")
    assert could_hold("base64", len(wire), {size})
    assert could_hold("BASE64", len(encoded), {size})
    assert could_hold("7bit", size, {size}) and could_hold("binary", size, {size})
    assert not could_hold("base64", len(wire), {size * 2 + 10})  # a file twice as large cannot be in there


def test_folders_are_chosen_by_pattern_and_the_trash_comes_last() -> None:
    folders = [FolderInfo("Trash", "\\Trash"), FolderInfo("INBOX"), FolderInfo("Archief"),
               FolderInfo("Gedeeld/Team"), FolderInfo("Sent", "\\Sent")]
    settings = CopySettings(include=("*",), exclude=("gedeeld/*",))
    chosen = [f.name for f in search_order([f for f in folders if selected(f, settings)])]
    assert chosen == ["Archief", "INBOX", "Sent", "Trash"]
    assert [f.name for f in folders if selected(f, CopySettings(include=("INBOX", "sent")))] == ["INBOX", "Sent"]


def test_a_folder_name_that_may_be_personal_data_is_hashed() -> None:
    assert folder_label("Archief") == "Archief" and folder_label("Verzonden items") == "Verzonden items"
    for personal in ("jan.peeters@gemeente.be", "Dossier 85.07.30-033.28", "lijst.xlsx", "x" * 101, "a\tb"):
        label = folder_label(personal)
        assert label.startswith("folder-") and len(label) == 19, personal


# ---- the sweep against Dovecot ------------------------------------------------------------------------------


ORIGINAL_ID = "<agii-2026-11@agii.example>"


def forward_as_attachment(original: bytes, sender: str = "collega@gemeente.example") -> bytes:
    """A colleague forwards the whole message as an attachment (message/rfc822): the file is one level down."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ceremonie@gemeente.example"
    message["Subject"] = "FW: " + SUBJECT
    message["Message-ID"] = "<fw-1@gemeente.example>"
    message.set_content("Ter info.")
    message.add_attachment(email.message_from_bytes(original, policy=email.policy.default))  # 7bit, as mailers do
    return message.as_bytes(policy=email.policy.SMTP)


def clerk_forward(data: bytes) -> bytes:
    """The clerk forwards the file from Outlook (a new message, another Message-ID, the file under a new name)."""
    return make_message([("doorgestuurd.zip", data)], sender="ceremonie@gemeente.example",
                        subject="FW: " + SUBJECT, mid="<fw-2@gemeente.example>", body="Zie bijlage.")


def plant_copies(server: DovecotServer, data: bytes) -> tuple[bytes, dict[str, list[bytes]]]:
    """The original in INBOX, copies in four folders, and the messages that must stay (by Message-ID)."""
    original = make_message([("lijst.zip", data)], mid=ORIGINAL_ID)
    same_size = os.urandom(len(data))
    append(server, original)  # the message the watcher takes
    append(server, forward_as_attachment(original))  # INBOX: a colleague's forward
    append(server, make_message([("ander.zip", same_size)], sender="iemand@example.org", mid="<same-size@x>"))
    append(server, original, "Archief")  # filed
    append(server, make_message([("nep.zip", os.urandom(300))], sender="iemand@example.org", mid=ORIGINAL_ID),
           "Archief")  # forges the Message-ID, carries another file: not a copy
    append(server, clerk_forward(data), "Sent")  # forwarded from Sent Items
    append(server, make_message([("agenda.pdf", b"%PDF-1.4 agenda")], sender="ceremonie@gemeente.example",
                                mid="<agenda@x>"), "Sent")
    append(server, original, "Trash")  # a copy the clerk deleted
    stays = {"INBOX": [b"<same-size@x>"], "Archief": [ORIGINAL_ID.encode()], "Sent": [b"<agenda@x>"], "Trash": []}
    return original, stays


def by_folder(folders: tuple[FolderCopies, ...]) -> dict[str, tuple[int, int, int]]:
    return {f.folder: (f.found, f.removed, f.remaining) for f in folders}


def test_copies_in_inbox_archive_sent_and_trash_are_found_and_removed(mailbox: DovecotServer) -> None:
    data = aes_zip()
    _, stays = plant_copies(mailbox, data)
    ledger = MemoryLedger()
    w = watcher(mailbox, Recorder())
    w._sweeps.ledger = ledger
    report = w.poll_once()
    assert (report.error_id, report.delivered, report.expunged) == (None, 1, 1)
    assert (report.copies_found, report.copies_removed, report.copies_remaining) == (4, 4, 0)
    ((deliveries, result),) = ledger.finished.values()
    assert deliveries == (hashlib.sha256(data).hexdigest()[:12],)
    assert by_folder(result.folders) == {"INBOX": (1, 1, 0), "Archief": (1, 1, 0), "Sent": (1, 1, 0),
                                         "Trash": (1, 1, 0)}
    assert {f.folder: f.special_use for f in result.folders}["Sent"] == "\\Sent"
    assert result.complete and result.mode == "remove" and result.method == "imap-expunge"
    assert result.folders_searched == 4
    for folder, kept in stays.items():
        assert sorted(folder_state(mailbox, folder)) == sorted(kept), folder  # only the copies went
    assert not ledger.pending_checks
    assert w.poll_once().copies_found == 0  # nothing is searched twice


def test_report_mode_finds_the_copies_and_leaves_them(mailbox: DovecotServer) -> None:
    """Only the message itself goes (and, as ever, its copy in the trash); the other copies are reported."""
    _, _ = plant_copies(mailbox, aes_zip())
    before = {folder: folder_state(mailbox, folder) for folder in ("INBOX", "Archief", "Sent")}
    ledger = MemoryLedger()
    w = watcher(mailbox, Recorder(), copies=CopySettings(mode="report"))
    w._sweeps.ledger = ledger
    report = w.poll_once()
    assert (report.expunged, report.trash_expunged) == (1, 1)
    assert (report.copies_found, report.copies_removed, report.copies_remaining) == (3, 0, 3)
    ((_, result),) = ledger.finished.values()
    assert by_folder(result.folders) == {"INBOX": (1, 0, 1), "Archief": (1, 0, 1), "Sent": (1, 0, 1)}
    assert len(folder_state(mailbox)) == len(before["INBOX"]) - 1  # the taken message
    for folder in ("Archief", "Sent"):
        assert folder_state(mailbox, folder) == before[folder]


def test_excluded_folders_are_not_searched(mailbox: DovecotServer) -> None:
    plant_copies(mailbox, aes_zip())
    ledger = MemoryLedger()
    w = watcher(mailbox, Recorder(), copies=CopySettings(exclude=("Sent", "Trash")))
    w._sweeps.ledger = ledger
    w.poll_once()
    ((_, result),) = ledger.finished.values()
    assert set(by_folder(result.folders)) == {"INBOX", "Archief"} and result.folders_searched == 2
    assert len(folder_state(mailbox, "Sent")) == 2 and len(folder_state(mailbox, "Trash")) == 1


def test_a_folder_that_refuses_the_search_is_reported_as_not_searched_and_the_others_are_done(
        mailbox: DovecotServer) -> None:
    plant_copies(mailbox, aes_zip())
    archive = mailbox.maildir / ".Archief"
    archive.chmod(0)  # Dovecot may not read it: SELECT answers NO
    try:
        ledger = MemoryLedger()
        w = watcher(mailbox, Recorder())
        w._sweeps.ledger = ledger
        report = w.poll_once()
        assert report.error_id is None and report.expunged == 1
        ((_, result),) = ledger.finished.values()
        assert not result.complete
        folders = {f.folder: (f.found, f.removed, f.remaining, f.complete) for f in result.folders}
        assert folders["Archief"] == (0, 0, 0, False)
        assert folders["Sent"] == (1, 1, 0, True) and folders["Trash"] == (1, 1, 0, True)
    finally:
        archive.chmod(0o700)


def test_a_forged_message_never_makes_the_agent_delete_other_mail(mailbox: DovecotServer) -> None:
    """A message that only looks like AgII's (not authenticated) is quarantined, and nothing is searched for:
    its attachment could be a copy of any file the attacker knows is in the mailbox."""
    victim = aes_zip()
    append(mailbox, make_message([("begroting.zip", victim)], sender="schepen@gemeente.example", mid="<v@x>"),
           "Archief")
    append(mailbox, make_message([("lijst.zip", victim)], mid="<v@x>"))  # forged: no Authentication-Results
    ledger = MemoryLedger()
    w = watcher(mailbox, Recorder(), authserv_id="mx.gemeente.example")
    w._sweeps.ledger = ledger
    report = w.poll_once()
    assert (report.quarantined, report.expunged, report.copies_found) == (1, 1, 0)
    assert not ledger.finished and not ledger.pending_checks
    assert set(folder_state(mailbox, "Archief")) == {b"<v@x>"}


def test_a_search_a_dropped_connection_interrupted_is_finished_later(mailbox: DovecotServer) -> None:
    data = aes_zip()
    plant_copies(mailbox, data)
    ledger = MemoryLedger()
    w = watcher(mailbox, Recorder())
    w._sweeps.ledger = ledger
    real = w.driver.part_digests
    calls = {"n": 0}

    def drop_once(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            mailbox.restart()  # the server goes away in the middle of the search
        return real(*args, **kwargs)  # type: ignore[arg-type]

    w.driver.part_digests = drop_once  # type: ignore[method-assign]
    first = w.poll_once()
    assert first.error_id == "imap-connection-lost" and first.expunged == 1
    assert len(ledger.pending_checks) == 1  # recorded before the message was deleted: not forgotten
    second = w.poll_once()
    assert second.error_id is None and second.copies_found == 4 and not ledger.pending_checks


def test_copies_the_server_puts_in_the_trash_during_the_sweep_are_removed_too(mailbox_lazy: DovecotServer) -> None:
    plant_copies(mailbox_lazy, aes_zip())
    ledger = MemoryLedger()
    w = watcher(mailbox_lazy, Recorder())
    w._sweeps.ledger = ledger
    report = w.poll_once()
    assert (report.copies_found, report.copies_remaining) == (5, 0)
    ((_, result),) = ledger.finished.values()
    # in the trash: the clerk's copy and the taken message (lazy_expunge moved it there), then the copies the
    # sweep removed elsewhere, which lazy_expunge moved there too (removed in a second pass)
    assert by_folder(result.folders)["Trash"] == (2, 5, 0)
    assert folder_state(mailbox_lazy, "Trash") == {}


# ---- the real agent, its status and the proof --------------------------------------------------------------


def test_the_agent_removes_the_copies_and_the_proof_says_so(mailbox: DovecotServer, tmp_path: Path,
                                                            require_ssh_keygen: None) -> None:
    data = aes_zip()
    home = make_home(tmp_path / "home")
    home.config.write_text(home.config.read_text() + (
        f'\n[[mailbox]]\nname = "agii"\nhost = "{mailbox.host}"\nport = {mailbox.port}\n'
        f'username = "{mailbox.user}"\ntls = "none"\npoll_interval_seconds = 1.0\nsenders = ["*@agii.be"]\n'
        'subjects = ["*inburgeringsattest*"]\n'))
    agent = AgentProcess(home.root).start()
    try:
        roles = ("--role", "officer", "--role", "read", "--role", "destroy")
        assert agent.cli("staff", "add", ME, "--name", "O", *roles).returncode == 0
        assert agent.cli("secret", "set", "mailbox-agii", input=mailbox.password.encode() + b"\n").returncode == 0
        _, stays = plant_copies(mailbox, data)

        def copies_status() -> dict[str, object]:
            done = agent.cli("status", "--json")
            assert done.returncode == 0, done.stderr
            return dict(json.loads(done.stdout)["mailbox_copies"])

        wait_for(lambda: copies_status()["removed"] == 4, 60, "the copies removed")
        assert copies_status()["remaining"] == 0 and copies_status()["pending"] == 0
        for folder, kept in stays.items():
            assert sorted(folder_state(mailbox, folder)) == sorted(kept), folder
        rows = json.loads(agent.cli("deliveries", "--json").stdout)
        (delivery,) = [r["id"] for r in rows]
        purged = agent.cli("purge", delivery, "--reason", "test", "--yes")
        assert purged.returncode == 0, purged.stderr
        proof_json = home.root / "proofs" / f"{delivery}.json"
        doc = json.loads(proof_json.read_bytes())
        assert doc["version"] == 3
        copies = doc["mailbox_copies"]
        assert (copies["mailbox"], copies["state"], copies["mode"], copies["method"]) == (
            "agii", "done", "remove", "imap-expunge")
        assert (copies["found"], copies["removed"], copies["remaining"], copies["complete"]) == (4, 4, 0, True)
        assert {f["folder"]: (f["found"], f["removed"], f["remaining"]) for f in copies["folders"]} == {
            "INBOX": (1, 1, 0), "Archief": (1, 1, 0), "Sent": (1, 1, 0), "Trash": (1, 1, 0)}
        assert {f["folder"]: f["special_use"] for f in copies["folders"]}["Trash"] == "trash"
        assert "mail-recoverable-items" in doc["not_covered"]  # what Exchange keeps after an IMAP expunge
        assert "mailbox-copies-remaining" not in doc["not_covered"]
        assert "mailbox-copies-not-searched" not in doc["not_covered"]
        allowed = home.root / "allowed_signers"
        allowed.write_bytes(agent.cli("keys", "public").stdout)
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", doc["signer"], "-n",
                                   "deletion-proof", "-s", f"{proof_json}.sig"], input=proof_json.read_bytes(),
                                  capture_output=True, check=False)
        assert verified.returncode == 0, verified.stderr
        assert agent.cli("proof", "verify", str(proof_json), "--allowed-signers", str(allowed)).returncode == 0
        tampered = proof_json.read_bytes().replace(b'"remaining": 0', b'"remaining": 1', 1)
        refused = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", doc["signer"], "-n",
                                  "deletion-proof", "-s", f"{proof_json}.sig"], input=tampered, capture_output=True,
                                 check=False)
        assert refused.returncode != 0
    finally:
        agent.stop()



def test_the_proof_section_is_version_3_and_older_proofs_still_verify() -> None:
    from tests.test_proof import KEY, _facts, _signed

    section = {"mailbox": "agii", "state": "done", "mode": "report", "method": "imap-expunge",
               "searched_at": "2026-11-02T09:00:00Z", "complete": True, "found": 2, "removed": 0, "remaining": 2,
               "folders": [{"folder": "Archief", "special_use": None, "found": 1, "removed": 0, "remaining": 1},
                           {"folder": "Sent", "special_use": "sent", "found": 1, "removed": 0, "remaining": 1}]}
    doc = proof_build.build_proof(_facts(channel="email", mailbox_copies=section))
    assert doc["version"] == 3
    assert doc["not_covered"][-2:] == [proof.MAIL_RECOVERABLE_ITEMS, proof.MAILBOX_COPIES_REMAINING]
    data, signature = proof_build.sign_proof(doc, KEY)
    assert proof_verify.verify_proof(data, signature, KEY.public_bytes())["mailbox_copies"]["remaining"] == 2
    version_2 = {**{k: v for k, v in doc.items() if k != "mailbox_copies"}, "version": 2}
    assert proof_verify.verify_proof(*_signed(version_2), KEY.public_bytes())["version"] == 2
    with pytest.raises(DocumentInvalidError):  # a version 2 proof has no mailbox_copies
        proof_verify.verify_proof(*_signed({**version_2, "mailbox_copies": section}), KEY.public_bytes())
    for bad in ({**section, "folders": [{"folder": "x@y.be", "special_use": None, "found": 1, "removed": 0,
                                         "remaining": 1}]},  # a folder name that is an address
                {**section, "method": "delete"}, {**section, "extra": 1}):
        with pytest.raises(ValueError):
            proof_build.build_proof(_facts(channel="email", mailbox_copies=bad))
