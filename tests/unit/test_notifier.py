"""The per-user notifier against the real agent: notifications made by real intake events (a quarantined
file for the officer, a received delivery for staff), fetched for the caller's audiences only, remembered
per user, and shown without a desktop session by falling back to printed lines instead of raising.

Run for real: the agent process, its drop folder, the API socket, the command line ``notifier --once``, a
second account (root only: created with useradd, acting from a forked child that setuid()s to it).
NOT run: a desktop toast (no desktop session here: plyer has no backend and says so; that fallback is the
thing tested), the systemd user unit and the Windows logon task that start the notifier at logon.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from retention_agent.errors import AgentUnreachableError
from retention_agent.session import notifier
from retention_agent.store import notifications as notify
from retention_agent.store.notifications import show_desktop


def test_backoff_doubles_to_a_ceiling_and_nothing_is_raised(tmp_path: Path) -> None:
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) >= 12

    notifier.run(tmp_path / "no-agent.sock", tmp_path / "state.json", interval=60, wait=wait)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


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
@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("kind", sorted(notify.MESSAGES))
def test_notifications_are_worded_for_people_never_as_a_command(kind: str, lang: str) -> None:
    """A notification reaches a person at the desktop (the app's tray, the notifier): it says what happened and
    what to do, never a command to type."""
    text = notify.render(kind, {"delivery": "01JD5Z8K3Q4W7E2R9T6Y", "count": 2, "limit": 50, "deadline": "2026-12-12",
                                "days": 7, "channel": "email", "error": "timeout", "direction": "forward",
                                "hours": 2, "source": "agii"}, lang)
    assert "retention-agent" not in text and "--" not in text and not re.search(r"'[a-z]+ [a-z-]+'", text), text
