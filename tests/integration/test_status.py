"""``status``: the privacy officer's view, checked field by field on a home populated through the real parts,
through the real agent process and command line, and against the query plans that keep it fast.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_status.py.
"""

from __future__ import annotations

import json

from retention_agent.i18n.catalogue import translate
from tests.support.agent import ME, AgentProcess
from tests.support.reports import (
    CANARY,
)
from tests.support.retention import AGII_HEAD, api, grant_me, ingest_bytes


def test_status_through_the_agent_and_the_command_line(agent: AgentProcess) -> None:
    grant_me(agent.home, "import")
    delivery = ingest_bytes(agent.home, AGII_HEAD + PERSONAL.encode())
    denied = agent.cli("open", delivery, "--purpose", "invite", "--no-launch")  # the officer lacks 'read'
    assert denied.returncode == 3
    done = agent.cli("status", "--json")
    assert done.returncode == 0, done.stderr.decode()
    status = json.loads(done.stdout)
    assert status["deliveries"]["by_state"]["vaulted"] == 1
    assert status["refused_30d"]["by_account_action"] == [{"account": ME, "action": "open", "count": 1}]
    assert status["health"]["last_tick"] is not None
    assert status["health"]["test_hooks"]["active"] is False
    assert CANARY not in done.stdout.decode()
    table = agent.cli("--lang", "nl", "status")
    assert table.returncode == 0, table.stderr.decode()
    text = table.stdout.decode()
    assert translate("Compliant: {answer}", "nl").format(answer=translate("NO", "nl")) in text
    assert delivery in text
    outsider = agent.cli("checklist", "set", "nonsense", "--done", "2026-01-01")
    assert outsider.returncode == 2
    recorded = agent.cli("checklist", "set", "website", "--done", "2026-01-01", "--evidence", "www.de-panne.be")
    assert recorded.returncode == 0, recorded.stderr.decode()
    assert api(agent.home, "status")["checklist"]["items"][2]["done_on"] == "2026-01-01"


PERSONAL = f"{CANARY};85.07.30-033.28;Kerkstraat 1\n"
