"""The per-user notifier against the real agent: notifications made by real intake events (a quarantined
file for the officer, a received delivery for staff), fetched for the caller's audiences only, remembered
per user, and shown without a desktop session by falling back to printed lines instead of raising.

Run for real: the agent process, its drop folder, the API socket, the command line ``notifier --once``, a
second account (root only: created with useradd, acting from a forked child that setuid()s to it).
NOT run: a desktop toast (no desktop session here: plyer has no backend and says so; that fallback is the
thing tested), the systemd user unit and the Windows logon task that start the notifier at logon.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retention_agent.api.client import Client
from retention_agent.errors import AccessDeniedError, AgentUnreachableError
from retention_agent.session import notifier
from retention_agent.store import notifications as notify
from retention_agent.store.notifications import show_desktop
from retention_agent.system.home import Home
from tests.accounts import as_account, needs_root, temporary_account
from tests.conftest import AgentProcess, make_home
from tests.retention_support import wait_for

QUARANTINED = "A file that does not look like an AgII delivery was quarantined as {}."
RECEIVED = "Delivery {} arrived and is in the vault."


def call(home: Home, op: str, args: dict[str, Any] | None = None) -> Any:
    with Client(home.socket) as client:
        return client.call(op, args)


@pytest.fixture
def inbox_home() -> Iterator[Home]:
    """A home other accounts can reach (pytest's own temporary folders are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="ra-notifier-", dir="/var/tmp"))
    base.chmod(0o755)
    inbox = base / "inbox"
    inbox.mkdir()
    home = make_home(base / "home", inboxes=[str(inbox)])
    with open(home.config, "a", encoding="utf-8") as config:  # the [[inbox]] table is the last one
        config.write("settle_seconds = 0.2\nscan_interval_seconds = 1.0\n")
    yield home
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def running(inbox_home: Home) -> Iterator[AgentProcess]:
    agent = AgentProcess(inbox_home.root).start()
    yield agent
    agent.stop()


def drop(home: Home, name: str, data: bytes) -> None:
    inbox = home.root.parent / "inbox"
    (inbox / f".{name}.part").write_bytes(data)
    (inbox / f".{name}.part").rename(inbox / name)


def wait_for_notifications(home: Home, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found[:] = call(home, "notifications", {"after": 0})["notifications"]
        return len(found) >= count

    wait_for(enough, timeout, f"{count} notifications")
    return found


@pytest.fixture
def two_events(running: AgentProcess) -> dict[str, str]:
    """A quarantined file (for the officer) and a received delivery (for staff), through the drop folder."""
    home = Home(running.home)
    drop(home, "onbekend.xlsx", os.urandom(3000))
    wait_for_notifications(home, 1)
    drop(home, "inburgeraars.pdf", b"%PDF-1.4\n% synthetic delivery for a test\n")
    items = wait_for_notifications(home, 2)
    by_kind = {item["kind"]: item for item in items}
    assert set(by_kind) == {"delivery-quarantined", "delivery-received"}
    assert by_kind["delivery-quarantined"]["audience"] == "officer"
    assert by_kind["delivery-received"]["audience"] == "staff"
    return {kind: item["params"]["delivery"] for kind, item in by_kind.items()}


def test_notifier_once_prints_the_officers_notifications_without_a_desktop(
        running: AgentProcess, two_events: dict[str, str], tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "DISPLAY": "", "WAYLAND_DISPLAY": "",
           "DBUS_SESSION_BUS_ADDRESS": ""}
    first = running.cli("notifier", "--once", env=env)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.decode().splitlines()
    assert lines == [QUARANTINED.format(two_events["delivery-quarantined"]),
                     RECEIVED.format(two_events["delivery-received"])]
    assert b"Traceback" not in first.stderr
    state = list((tmp_path / "state" / "retention-agent").glob("notifier-*.json"))
    assert len(state) == 1 and json.loads(state[0].read_text())["last_id"] == 2
    again = running.cli("notifier", "--once", env=env)
    assert again.returncode == 0 and again.stdout.decode().strip() == "No new notifications."


@needs_root
@pytest.mark.root
def test_staff_get_the_staff_notifications_only_and_strangers_none(
        running: AgentProcess, two_events: dict[str, str], tmp_path: Path) -> None:
    home = Home(running.home)
    with temporary_account("ra-staff") as staff, temporary_account("ra-other") as stranger:
        state = home.root.parent / "staff-state"  # pytest's tmp_path is private to root
        state.mkdir()
        os.chown(state, *_ids(staff))

        def poll() -> list[str]:
            printed: list[str] = []
            notifier.poll_once(home.socket, state / "last.json", show=lambda title, text: False,
                               echo=printed.append, lang="en")
            return printed

        with pytest.raises(AccessDeniedError):
            as_account(staff, poll)
        call(home, "staff.add", {"account": staff, "name": "Medewerker", "roles": ["read"]})
        assert as_account(staff, poll) == [RECEIVED.format(two_events["delivery-received"])]
        assert as_account(staff, poll) == []  # remembered in the staff member's own state file
        with pytest.raises(AccessDeniedError):
            as_account(stranger, poll)
        denied = [e for e in call(home, "audit.show", {"after": 0, "limit": 1000})["entries"]
                  if e["action"] == "notifications" and e["outcome"] == "denied"]
        assert {e["actor"] for e in denied} == {staff, stranger}


def _ids(account: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(account)
    return entry.pw_uid, entry.pw_gid


def test_the_notifier_survives_an_agent_restart_and_backs_off_meanwhile(
        inbox_home: Home, tmp_path: Path) -> None:
    agent = AgentProcess(inbox_home.root).start()
    shown: list[str] = []
    waits: list[float] = []
    stop = threading.Event()

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return stop.wait(min(seconds, 0.5))

    thread = threading.Thread(target=notifier.run, args=(inbox_home.socket, tmp_path / "state.json"),
                              kwargs={"interval": 0.2, "show": lambda title, text: shown.append(text) or True,
                                      "wait": wait, "lang": "en"}, daemon=True)
    thread.start()
    try:
        drop(inbox_home, "eerste.pdf", b"%PDF-1.4\n% first\n")
        _until(lambda: len(shown) == 1)
        agent.stop()
        # the pauses may have grown further while the agent was still stopping: look at the first ones
        _until(lambda: len([w for w in waits if w >= 1.0]) >= 3)
        assert [w for w in waits if w >= 1.0][:3] == [1.0, 2.0, 4.0]  # a growing pause, not a crash
        agent = AgentProcess(inbox_home.root).start()
        drop(inbox_home, "tweede.pdf", b"%PDF-1.4\n% second\n")
        _until(lambda: len(shown) == 2)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=10)
        agent.stop()
    assert not thread.is_alive()
    assert all(text.startswith("Delivery ") and text.endswith("arrived and is in the vault.") for text in shown)


def _until(condition: Any, timeout: float = 30) -> None:
    wait_for(condition, timeout, "the notifier's progress")


def test_backoff_doubles_to_a_ceiling_and_nothing_is_raised(tmp_path: Path) -> None:
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) >= 12

    notifier.run(tmp_path / "no-agent.sock", tmp_path / "state.json", interval=60, wait=wait)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_many_new_notifications_become_four_toasts_and_a_summary(running: AgentProcess, tmp_path: Path) -> None:
    home = Home(running.home)
    for n in range(7):
        drop(home, f"lijst-{n}.pdf", b"%PDF-1.4\n% number " + str(n).encode())
    wait_for_notifications(home, 7)
    toasts: list[str] = []
    result = notifier.poll_once(home.socket, tmp_path / "state.json", show=lambda title, text: toasts.append(text)
                                or True, lang="en")
    assert len(result.texts) == 7 and result.shown == 5
    assert toasts[-1] == "And 3 more notifications from retention-agent."


def test_without_a_desktop_session_plyer_falls_back_without_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plyer warns that it has no backend: that is the situation tested
        assert show_desktop("retention-agent", "test") is False


def test_an_unreachable_agent_is_a_clear_error_for_once(tmp_path: Path) -> None:
    with pytest.raises(AgentUnreachableError):
        notifier.poll_once(tmp_path / "missing.sock", tmp_path / "state.json")
    assert not (tmp_path / "state.json").exists()


def test_the_users_language_comes_from_the_option_the_variable_or_the_session(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETENTION_AGENT_LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert notifier.user_language() == "en"
    assert notifier.user_language("nl") == "nl"
    monkeypatch.setenv("LANG", "fr_BE.UTF-8")
    assert notifier.user_language() == "nl"
    monkeypatch.setenv("RETENTION_AGENT_LANG", "en")
    assert notifier.user_language() == "en"


def test_the_notification_librarys_warnings_are_not_shown_to_the_person(
        running: AgentProcess, two_events: dict[str, str], tmp_path: Path) -> None:
    """A desktop session (DISPLAY) without a notification backend: plyer is tried, fails and warns — silenced."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "DISPLAY": ":99", "DBUS_SESSION_BUS_ADDRESS": ""}
    result = running.cli("notifier", "--once", env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.decode().splitlines()) == 2  # printed instead
    assert result.stderr == b""  # no "UserWarning: The Python dbus package is not installed", no traceback


@needs_root
@pytest.mark.root
def test_an_account_without_a_home_folder_gets_its_notifications_and_a_clear_line_not_a_traceback(
        running: AgentProcess, two_events: dict[str, str]) -> None:
    from click.testing import CliRunner

    from retention_agent.cli.main import main, register_commands
    from retention_agent.i18n import catalogue as i18n

    register_commands()  # the account's child process cannot read this Python's files under /root:
    i18n.catalogue("nl")  # everything it runs is loaded beforehand
    home = Home(running.home)
    with temporary_account("ra-nohome") as staff:
        call(home, "staff.add", {"account": staff, "name": "Medewerker", "roles": ["read"]})
        missing_home = f"/home/{staff}"  # what useradd recorded; the folder was never made

        def once() -> tuple[int, str, str]:
            environment = {"HOME": missing_home, "XDG_STATE_HOME": None, "DISPLAY": None, "WAYLAND_DISPLAY": None}
            result = CliRunner().invoke(main, ["--lang", "nl", "--home", str(home.root), "notifier", "--once"],
                                        env=environment)
            return result.exit_code, result.stdout, result.stderr + repr(result.exception or "")

        code, out, err = as_account(staff, once)
        assert code == 0, err
        assert out.splitlines() == [f"Levering {two_events['delivery-received']} is aangekomen en zit in de kluis."]
        assert "Traceback" not in err and "PermissionError" not in err
        assert f"Deze meldingen konden niet als getoond genoteerd worden in {missing_home}/.local/state/" in err
        assert f"Uw mappen werden niet doorzocht op kopieën van leveringen: {missing_home}" in err  # the sweep
        assert not Path(missing_home).exists()


def test_the_running_notifier_shows_each_notification_once_when_it_cannot_write_its_state(
        running: AgentProcess, two_events: dict[str, str], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    state = blocked / "retention-agent" / "notifier.json"  # cannot be created, whoever asks
    shown: list[str] = []
    polls: list[float] = []

    def wait(seconds: float) -> bool:
        polls.append(seconds)
        return len(polls) >= 4

    notifier.run(Home(running.home).socket, state, interval=60, show=lambda title, text: shown.append(text) or True,
                 wait=wait, lang="en")
    assert polls == [60, 60, 60, 60]  # every poll answered: the agent was reachable all along
    assert shown == [QUARANTINED.format(two_events["delivery-quarantined"]),
                     RECEIVED.format(two_events["delivery-received"])]  # once each, not at every poll
    assert [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()] == [
        f"cannot write {state}; notifications are remembered only while this process runs"]
@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("kind", sorted(notify.MESSAGES))
def test_notifications_are_worded_for_people_never_as_a_command(kind: str, lang: str) -> None:
    """A notification reaches a person at the desktop (the app's tray, the notifier): it says what happened and
    what to do, never a command to type."""
    text = notify.render(kind, {"delivery": "01JD5Z8K3Q4W7E2R9T6Y", "count": 2, "limit": 50, "deadline": "2026-12-12",
                                "days": 7, "channel": "email", "error": "timeout", "direction": "forward",
                                "hours": 2, "source": "agii"}, lang)
    assert "retention-agent" not in text and "--" not in text and not re.search(r"'[a-z]+ [a-z-]+'", text), text
