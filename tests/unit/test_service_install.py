"""``retention-agent service``: the per-user installation and the checks made before any step.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_service_install.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from retention_agent.installer import default_params
from retention_agent.installer.params import USER_UNIT
from retention_agent.installer.runner import RecordingRunner

from retention_agent.clock import ManualClock
from retention_agent.errors import (
    HomeNotEmptyError,
    InboxMissingError,
    ServiceInitOptionsError,
)
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home
from retention_agent.system.service import (
    HomeSetup,
    install_service,
)
from tests.support.agent import ME

# ---- without root: user mode, the refusals, the command line ------------------------------------------------


def test_user_mode_creates_the_home_as_the_user_then_registers_and_starts_the_unit(tmp_path: Path) -> None:
    params = default_params("user", "linux", home=str(tmp_path / "home"), executable="/opt/ra/bin/retention-agent")
    recorder = RecordingRunner()
    assert install_service(params, recorder, setup=HomeSetup(municipality="De Panne", officer=ME))
    assert Home(tmp_path / "home").exists()
    assert recorder.calls[-2:] == ["$ systemctl --user daemon-reload",
                                   f"$ systemctl --user enable --now {USER_UNIT}"]
    # a second installation keeps the home as it is
    again = RecordingRunner()
    assert not install_service(params, again, setup=None)
    assert again.calls[-1] == f"$ systemctl --user enable --now {USER_UNIT}"


def test_a_new_home_needs_the_municipality_and_the_officer(tmp_path: Path) -> None:
    params = default_params("user", "linux", home=str(tmp_path / "home"), executable="/opt/ra/bin/retention-agent")
    recorder = RecordingRunner()
    with pytest.raises(ServiceInitOptionsError) as caught:
        install_service(params, recorder, setup=HomeSetup(municipality="", officer=ME))
    assert "--municipality" in caught.value.render("en")
    assert recorder.calls == []


def test_init_takes_an_empty_folder_but_never_a_non_empty_one(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o711)
    init_home(Home(empty), municipality="X", officer=ME, officer_name="O", key_store="file", inboxes=[],
              clock=ManualClock())
    assert Home(empty).exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("someone's file")
    with pytest.raises(HomeNotEmptyError):
        init_home(Home(busy), municipality="X", officer=ME, officer_name="O", key_store="file", inboxes=[],
                  clock=ManualClock())
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_a_missing_drop_folder_stops_the_installation_before_any_step(tmp_path: Path) -> None:
    params = default_params("user", "linux", home=str(tmp_path / "home"), executable="/opt/ra/bin/retention-agent",
                            drop_folders=(str(tmp_path / "not-there"),))
    recorder = RecordingRunner()
    with pytest.raises(InboxMissingError) as caught:
        install_service(params, recorder, setup=HomeSetup(municipality="De Panne", officer=ME,
                                                          inboxes=params.drop_folders))
    assert f"The drop folder {tmp_path / 'not-there'} does not exist" in caught.value.render("en")
    assert recorder.calls == [] and not (tmp_path / "home").exists()
