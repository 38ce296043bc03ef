"""A file added by hand that does not look like an AgII delivery is quarantined, as one from a drop folder is
(the staff guide promises it): the real agent, the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.agent import AgentProcess
from tests.support.retention import api, grant_me


def test_a_file_added_by_hand_that_is_not_agii_is_quarantined_and_the_officer_is_told(
        agent: AgentProcess, tmp_path: Path) -> None:
    grant_me(agent.home, "import", "read")
    odd, agii = tmp_path / "vakantiefoto.jpg", tmp_path / "inburgeraars.pdf"
    odd.write_bytes(b"\xff\xd8\xff\xe0 not a list from AgII")
    agii.write_bytes(b"%PDF-1.7\n a list from AgII")

    ran = agent.cli("--lang", "nl", "ingest", str(odd), str(agii))

    assert ran.returncode == 0, ran.stderr.decode()
    said = ran.stdout.decode().splitlines()
    assert said[0].endswith("Het lijkt niet op een levering van AgII en staat daarom in quarantaine: de "
                            "privacyverantwoordelijke beslist wat ermee gebeurt."), said
    assert "quarantaine" not in said[1], said
    rows = json.loads(agent.cli("deliveries", "--json").stdout)
    assert {row["state"] for row in rows} == {"quarantined", "vaulted"}
    [quarantined] = [r["id"] for r in rows if r["state"] == "quarantined"]
    assert quarantined in said[0]
    told = [n for n in api(agent.home, "notifications")["notifications"] if n["kind"] == "delivery-quarantined"]
    assert [(n["audience"], n["params"]["delivery"]) for n in told] == [("officer", quarantined)]
    assert not odd.exists() and not agii.exists()  # both are safe in the vault: the sources are gone
