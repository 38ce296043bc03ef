"""``audit show`` answers "who opened what, and why": newest first, the purpose and whether a note was given
(never the note), filters applied by the agent, and pages.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_audit_view.py.
"""

from __future__ import annotations

import json

from retention_agent.i18n import catalogue as i18n
from retention_agent.session.words import AUDIT_ACTIONS, word
from tests.support.agent import AgentProcess
from tests.support.retention import api, grant_me, ingest_bytes
from tests.unit.test_audit_view import NOTE


def test_the_officer_reads_newest_first_with_purpose_and_note_presence(agent: AgentProcess) -> None:
    grant_me(agent.home, "import", "read")
    delivery = ingest_bytes(agent.home, b"%PDF-1.7\n an AgII list")
    for purpose, note in (("invite", ""), ("phone", NOTE)):
        api(agent.home, "open", {"delivery": delivery, "purpose": purpose, "note": note, "mode": "to-dir"})

    ran = agent.cli("--lang", "nl", "audit", "show", "--delivery", delivery, "--purpose", "phone")
    assert ran.returncode == 0, ran.stderr.decode()
    lines = ran.stdout.decode().splitlines()
    assert lines[0].split()[-2:] == ["doel", "notitie"], lines
    [row] = [line for line in lines[2:] if word(AUDIT_ACTIONS, "delivery.opened", "nl") in line]
    assert row.endswith(f"{i18n.translate('phone', 'nl')}  ja"), row
    assert NOTE not in ran.stdout.decode()

    newest = agent.cli("audit", "show", "--limit", "2")
    text = newest.stdout.decode()
    seqs = [int(line.split()[0]) for line in text.splitlines()[2:4]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 2, text
    assert f"--cursor {seqs[-1]}" in text.splitlines()[-1], text
    older = agent.cli("audit", "show", "--limit", "2", "--cursor", str(seqs[-1]), "--json")
    assert [e["seq"] for e in json.loads(older.stdout)["entries"]] == [seqs[-1] - 1, seqs[-1] - 2]

    oldest = json.loads(agent.cli("audit", "show", "--oldest-first", "--json", "--limit", "1").stdout)
    assert oldest["entries"][0]["seq"] == 1

    bad = agent.cli("audit", "show", "--since", "gisteren")
    assert bad.returncode == 2 and b"--since" in bad.stderr
