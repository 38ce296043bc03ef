"""Every copy of a taken message in the mailbox: found by its files, removed (or reported), and in the proof.

Against a real Dovecot on loopback with the folders a clerk has: a copy filed in "Archief", a forward in Sent,
a copy in the trash, and a colleague's forward (as an attached message) in the inbox — and, beside them,
messages that must stay: one that forges the same Message-ID with another file, one with a file of the same
size but other bytes, and unrelated mail. Then the real agent: the copies leave the server and the proof of
deletion, checked with the real ``ssh-keygen``, says per folder how many were removed and how many remained.
"""

from __future__ import annotations

import os
from email.message import EmailMessage

import pytest

from retention_agent.errors import DocumentInvalidError
from retention_agent.evidence import proof, proof_build, proof_verify
from retention_agent.intake.copies import (
    CopySettings,
    could_hold,
    folder_label,
    search_order,
    selected,
)
from retention_agent.intake.mail_driver import FolderInfo
from tests.support.dovecot import run_dovecot

FOLDERS = ("Archief", "Sent")


@pytest.fixture(name="mailbox")
def mailbox_fixture() -> object:
    with run_dovecot(folders=FOLDERS) as server:
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



def test_the_proof_section_is_version_3_and_older_proofs_still_verify() -> None:
    from tests.unit.test_proof import KEY, _facts, _signed

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
