"""Zivver downloads: the agent takes AgII's files from a clerk's Downloads folder and leaves everything else.

Real files in a real folder, the real folder watcher (pinned by handle, as every drop folder), and then the
real agent process with a real Dovecot that holds a Zivver notification mail: only a file that matches the
name pattern, has the right type and size and was saved in the window after that notification is taken, with
the channel ``zivver``. Every other file is left byte for byte, time for time, as it was.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from retention_agent.clock import ManualClock
from retention_agent.intake import pinned
from retention_agent.intake.downloads import DownloadRules, NoticeBoard, selects
from retention_agent.intake.folder import FolderWatcher
from retention_agent.intake.folder_rules import FolderConfig
from tests.conftest import ME, AgentProcess, make_home
from tests.dovecot import run_dovecot
from tests.retention_support import wait_for
from tests.test_intake_folder import RecordingDeliver
from tests.test_intake_mail import encrypted_xlsx, plain_xlsx

RULES = DownloadRules(patterns=("Inburgeraars*.xlsx", "Inburgeraars*.zip"), file_types=("xlsx-encrypted", "zip"),
                      min_bytes=1024, max_bytes=1 << 20, window=timedelta(minutes=120))
NOW = datetime.now(UTC)


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """What must not change about a file the agent leaves alone: its bytes, inode and modification time."""
    info = os.lstat(path)
    return (path.read_bytes() if path.is_file() and not path.is_symlink() else b"", info.st_ino, info.st_mtime_ns)


def saved(folder: Path, name: str, data: bytes, at: datetime) -> Path:
    path = folder / name
    path.write_bytes(data)
    os.utime(path, (at.timestamp(), at.timestamp()))
    return path


def downloads_watcher(folder: Path, board: NoticeBoard, rules: DownloadRules = RULES,
                      refusals: list[tuple[str, str]] | None = None) -> tuple[FolderWatcher, RecordingDeliver]:
    deliver = RecordingDeliver()

    def select(name: str, info: os.stat_result) -> bool:
        return selects(rules, name, info, board)

    config = FolderConfig(name="zivver-downloads", path=folder, patterns=rules.patterns, channel="zivver",
                          settle_seconds=0, select=select, file_types=rules.file_types)
    report = (lambda source, code, item: refusals.append((code, item))) if refusals is not None else None
    return FolderWatcher(config, deliver, ManualClock(), report=report), deliver


# ---- the rules (pure) ----------------------------------------------------------------------------------------


def test_the_window_opens_with_a_notification_and_closes_after_it() -> None:
    board = NoticeBoard()
    notice = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert not board.within(notice, timedelta(minutes=120))  # no notification yet
    board.notice(notice)
    assert board.within(notice + timedelta(minutes=119), timedelta(minutes=120))
    assert board.within(notice - timedelta(minutes=4), timedelta(minutes=120))  # the PC's clock a little ahead
    assert not board.within(notice - timedelta(minutes=6), timedelta(minutes=120))
    assert not board.within(notice + timedelta(minutes=121), timedelta(minutes=120))
    woken: list[int] = []
    board.subscribe(lambda: woken.append(1))
    board.notice(notice.replace(tzinfo=None) + timedelta(hours=3))  # a naive time counts as UTC
    assert woken == [1] and board.within(notice + timedelta(hours=3, minutes=5), timedelta(minutes=120))


def test_name_size_and_time_decide_before_the_file_is_opened(tmp_path: Path) -> None:
    board = NoticeBoard()
    board.notice(NOW)
    path = saved(tmp_path, "Inburgeraars november.XLSX", b"x" * 2000, NOW + timedelta(minutes=3))
    assert selects(RULES, path.name, os.lstat(path), board)
    assert not selects(RULES, "Rapport.xlsx", os.lstat(path), board)
    small = saved(tmp_path, "Inburgeraars-leeg.xlsx", b"x" * 10, NOW)
    assert not selects(RULES, small.name, os.lstat(small), board)
    old = saved(tmp_path, "Inburgeraars-oud.xlsx", b"x" * 2000, NOW - timedelta(days=3))
    assert not selects(RULES, old.name, os.lstat(old), board)
    assert not selects(RULES, path.name, os.lstat(path), NoticeBoard())  # no notification: no window
    no_window = DownloadRules(RULES.patterns, RULES.file_types, 1024, 1 << 20, window=None)
    assert selects(no_window, old.name, os.lstat(old), None)
    (tmp_path / "Inburgeraars-link.xlsx").symlink_to(path)
    assert not selects(RULES, "Inburgeraars-link.xlsx", os.lstat(tmp_path / "Inburgeraars-link.xlsx"), board)


# ---- the folder watcher on a real folder ------------------------------------------------------------------


def test_only_the_agii_file_is_taken_and_everything_else_is_left_untouched(tmp_path: Path) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    board = NoticeBoard()
    data = encrypted_xlsx()
    agii = saved(downloads, "Inburgeraars_2026-11.xlsx", data, NOW + timedelta(minutes=2))
    others = [
        saved(downloads, "vakantiefoto.jpg", b"\xff\xd8\xff\xe0" + os.urandom(5000), NOW),
        saved(downloads, "Inburgeraars_oud.xlsx", encrypted_xlsx("ander"), NOW - timedelta(days=2)),  # outside
        saved(downloads, "Inburgeraars_leeg.xlsx", b"PK\x03\x04", NOW),  # too small
        saved(downloads, "Inburgeraars_open.xlsx", plain_xlsx(), NOW),  # right name, another type
        saved(downloads, "Inburgeraars_tekst.zip", b"geen zip\n" * 300, NOW),  # not a zip at all
        saved(downloads, "Offerte.zip", b"PK\x03\x04" + os.urandom(3000), NOW),  # a zip with another name
        saved(downloads, "Inburgeraars_bezig.xlsx.crdownload", encrypted_xlsx("b"), NOW),  # still downloading
    ]
    (downloads / "Inburgeraars_link.xlsx").symlink_to(agii)
    others.append(downloads / "Inburgeraars_link.xlsx")
    (downloads / "Inburgeraars map.zip").mkdir()
    others.append(downloads / "Inburgeraars map.zip")
    before = {path: snapshot(path) for path in others}
    refusals: list[tuple[str, str]] = []
    w, deliver = downloads_watcher(downloads, board, refusals=refusals)
    try:
        first = w.scan_once()
        assert (first.taken, deliver.calls) == (0, [])  # no Zivver notification yet: nothing is taken
        assert agii.exists()
        board.notice(NOW)  # the notification mail arrives (the mailbox watcher tells the board)
        second = w.scan_once()
        assert second.taken == 1
        assert [(c.channel, c.source, c.quarantine) for c in deliver.calls] == [("zivver", "zivver-downloads", False)]
        assert deliver.blobs == {deliver.calls[0].sha256: data}
        assert not agii.exists()
        assert w.scan_once().taken == 0 and len(deliver.calls) == 1
    finally:
        w.stop()
    assert {path: snapshot(path) for path in others} == before  # bytes, inode and time: untouched
    assert refusals == [] and w.status.files_refused == 0  # the clerk's own files are not the officer's business
    assert sorted(p.name for p in downloads.iterdir()) == sorted(p.name for p in others)


def test_a_file_of_another_type_is_read_once_not_at_every_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    board = NoticeBoard()
    board.notice(NOW)
    saved(downloads, "Inburgeraars_open.xlsx", plain_xlsx(), NOW)
    w, deliver = downloads_watcher(downloads, board)
    opened: list[str] = []
    real_open = pinned.PosixPinnedFolder.open_read

    def counting(self: pinned.PosixPinnedFolder, name: str) -> int:
        opened.append(name)
        return real_open(self, name)

    monkeypatch.setattr(pinned.PosixPinnedFolder, "open_read", counting)
    try:
        for _ in range(3):
            w.scan_once()
        assert opened == ["Inburgeraars_open.xlsx"] and deliver.calls == []
        path = downloads / "Inburgeraars_open.xlsx"
        path.write_bytes(encrypted_xlsx())  # the clerk saves the real file under that name
        os.utime(path, (NOW.timestamp() + 60, NOW.timestamp() + 60))
        assert w.scan_once().taken == 1
    finally:
        w.stop()


def test_a_downloads_folder_reached_through_a_link_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "echte-downloads"
    real.mkdir()
    (tmp_path / "Downloads").symlink_to(real)
    board = NoticeBoard()
    board.notice(NOW)
    saved(real, "Inburgeraars.xlsx", encrypted_xlsx(), NOW)
    w, deliver = downloads_watcher(tmp_path / "Downloads", board)
    try:
        assert w.scan_once().taken == 0
        assert w.status.stopped_because == pinned.FOLDER_LINK and deliver.calls == []
    finally:
        w.stop()


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
