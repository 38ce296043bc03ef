"""The real agent process answers the real command line over the real socket."""

from __future__ import annotations

import json

from tests.support.agent import ME, AgentProcess


def test_officer_lists_staff_and_the_request_is_audited(agent: AgentProcess) -> None:
    listed = agent.cli("staff", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [{"account": ME, "name": "Officer", "roles": ["officer"]}]
    shown = json.loads(agent.cli("audit", "show", "--json").stdout)
    assert any(e["action"] == "staff.list" and e["outcome"] == "granted" and e["actor"] == ME
               for e in shown["entries"])
