"""``retention-agent app`` at start: what it is told about the sweep for copies.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_app_start.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.agent import ME, make_home


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
