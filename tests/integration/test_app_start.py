"""``retention-agent app`` as its own process against a real agent: it starts, asks the agent who it is, fetches
its first view, its notifications and what to sweep for, and keeps running (Qt's offscreen platform, so no display
is needed)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.agent import ME, AgentProcess
from tests.support.retention import api, wait_for


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
