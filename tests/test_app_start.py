"""``retention-agent app`` as its own process against a real agent: it starts, asks the agent who it is, fetches
its first view, its notifications and what to sweep for, and keeps running (Qt's offscreen platform, so no display
is needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ME, AgentProcess, make_home
from tests.retention_support import api, wait_for


def _requests(agent: AgentProcess, action: str) -> int:
    return sum(1 for e in api(agent.home, "audit.show", {"limit": 10000})["entries"]
               if e["action"] == action and e["actor"] == ME)


def test_the_app_starts_against_the_real_agent_and_stays_up(agent: AgentProcess) -> None:
    api(agent.home, "staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "read"]})
    actions = ("whoami", "deliveries", "notifications", "copies.targets")
    before = {action: _requests(agent, action) for action in actions}
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(agent.home.parent / "config"),
           "XDG_STATE_HOME": str(agent.home.parent / "state")}
    app = subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(agent.home), "app", "--minimized"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: all(_requests(agent, action) > before[action] for action in actions), 30,
                 "the app's first requests: who am I, the deliveries, the notifications, the sweep for copies")
        assert app.poll() is None, app.stdout.read().decode(errors="replace") if app.stdout else ""
    finally:
        app.terminate()
        app.wait(timeout=10)


def test_where_the_agent_sweeps_the_account_itself_the_app_is_told_not_to(tmp_path: Path) -> None:
    """Per-user mode: the agent runs as the staff member and sweeps that account's folders itself; the app of that
    same account (started at logon too) is told so by ``copies.targets``, and sweeps nothing a second time."""
    from retention_agent.clock import ManualClock
    from retention_agent.copies import records, wire
    from retention_agent.copies.session import Sweeper
    from retention_agent.runtime.agent import build_context

    ctx = build_context(make_home(tmp_path / "home", sweep_copies=True), ManualClock())
    try:
        assert not records.targets_for(ctx, ME).settings.agent_sweeps
        assert records.LocalLink(ctx, ME).targets()["settings"]["agent_sweeps"]  # the per-user agent's own sweeper
    finally:
        ctx.store.close()
    targets = wire.targets_to_wire(wire.Targets((wire.Exact("01JD5Z8K3Q4W7E2R9T6Y", 10, "0" * 64),),
                                                settings=wire.Settings(agent_sweeps=True)))
    link = _Link(targets)
    sweeper = Sweeper(link, tmp_path / "state" / "cache.json", locations=[])  # no folders: only the decision
    sweeper.run(scheduled=True)
    assert link.reports == [], "the tray's hourly sweep leaves the account to the agent"
    sweeper.run()
    assert len(link.reports) == 1, "an explicit 'copies sweep' still sweeps"


class _Link:
    """The agent's side of a sweep, as data: the targets it hands out, the reports it receives."""

    def __init__(self, targets: dict[str, Any]) -> None:
        self.answer = targets
        self.reports: list[dict[str, Any]] = []

    def targets(self) -> dict[str, Any]:
        return self.answer

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        self.reports.append(report)
        return {}
