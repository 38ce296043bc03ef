"""``retention-agent app`` as its own process against a real agent: it starts, asks the agent who it is and
fetches its first view, and keeps running (Qt's offscreen platform, so no display is needed)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ME, AgentProcess
from tests.retention_support import api, wait_for


def _requests(agent: AgentProcess, action: str) -> int:
    return sum(1 for e in api(agent.home, "audit.show", {"limit": 10000})["entries"]
               if e["action"] == action and e["actor"] == ME)


def test_the_app_starts_against_the_real_agent_and_stays_up(agent: AgentProcess) -> None:
    api(agent.home, "staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "read"]})
    before = _requests(agent, "whoami"), _requests(agent, "deliveries")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(agent.home.parent / "config"),
           "XDG_STATE_HOME": str(agent.home.parent / "state")}
    app = subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(agent.home), "app", "--minimized"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _requests(agent, "whoami") > before[0] and _requests(agent, "deliveries") > before[1], 30,
                 "the app's first requests")
        assert app.poll() is None, app.stdout.read().decode(errors="replace") if app.stdout else ""
    finally:
        app.terminate()
        app.wait(timeout=10)
