"""Zivver downloads: the agent takes AgII's files from a clerk's Downloads folder and leaves everything else.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_zivver_downloads.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from tests.support.agent import ME, AgentProcess, make_home
from tests.support.dovecot import run_dovecot
from tests.support.mail import encrypted_xlsx
from tests.support.retention import wait_for
from tests.unit.test_zivver_downloads import saved, snapshot

# ---- the real agent ---------------------------------------------------------------------------------------


def zivver_notification() -> bytes:
    message = EmailMessage()
    message["From"] = "Zivver <noreply@zivver.com>"
    message["To"] = "ceremonie@gemeente.example"
    message["Subject"] = "U hebt een beveiligd bericht ontvangen van AgII"
    message.set_content("Open het bericht in Zivver.")
    return message.as_bytes()


def test_the_agent_takes_a_zivver_download_after_the_notification_and_nothing_else(tmp_path: Path) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    with run_dovecot() as server:
        home = make_home(tmp_path / "home")
        home.config.write_text(home.config.read_text() + (
            f'\n[[mailbox]]\nname = "agii"\nhost = "{server.host}"\nport = {server.port}\n'
            f'username = "{server.user}"\ntls = "none"\npoll_interval_seconds = 1.0\n'
            f'\n[[downloads]]\npath = "{downloads}"\npatterns = ["Inburgeraars*.xlsx"]\n'
            'notification_mailbox = "agii"\nsettle_seconds = 0.3\nscan_interval_seconds = 1.0\n'))
        agent = AgentProcess(home.root).start()
        try:
            assert agent.cli("staff", "add", ME, "--name", "O", "--role", "officer", "--role", "read").returncode == 0
            assert agent.cli("secret", "set", "mailbox-agii", input=server.password.encode() + b"\n").returncode == 0
            other = saved(downloads, "Begroting 2027.xlsx", encrypted_xlsx("begroting"), datetime.now(UTC))
            early = saved(downloads, "Inburgeraars vorig jaar.xlsx", encrypted_xlsx("oud"),
                          datetime.now(UTC) - timedelta(days=30))
            before = {path: snapshot(path) for path in (other, early)}
            data = encrypted_xlsx()
            agii = saved(downloads, "Inburgeraars november.xlsx", data, datetime.now(UTC))

            def rows() -> list[dict[str, object]]:
                return list(json.loads(agent.cli("deliveries", "--json").stdout))

            with server.client() as imap:
                imap.append("INBOX", zivver_notification())
            wait_for(lambda: not agii.exists() and len(rows()) == 1, 30, "the Zivver download taken")
            row = rows()[0]
            assert (row["channel"], row["source"], row["state"]) == ("zivver", "zivver-downloads", "vaulted")
            opened = agent.cli("open", str(row["id"]), "--purpose", "invite", "--stdout")
            assert opened.stdout == data
            assert {path: snapshot(path) for path in (other, early)} == before
            with server.client() as imap:  # the notification stays: it holds no personal data of the list
                imap.select_folder("INBOX", readonly=True)
                assert len(imap.search("ALL")) == 1
            status = json.loads(agent.cli("status", "--json").stdout)
            watcher = next(w for w in status["health"]["intake"] if w["name"] == "downloads:zivver-downloads")
            assert watcher["state"] == "ok"
        finally:
            agent.stop()
