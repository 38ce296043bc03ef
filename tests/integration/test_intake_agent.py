"""Drop-folder intake through the real agent process: real files, real inotify, the real vault."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.agent import ME, AgentProcess, make_home
from tests.support.retention import wait_for


def _zip_bytes(tag: str) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("lijst.csv", date_time=(2026, 11, 1, 0, 0, 0)), f"synthetic;{tag}\n")
    return buffer.getvalue()


def _deliveries(agent: AgentProcess) -> list[dict[str, object]]:
    done = agent.cli("deliveries", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def intake_agent(tmp_path: Path, inbox: Path) -> Iterator[AgentProcess]:
    home = make_home(tmp_path / "home", inboxes=[str(inbox)])
    config = home.config.read_text().replace('path = "', 'settle_seconds = 0.3\nscan_interval_seconds = 1.0\npath = "')
    home.config.write_text(config)
    agent = AgentProcess(home.root).start()
    assert agent.cli("staff", "add", ME, "--name", "O", "--role", "officer", "--role", "read").returncode == 0
    yield agent
    agent.stop()


def test_a_dropped_delivery_is_vaulted_and_removed_from_the_folder(intake_agent: AgentProcess, inbox: Path) -> None:
    (inbox / "agii lijst ü.zip").write_bytes(_zip_bytes("one"))
    wait_for(lambda: len(_deliveries(intake_agent)) == 1 and not any(inbox.iterdir()), 20, "the intake")
    row = _deliveries(intake_agent)[0]
    assert (row["state"], row["channel"], row["source"]) == ("vaulted", "folder", "inbox-1")
    opened = intake_agent.cli("open", str(row["id"]), "--purpose", "invite", "--stdout")
    assert opened.stdout == _zip_bytes("one")


def test_an_unrecognised_file_is_quarantined_not_left_behind(intake_agent: AgentProcess, inbox: Path) -> None:
    (inbox / "notes.zip").write_bytes(b"plain text, not an AgII file")
    wait_for(lambda: len(_deliveries(intake_agent)) == 1 and not any(inbox.iterdir()), 20, "the intake")
    assert _deliveries(intake_agent)[0]["state"] == "quarantined"


def test_an_eml_file_gives_one_delivery_per_attachment(intake_agent: AgentProcess, inbox: Path) -> None:
    message = EmailMessage()
    message["From"] = "agii@integratie-inburgering.be"
    message["Subject"] = "Inburgeraars"
    message.set_content("Zie bijlagen.")
    for tag in ("a", "b"):
        message.add_attachment(_zip_bytes(tag), maintype="application", subtype="zip", filename=f"{tag}.zip")
    (inbox / "bericht.eml").write_bytes(message.as_bytes())
    wait_for(lambda: len(_deliveries(intake_agent)) == 2 and not any(inbox.iterdir()), 20, "the intake")
    assert {r["state"] for r in _deliveries(intake_agent)} == {"vaulted"}


def test_a_crash_between_commit_and_removal_finishes_without_duplicate(tmp_path: Path, inbox: Path) -> None:
    home = make_home(tmp_path / "home", inboxes=[str(inbox)])
    home.config.write_text(home.config.read_text().replace('path = "', 'settle_seconds = 0.3\npath = "'))
    crashing = AgentProcess(home.root, env={"RETENTION_AGENT_FAULTS": "intake.after-deliver"}).start()
    (inbox / "lijst.zip").write_bytes(_zip_bytes("crash"))
    assert crashing.wait_exit(timeout=30) != 0  # killed after the commit, before the removal
    assert (inbox / "lijst.zip").exists()  # never lost
    agent = AgentProcess(home.root).start()
    try:
        agent.cli("staff", "add", ME, "--name", "O", "--role", "officer", "--role", "read")
        wait_for(lambda: not (inbox / "lijst.zip").exists(), 20, "the intake")
        rows = _deliveries(agent)
        assert len(rows) == 1  # the retry was recognised as the same delivery
        assert not list((home.root / "vault" / "tmp").iterdir())
    finally:
        agent.stop()


def test_a_mailbox_message_becomes_deliveries_and_leaves_the_server(tmp_path: Path) -> None:
    """The real agent against a real Dovecot on loopback, through the real ingest path."""
    from tests.support.dovecot import run_dovecot

    with run_dovecot() as server:
        home = make_home(tmp_path / "home")
        home.config.write_text(home.config.read_text() + (
            f'\n[[mailbox]]\nname = "agii"\nhost = "{server.host}"\nport = {server.port}\n'
            f'username = "{server.user}"\ntls = "none"\npoll_interval_seconds = 1.0\n'
            'senders = ["*@integratie-inburgering.be"]\n'))
        agent = AgentProcess(home.root).start()
        try:
            assert agent.cli("staff", "add", ME, "--name", "O", "--role", "officer", "--role", "read").returncode == 0
            stored = agent.cli("secret", "set", "mailbox-agii", input=server.password.encode() + b"\n")
            assert stored.returncode == 0, stored.stderr
            assert server.password.encode() not in (home.root / "agent.db").read_bytes()
            message = EmailMessage()
            message["From"] = "AgII <agii@integratie-inburgering.be>"
            message["To"] = "gemeente@example.invalid"
            message["Subject"] = "Inburgeraars november"
            message.set_content("Zie bijlage.")
            message.add_attachment(_zip_bytes("mail"), maintype="application", subtype="zip", filename="lijst.zip")
            other = EmailMessage()
            other["From"] = "someone@example.invalid"
            other["Subject"] = "Niet voor de agent"
            other.set_content("Blijft staan.")
            with server.client() as imap:
                imap.append("INBOX", message.as_bytes())
                imap.append("INBOX", other.as_bytes())
            wait_for(lambda: len(_deliveries(agent)) == 1, 30, "the intake")
            row = _deliveries(agent)[0]
            assert (row["channel"], row["source"], row["state"]) == ("email", "agii", "vaulted")
            with server.client() as imap:
                imap.select_folder("INBOX")
                wait_for(lambda: len(imap.search("ALL")) == 1, 15, "the intake")
                left = imap.fetch(imap.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
                assert b"Niet voor de agent" in next(iter(left.values()))[b"BODY[HEADER.FIELDS (SUBJECT)]"]
        finally:
            agent.stop()
